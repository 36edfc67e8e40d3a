package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projectionredis"
)

func runProjectorRole(ctx context.Context, cfg config, log *slog.Logger) error {
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return projectorRole(ctx, cfg, log, pool) })
}

// newCache connects the hot-entry cache; nil when no Redis is configured.
func newCache(cfg config) (*projectionredis.Cache, error) {
	if cfg.RedisAddr == "" || cfg.RedisAddr == "none" {
		return nil, nil
	}
	return projectionredis.New(projectionredis.Config{Addr: cfg.RedisAddr, Prefix: cfg.RedisPrefix})
}

// kafkaLog is the Kafka side of rebuilds.
type kafkaLog struct{ cfg config }

func (k kafkaLog) EndOffsets(context.Context) (projections.Target, error) {
	hw, err := events.HighWatermarks(k.cfg.kafka("catalog-projector"), k.cfg.releasesTopic())
	if err != nil {
		return nil, err
	}
	return projections.Target{k.cfg.releasesTopic(): hw}, nil
}

func (k kafkaLog) Members(_ context.Context, gen int) (int, error) {
	return events.GroupMembers(k.cfg.kafka("catalog-projector"), k.cfg.projectorGroup(gen))
}

func (k kafkaLog) DeleteGroup(_ context.Context, gen int) error {
	return events.DeleteGroup(k.cfg.kafka("catalog-projector"), k.cfg.projectorGroup(gen))
}

func newRebuilder(cfg config, log *slog.Logger, store *projectionpg.TrackDetails, cache *projectionredis.Cache) (*projections.Rebuilder, error) {
	var gc projections.GenerationCache
	if cache != nil {
		gc = cache
	}
	return projections.NewRebuilder(store, kafkaLog{cfg}, gc, log)
}

// projectorMetrics are the projector's Prometheus metrics.
type projectorMetrics struct {
	applied, stale, parked *prometheus.CounterVec
	batchSize, batchTime   *prometheus.HistogramVec
}

func newProjectorMetrics(reg prometheus.Registerer) *projectorMetrics {
	m := &projectorMetrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_applied_total",
			Help: "Events applied to the read model."}, []string{"projection", "generation"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_stale_total",
			Help: "Events that arrived again and changed nothing."}, []string{"projection", "generation"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_parked_total",
			Help: "Events parked (poison, or behind a parked event of their release)."}, []string{"projection", "generation"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_projection_batch_records",
			Help: "Records per applied batch.", Buckets: []float64{1, 5, 10, 50, 100, 250, 500}}, []string{"projection", "generation"}),
		batchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_projection_batch_seconds",
			Help: "Time to apply a batch (one transaction).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"projection", "generation"}),
	}
	reg.MustRegister(m.applied, m.stale, m.parked, m.batchSize, m.batchTime)
	return m
}

// meteredStore measures a generation's store.
type meteredStore struct {
	inner projections.TrackDetailsStore
	m     *projectorMetrics
	gen   string
}

func (s meteredStore) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (projections.ApplyResult, error) {
	start := time.Now()
	res, err := s.inner.Apply(ctx, cp, items)
	if err != nil {
		return res, err
	}
	l := prometheus.Labels{"projection": projections.TrackDetailsName, "generation": s.gen}
	s.m.batchTime.With(l).Observe(time.Since(start).Seconds())
	s.m.batchSize.With(l).Observe(float64(len(items)))
	s.m.applied.With(l).Add(float64(res.Applied))
	s.m.stale.With(l).Add(float64(res.Stale))
	s.m.parked.With(l).Add(float64(res.Parked))
	return res, nil
}

// throttledStore applies a rebuilding generation's batches at a duty
// cycle: after a batch that took d it pauses d*(1-duty)/duty, so a rebuild
// uses at most that share of the time the projector spends applying, and
// the live generation and the API keep the rest of the machine.
type throttledStore struct {
	inner    projections.TrackDetailsStore
	duty     float64
	throttle func() bool
}

