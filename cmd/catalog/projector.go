package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/projector"
)

// projectorGCPercent is the projector role's garbage-collector target
// (GOGC) when the environment sets none. Its heap is mostly a batch's
// short-lived decoding and folding garbage: at 300 a 300k-track rebuild
// took 4.34 s (median of 3) against 4.63 s at Go's default of 100, for a
// peak RSS of 364 MiB against 202 MiB. GOMEMLIMIT (the chart sets it)
// still bounds the heap.
const projectorGCPercent = 300

// defaultGCPercent sets the garbage collector's target to percent unless
// the environment sets GOGC.
func defaultGCPercent(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}

func runProjectorRole(ctx context.Context, cfg config, log *slog.Logger) error {
	defaultGCPercent(projectorGCPercent)
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return projectorRole(ctx, cfg, log, pool) })
}

// writerCacheTimeout is the deadline of each Redis operation of the
// projector and the projections command, which write the cache
// (invalidations, dropped generations) and never read it for a client.
// The API's reads keep projectionredis.DefaultTimeout (50 ms), past which
// they answer from PostgreSQL; a write that times out is retried instead,
// and on a machine busy to its last core a 50 ms deadline failed
// invalidations Redis would have confirmed (about a dozen in 10 s at
// 500 deliveries/s), each leaving its tracks' old entries readable until the
// retry. A Redis that does not answer still holds a batch up at most this
// long before its invalidation goes to the retry loop.
const writerCacheTimeout = 250 * time.Millisecond

// newCache connects the hot-entry cache with local, when set, as its
// in-process cache, each operation bounded by timeout (0: the package's
// default); nil when no Redis is configured.
func newCache(cfg config, local *projectionredis.LocalConfig, timeout time.Duration) (*projectionredis.Cache, error) {
	if cfg.Redis == nil {
		return nil, nil
	}
	return projectionredis.New(projectionredis.Config{Conn: cfg.Redis, Prefix: cfg.RedisPrefix, Instrument: cfg.redisInstrument(), Local: local, Timeout: timeout})
}

// newProjectors builds the machinery of the projections named in names
// (all registered ones when empty) on pool, sharing admin.
func newProjectors(cfg config, log *slog.Logger, pool *pgxpool.Pool, admin *events.Admin, hot *projectionredis.Cache, names []string) ([]*projector.Projector, error) {
	defs, err := projector.Select(registered(hot), names)
	if err != nil {
		return nil, err
	}
	pc := cfg.projector()
	pc.Admin = admin
	pc.Tracing = cfg.tracer()
	switch {
	case cfg.RebuildProbeURL != "":
		pc.RebuildProbe = httpProbe(cfg.RebuildProbeURL)
	case hot != nil:
		pc.RebuildProbe = hot.Ping
	}
	out := make([]*projector.Projector, 0, len(defs))
	for _, d := range defs {
		p, err := projector.New(pc, pool, d, log)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// httpProbe is a rebuild's latency probe that reads url (a hot read of
// the API) over a kept-alive connection; a 5xx answer counts as slow.
func httpProbe(url string) projector.Probe {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("rebuild probe: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("rebuild probe: %w", err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return fmt.Errorf("rebuild probe: %w", err)
		}
		if resp.StatusCode >= 500 {
			return fmt.Errorf("rebuild probe: %s answered %s", url, resp.Status)
		}
		return nil
	}
}

func projectorRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool) error {
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return err
	}
	admin, err := events.NewAdmin(ctx, cfg.kafka("catalog-projector"))
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := prepareTopics(ctx, cfg, admin, log); err != nil {
		return err
	}
	cache, err := newCache(cfg, nil, writerCacheTimeout)
	if err != nil {
		return err
	}
	if cache != nil {
		defer cache.Close()
	}
	ps, err := newProjectors(cfg, log, pool, admin, cache, cfg.Projections)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	metrics := projector.NewMetrics(reg, ps)
	ops := projector.NewAdminHandler(projector.AdminConfig{Token: cfg.AdminToken, Gatherer: reg}, ps, log)
	ops.Any("/debug/pprof/*", echo.WrapHandler(debugHandler()))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return projector.RunAll(gctx, ps, metrics) })
	ready := withHealth(ops, postgresCheck(pool), kafkaCheck(admin), lagCheck(ps, cfg.ReadyMaxLag))
	g.Go(func() error { return serve(gctx, cfg.ProjectorAddr, ready, log) })
	return g.Wait()
}
