package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers"
	"github.com/catalog-org/catalog/projections/identifiers/identifierspg"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// The identifiers projection's wiring: its store, its consumers (one
// group per generation), its rebuilds. It shares the projector process,
// the topic and the machinery with track-details and nothing else.

// identifiersGroup is the consumer group of one generation of the
// identifiers read model. Group names are a stable API.
func identifiersGroup(cfg config, gen int) string {
	return fmt.Sprintf("%sprojector.%s.g%d", cfg.GroupPrefix, identifiers.Name, gen)
}

// identifiersLog is the Kafka side of the identifiers projection's rebuilds.
type identifiersLog struct{ cfg config }

func (k identifiersLog) EndOffsets(ctx context.Context) (projections.Target, error) {
	return kafkaLog(k).EndOffsets(ctx)
}

func (k identifiersLog) Members(_ context.Context, gen int) (int, error) {
	return events.GroupMembers(k.cfg.kafka("catalog-projector"), identifiersGroup(k.cfg, gen))
}

func (k identifiersLog) DeleteGroup(_ context.Context, gen int) error {
	return events.DeleteGroup(k.cfg.kafka("catalog-projector"), identifiersGroup(k.cfg, gen))
}

// openIdentifiers returns the identifiers store, its live generation (and
// so the views the API reads) created if need be.
func openIdentifiers(ctx context.Context, pool *pgxpool.Pool) (*identifierspg.Store, projections.Generation, error) {
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return nil, projections.Generation{}, err
	}
	store, err := identifierspg.New(pool)
	if err != nil {
		return nil, projections.Generation{}, err
	}
	live, err := store.EnsureLive(ctx)
	return store, live, err
}

// identifiersMetered counts a generation's batches in the projector's
// metrics under projection="identifiers".
type identifiersMetered struct {
	inner projections.TrackDetailsStore
	m     *projectorMetrics
	gen   string
}

func (s identifiersMetered) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (projections.ApplyResult, error) {
	start := time.Now()
	res, err := s.inner.Apply(ctx, cp, items)
	if err != nil {
		return res, err
	}
	l := prometheus.Labels{"projection": identifiers.Name, "generation": s.gen}
	s.m.batchTime.With(l).Observe(time.Since(start).Seconds())
	s.m.batchSize.With(l).Observe(float64(len(items)))
	s.m.applied.With(l).Add(float64(res.Applied))
	s.m.stale.With(l).Add(float64(res.Stale))
	s.m.parked.With(l).Add(float64(res.Parked))
	return res, nil
}

// runIdentifiersProjector feeds the identifiers read model: a consumer per
// active generation (the live one and a rebuild), a rebuilding generation
// throttled like track-details', its batches counted in metrics. It has
// no cache to invalidate.
func runIdentifiersProjector(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, metrics *projectorMetrics) error {
	log = log.With("projection", identifiers.Name)
	store, live, err := openIdentifiers(ctx, pool)
	if err != nil {
		return err
	}
	var liveGen atomic.Int64
	liveGen.Store(int64(live.Number))
	run := func(ctx context.Context, gen int) error {
		w := store.Writer(gen)
		var applier projections.TrackDetailsStore = identifiersMetered{inner: w, m: metrics, gen: strconv.Itoa(gen)}
		if cfg.RebuildDuty < 1 {
			applier = throttledStore{inner: applier, duty: cfg.RebuildDuty, throttle: func() bool { return liveGen.Load() != int64(gen) }}
		}
		glog := log.With("generation", gen)
		// projections.TrackDetails is the shared batch handler (decode
		// through the registry, split and park repeating apply errors).
		proj, err := projections.NewTrackDetails(applier, nil, glog)
		if err != nil {
			return err
		}
		consumer, err := events.NewConsumer(events.ConsumerConfig{
			Kafka: cfg.kafka("catalog-projector"), Group: identifiersGroup(cfg, gen), Topics: []string{cfg.releasesTopic()},
			MaxBatch: cfg.ProjectorBatch,
		}, proj, w, glog)
		if err != nil {
			return err
		}
		return consumer.Run(ctx)
	}
	active := func(ctx context.Context) ([]int, error) {
		gens, err := store.Active(ctx)
		var out []int
		for _, g := range gens {
			out = append(out, g.Number)
			if g.State == "live" {
				liveGen.Store(int64(g.Number))
			}
		}
		return out, err
	}
	return projections.Supervise(ctx, active, run, time.Second, log)
}

// rebuildIdentifiers is `catalog projections rebuild identifiers`: start
// (or attach to), pause or resume a rebuild of the identifiers read model
// and watch it to the swap, as for track-details.
func rebuildIdentifiers(cmd *cobra.Command, cfg config, log *slog.Logger, inPlace, noWait, pause, resume bool) error {
	return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
		ctx := cmd.Context()
		store, _, err := openIdentifiers(ctx, pool)
		if err != nil {
			return err
		}
		rb, err := projections.NewRebuilder(store, identifiersLog{cfg}, nil, log)
		if err != nil {
			return err
		}
		switch {
		case pause:
			g, err := rb.Pause(ctx)
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "rebuild of generation %d paused; --resume carries it on\n", g.Number)
			}
			return err
		case resume:
			if _, err := rb.Resume(ctx); err != nil {
				return err
			}
		default:
			g, err := rb.Start(ctx, inPlace)
			switch {
			case errors.Is(err, projections.ErrRebuildRunning):
				fmt.Fprintln(cmd.ErrOrStderr(), "a rebuild is under way; attaching to it")
			case err != nil:
				return err
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "rebuilding %s into generation %d (%s)\n", identifiers.Name, g.Number, g.Mode)
			}
		}
		if noWait {
			return nil
		}
		return watchRebuild(ctx, rb, cmd.ErrOrStderr(), cmd.OutOrStdout())
	})
}

// identifiersHash is `catalog projections hash identifiers`: the content
// hash of a generation (the live one by default).
func identifiersHash(ctx context.Context, cfg config, gen int) (string, error) {
	var out string
	err := withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error {
		store, live, err := openIdentifiers(ctx, pool)
		if err != nil {
			return err
		}
		if gen == 0 {
			gen = live.Number
		}
		out, err = store.Hash(ctx, gen)
		return err
	})
	return out, err
}