func (s throttledStore) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (projections.ApplyResult, error) {
	if !s.throttle() {
		return s.inner.Apply(ctx, cp, items)
	}
	start := time.Now()
	res, err := s.inner.Apply(ctx, cp, items)
	pause := time.Duration(float64(time.Since(start)) * (1 - s.duty) / s.duty)
	select {
	case <-ctx.Done():
	case <-time.After(pause):
	}
	return res, err
}

// stateCollector reports, on each scrape, lag per partition (stored
// offsets against the end of the log), parked events and rebuild progress.
type stateCollector struct {
	status  func(ctx context.Context) (status, error)
	lag     *prometheus.Desc
	parked  *prometheus.Desc
	rebuild *prometheus.Desc
}

func newStateCollector(status func(context.Context) (status, error)) *stateCollector {
	return &stateCollector{
		status: status,
		lag: prometheus.NewDesc("catalog_projection_lag_events", "Events in the log not yet applied, per partition (end offset minus stored offset).",
			[]string{"projection", "generation", "state", "topic", "partition"}, nil),
		parked: prometheus.NewDesc("catalog_projection_parked_events", "Events parked now.", []string{"projection", "generation"}, nil),
		rebuild: prometheus.NewDesc("catalog_projection_rebuild_progress_ratio", "Share of the log a rebuild has consumed (0 to 1).",
			[]string{"projection", "generation", "mode"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.parked
	ch <- c.rebuild
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.status(ctx)
	if err != nil {
		return
	}
	for _, g := range st.Generations {
		gen := strconv.Itoa(g.Number)
		for _, p := range g.Partitions {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(p.End-p.Next), projections.TrackDetailsName, gen, g.State, p.Topic, strconv.Itoa(int(p.Partition)))
		}
		ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(g.Parked), projections.TrackDetailsName, gen)
	}
	if r := st.Rebuild; r != nil && r.Total > 0 {
		ch <- prometheus.MustNewConstMetric(c.rebuild, prometheus.GaugeValue, float64(r.Done)/float64(r.Total), projections.TrackDetailsName,
			strconv.Itoa(r.Generation.Number), r.Generation.Mode)
	}
}

// invalidationCollector reports, on each scrape, the cache invalidations
// stored and not yet confirmed by Redis, and this process's sends.
type invalidationCollector struct {
	store                   *projectionpg.TrackDetails
	inv                     *projections.Invalidations
	batches, tracks, oldest *prometheus.Desc
	sent, failed            *prometheus.Desc
}

func newInvalidationCollector(store *projectionpg.TrackDetails, inv *projections.Invalidations) *invalidationCollector {
	l := []string{"projection"}
	return &invalidationCollector{store: store, inv: inv,
		batches: prometheus.NewDesc("catalog_cache_invalidations_pending_batches", "Committed batches whose cache invalidation Redis has not confirmed yet.", l, nil),
		tracks:  prometheus.NewDesc("catalog_cache_invalidations_pending_tracks", "Track entries those pending invalidations name.", l, nil),
		oldest: prometheus.NewDesc("catalog_cache_invalidations_oldest_seconds",
			"Age of the oldest pending cache invalidation (0 when none): how long a reader may still get an entry older than Postgres.", l, nil),
		sent:   prometheus.NewDesc("catalog_cache_invalidations_sent_total", "Cache invalidations this process sent and Redis confirmed.", l, nil),
		failed: prometheus.NewDesc("catalog_cache_invalidations_failed_total", "Cache invalidation sends that failed (each is retried).", l, nil),
	}
}

func (c *invalidationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.tracks, c.oldest, c.sent, c.failed} {
		ch <- d
	}
}

func (c *invalidationCollector) Collect(ch chan<- prometheus.Metric) {
	name := projections.TrackDetailsName
	if c.inv != nil {
		sent, failed := c.inv.Stats()
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(sent), name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(failed), name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batches, tracks, oldest, err := c.store.InvalidationBacklog(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.GaugeValue, float64(batches), name)
	ch <- prometheus.MustNewConstMetric(c.tracks, prometheus.GaugeValue, float64(tracks), name)
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, name)
}

// status is the projector's state for a person or a scrape.
type status struct {
	Generations []generationStatus    `json:"generations"`
	Rebuild     *projections.Progress `json:"rebuild,omitempty"`
}

type generationStatus struct {
	projections.Generation
	Parked     int                             `json:"parked"`
	Lag        int64                           `json:"lag"`
	Partitions []projections.PartitionProgress `json:"partitions"`
}

func readStatus(ctx context.Context, cfg config, store *projectionpg.TrackDetails, rb *projections.Rebuilder) (status, error) {
	gens, err := store.Generations(ctx)
	if err != nil {
		return status{}, err
	}
	parked, err := store.CountParked(ctx)
	if err != nil {
		return status{}, err
	}
	hw, err := events.HighWatermarks(cfg.kafka("catalog-projector"), cfg.releasesTopic())
	if err != nil {
		return status{}, err
	}
	var st status
	for _, g := range gens {
		if g.State != "live" && g.State != "building" && g.State != "paused" {
			continue
		}
		cps, err := store.Checkpoints(ctx, g.Number)
		if err != nil {
			return status{}, err
		}
		at := map[int32]projections.PartitionProgress{}
		for _, c := range cps {
			at[c.Partition] = c
		}
		gs := generationStatus{Generation: g, Parked: parked[g.Number]}
		for p, end := range hw {
			c := at[p]
			c.Topic, c.Partition, c.End = cfg.releasesTopic(), p, end
			gs.Partitions = append(gs.Partitions, c)
			gs.Lag += end - c.Next
		}
		st.Generations = append(st.Generations, gs)
	}
	if p, err := rb.Progress(ctx); err == nil {
		st.Rebuild = &p
	} else if !errors.Is(err, projections.ErrNoRebuild) {
		return status{}, err
	}
	return st, nil
}

func projectorRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool) error {
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := events.EnsureTopics(ctx, cfg.kafka("catalog-projector"), cfg.topics(), log); err != nil {
		return err
	}
	store, err := projectionpg.NewTrackDetails(pool)
	if err != nil {
		return err
	}
	live, err := store.EnsureLive(ctx)
	if err != nil {
		return err
	}
	if live.Layout != projectionpg.Layout {
		log.Warn("the live read model has an older table layout; run `catalog projections rebuild track-details`",
			"generation", live.Number, "layout", live.Layout, "current_layout", projectionpg.Layout)
	}
	cache, err := newCache(cfg)
	if err != nil {
		return err
	}
	if cache != nil {
		defer cache.Close()
	}
	rb, err := newRebuilder(cfg, log, store, cache)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	metrics := newProjectorMetrics(reg)
	reg.MustRegister(newStateCollector(func(ctx context.Context) (status, error) { return readStatus(ctx, cfg, store, rb) }))

	// The cache invalidations batches owe are stored with their rows; this
	// sends them after each commit and retries what is left (also what a
	// killed projector left) until Redis confirms it.
	var inv *projections.Invalidations
	if cache != nil {
		if inv, err = projections.NewInvalidations(store, cache, log.With("component", "cache-invalidations")); err != nil {
			return err
		}
	}
	reg.MustRegister(newInvalidationCollector(store, inv))

	var liveGen atomic.Int64
	liveGen.Store(int64(live.Number))
	run := func(ctx context.Context, gen int) error {
		w := store.Writer(gen)
		var applier projections.TrackDetailsStore = meteredStore{inner: w, m: metrics, gen: strconv.Itoa(gen)}
		if cfg.RebuildDuty < 1 {
			// A generation being rebuilt yields the machine to the live one
			// (checked per batch: it stops yielding once swapped in).
			applier = throttledStore{inner: applier, duty: cfg.RebuildDuty, throttle: func() bool { return liveGen.Load() != int64(gen) }}
		}
		var invalidator projections.Invalidator
		if inv != nil {
			invalidator = inv
		}
		glog := log.With("generation", gen)
		proj, err := projections.NewTrackDetails(applier, invalidator, glog)
		if err != nil {
			return err
		}
		consumer, err := events.NewConsumer(events.ConsumerConfig{
			Kafka: cfg.kafka("catalog-projector"), Group: cfg.projectorGroup(gen), Topics: []string{cfg.releasesTopic()},
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
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return projections.Supervise(gctx, active, run, time.Second, log) })
	g.Go(func() error { return runIdentifiersProjector(gctx, cfg, log, pool, metrics) })
	if inv != nil {
		g.Go(func() error { return inv.Run(gctx) })
	}
	g.Go(func() error { return serve(gctx, cfg.ProjectorAddr, opsHandler(cfg, log, reg, rb), log) })
	return g.Wait()
}

// opsHandler serves the projector's operations endpoints on its own
// (loopback) address: Prometheus metrics, health, and the admin API for
// rebuilds, which needs the admin token.
func opsHandler(cfg config, log *slog.Logger, reg *prometheus.Registry, rb *projections.Rebuilder) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	e.Any("/debug/pprof/*", echo.WrapHandler(debugHandler()))
	admin := e.Group("/admin", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.AdminToken == "" {
				return c.JSON(http.StatusForbidden, map[string]string{"error": "admin endpoints are disabled: set CATALOG_ADMIN_TOKEN"})
			}
			if c.Request().Header.Get("Authorization") != "Bearer "+cfg.AdminToken {
				return c.JSON(http.StatusForbidden, map[string]string{"error": "admin rights required"})
			}
			return next(c)
		}
	})
	var mu sync.Mutex
	watching := false
	watch := func() {
		mu.Lock()
		defer mu.Unlock()
		if watching {
			return
		}
		watching = true
		go func() {
			defer func() { mu.Lock(); watching = false; mu.Unlock() }()
			if _, err := rb.Run(context.Background(), time.Second, func(projections.Progress) {}); err != nil {
				log.Error("rebuild failed", "err", err)
			}
		}()
	}
	progress := func(c echo.Context, code int) error {
		p, err := rb.Progress(c.Request().Context())
		if errors.Is(err, projections.ErrNoRebuild) {
			return c.JSON(http.StatusNotFound, map[string]string{"error": err.Error()})
		}
		if err != nil {
			return err
		}
		return c.JSON(code, p)
	}
	admin.GET("/rebuilds/track-details", func(c echo.Context) error { return progress(c, http.StatusOK) })
	admin.POST("/rebuilds/track-details", func(c echo.Context) error {
		var req struct {
			InPlace bool `json:"inPlace"`
		}
		if c.Request().ContentLength > 0 {
			if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
				return c.JSON(http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
			}
		}
		_, err := rb.Start(c.Request().Context(), req.InPlace)
		if errors.Is(err, projections.ErrRebuildRunning) {
			return c.JSON(http.StatusConflict, map[string]string{"error": err.Error()})
		}
		if err != nil {
			return err
		}
		watch()
		return progress(c, http.StatusAccepted)
	})
	admin.POST("/rebuilds/track-details/:action", func(c echo.Context) error {
		var err error
		switch strings.ToLower(c.Param("action")) {
		case "cancel", "pause":
			_, err = rb.Pause(c.Request().Context())
		case "resume":
			if _, err = rb.Resume(c.Request().Context()); err == nil {
				watch()
			}
		default:
			return c.JSON(http.StatusNotFound, map[string]string{"error": fmt.Sprintf("unknown action %q (cancel, resume)", c.Param("action"))})
		}
		if errors.Is(err, projections.ErrNoRebuild) {
			return c.JSON(http.StatusConflict, map[string]string{"error": err.Error()})
		}
		if err != nil {
			return err
		}
		return progress(c, http.StatusOK)
	})
	return e
}
