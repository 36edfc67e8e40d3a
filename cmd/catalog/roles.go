package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/alexliesenfeld/health"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/gateway/gatewayredis"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/ingestpg"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/trackdetails"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

func (c config) kafka(clientID string) events.KafkaConfig {
	return events.KafkaConfig{Brokers: c.KafkaBrokers, ClientID: clientID, TLS: c.KafkaTLS, SASL: c.KafkaSASL}
}

func (c config) topics() []events.TopicSpec {
	return []events.TopicSpec{
		{Name: c.releasesTopic(), Partitions: c.TopicPartitions, ReplicationFactor: c.TopicReplication},
		c.cdnPoisonSpec(),
	}
}

// cdnPoisonSpec is the CDN purger's parking topic: one per cluster, never
// mirrored (the purges it holds failed against that cluster's CDN).
func (c config) cdnPoisonSpec() events.TopicSpec {
	return events.TopicSpec{Name: c.cdnPoisonTopic(), Partitions: 1, ReplicationFactor: c.TopicReplication}
}

// ensureTopics creates catalog's topics (events.Admin.EnsureTopics; specs,
// or every catalog topic when none) and names the setting to change when the
// cluster has too few brokers for CATALOG_TOPIC_REPLICATION.
// With CATALOG_TOPICS=verify an operator owns the topics: it checks them
// instead (events.Admin.VerifyTopics) and stops on one that would lose or
// refuse events.
func ensureTopics(ctx context.Context, admin *events.Admin, cfg config, log *slog.Logger, specs ...events.TopicSpec) error {
	if len(specs) == 0 {
		specs = cfg.topics()
	}
	if cfg.TopicsVerify {
		if err := admin.VerifyTopics(ctx, specs, log); err != nil {
			return fmt.Errorf("CATALOG_TOPICS=verify: %w; fix the topics where they are declared (a Strimzi KafkaTopic: deployments/kubernetes), catalog changes none", err)
		}
		return nil
	}
	err := admin.EnsureTopics(ctx, specs, log)
	if re := (*events.ReplicationError)(nil); errors.As(err, &re) {
		return fmt.Errorf("CATALOG_TOPIC_REPLICATION=%d: %w; set it to at most %d, or to auto (one replica per broker, up to %d)",
			cfg.TopicReplication, err, re.Brokers, events.MaxAutoReplication)
	}
	return err
}

func connectPostgres(ctx context.Context, cfg config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(cfg.PostgresURL, "pool_max_conns") {
		// Projector partitions, API requests and ingest work concurrently;
		// pgxpool's default (max(4, cores)) would queue them on small machines.
		pcfg.MaxConns = 24
	}
	if cfg.tracing != nil {
		pcfg.ConnConfig.Tracer = cfg.pgTracer()
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}

// withPostgres runs fn with a pool that is closed when fn returns.
func withPostgres(ctx context.Context, cfg config, fn func(*pgxpool.Pool) error) error {
	pool, err := connectPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(pool)
}

// serve listens on addr (failing at once if it cannot) and serves h until
// ctx ends, then shuts down gracefully.
func serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", "http://"+ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ingestParts are ingest's running pieces: the service and the outbox relay
// that must run beside it.
type ingestParts struct {
	svc   *ingest.Service
	store *ingestpg.Store
	relay *eventpg.Relay
	prod  *events.Producer
	admin *events.Admin
	// stages is how long accepted deliveries spent storing and waiting
	// for Kafka (ingest.Config.Observe).
	stages *prometheus.HistogramVec
}

// close stops the store's writers and closes the producer and the Kafka
// admin, once the service and the relay have stopped.
func (p ingestParts) close() {
	if p.store != nil {
		p.store.Close()
	}
	_ = p.prod.Close()
	_ = p.admin.Close()
}

// newIngest migrates the write-side tables and the outbox, makes sure the
// topics exist, and connects the producer and the Kafka admin. The caller
// runs the relay and closes the parts.
func newIngest(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, batch int) (ingestParts, error) {
	if err := cfg.requireCentral("ingest"); err != nil {
		return ingestParts{}, err
	}
	if err := ingestpg.Migrate(ctx, pool); err != nil {
		return ingestParts{}, err
	}
	kc := cfg.kafka("catalog-ingest")
	admin, err := events.NewAdmin(ctx, kc)
	if err != nil {
		return ingestParts{}, err
	}
	if err := ensureTopics(ctx, admin, cfg, log); err != nil {
		_ = admin.Close()
		return ingestParts{}, err
	}
	// batch > 1: deliveries are written in group commits; under load
	// several share a transaction (and its WAL flush) instead of each
	// paying for its own.
	store, err := ingestpg.New(pool)
	if batch > 1 {
		store, err = ingestpg.NewGroupCommit(pool, ingestpg.GroupCommit{MaxBatch: batch, Writers: cfg.IngestWriters})
	}
	if err != nil {
		_ = admin.Close()
		return ingestParts{}, err
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		store.Close()
		_ = admin.Close()
		return ingestParts{}, err
	}
	parts := ingestParts{store: store, prod: prod, admin: admin}
	parts.relay, err = eventpg.NewRelay(eventpg.RelayConfig{Kafka: kc, Hook: cfg.testHook(), Tracing: cfg.tracer()}, pool, prod, admin, log.With("component", "outbox-relay"))
	if err != nil {
		parts.close()
		return ingestParts{}, err
	}
	parts.stages = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_ingest_stage_seconds",
		Help:    "Time an accepted or unchanged delivery spent in each stage after it was read: store (lock, decide, write, commit), confirm (commit until Kafka had its events).",
		Buckets: []float64{.002, .005, .01, .025, .05, .075, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2.5, 5, 10}}, []string{"stage"})
	observe := func(stage string, d time.Duration) { parts.stages.WithLabelValues(stage).Observe(d.Seconds()) }
	parts.svc, err = ingest.NewService(ingest.Config{Topic: cfg.releasesTopic(), Recipients: cfg.DPIDs, RequireParties: cfg.RequireParties,
		Tracing: cfg.tracer(), Observe: observe}, store, parts.relay, log)
	if err != nil {
		parts.close()
		return ingestParts{}, err
	}
	return parts, nil
}

// testHook returns the crash hook CATALOG_TEST_HOOK asks for: kill this
// process with SIGKILL just before or just after the relay produces to
// Kafka. Only crash tests set it.
func (c config) testHook() func(string) {
	stage := strings.TrimPrefix(c.TestHook, "kill-")
	if stage == "" || stage == c.TestHook {
		return nil
	}
	return func(s string) {
		if s == stage {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// ingestGCPercent is the ingest role's garbage-collector target (GOGC)
// when the environment sets none. Its heap is mostly each delivery's
// short-lived parsing and deciding garbage: over 500 deliveries/s of a
// 100k-track catalogue's freshness run its CPU profile fell from 11.7 s to
// 10.5 s (the collector's mark workers from 12% of it to 6%) at 300
// against Go's default of 100. GOMEMLIMIT (the chart sets it) still
// bounds the heap.
const ingestGCPercent = 300

func runIngestRole(ctx context.Context, cfg config, log *slog.Logger) error {
	defaultGCPercent(ingestGCPercent)
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return ingestRole(ctx, cfg, log, pool, nil) })
}

// ingestRole serves the ingest API and runs the outbox relay. When ready is
// not nil it receives the service once it is built.
func ingestRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, ready chan<- *ingest.Service) error {
	// The API takes deliveries as they come, many in flight under load:
	// they are written in group commits (CATALOG_INGEST_BATCH).
	parts, err := newIngest(ctx, cfg, log, pool, cfg.IngestBatch)
	if err != nil {
		return err
	}
	defer parts.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return parts.relay.Run(gctx) })
	if ready != nil {
		ready <- parts.svc
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		&outboxCollector{relay: parts.relay, log: log}, parts.stages,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catalog_outbox_relayed_events_total",
			Help: "Events the outbox relay had Kafka acknowledge (its rate is the relay's)."}, func() float64 { return float64(parts.relay.Relayed()) }))
	for _, outcome := range []string{ingest.OutcomeAccepted, ingest.OutcomeUnchanged, ingest.OutcomeStale, ingest.OutcomeRejected, ingest.OutcomeUnavailable} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catalog_ingest_deliveries_total",
			Help:        "Deliveries answered, by outcome: accepted, unchanged, stale, rejected (bad input, not the sender's release), unavailable (a dependency failed).",
			ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 { return float64(parts.svc.DeliveryCounts()[outcome]) }))
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", traceHTTP(ingest.NewHTTPHandler(parts.svc, log), cfg, false))
	g.Go(func() error {
		return serve(gctx, cfg.IngestAddr, withHealth(mux, postgresCheck(pool), kafkaCheck(parts.admin)), log)
	})
	return g.Wait()
}

// outboxCollector reports the outbox's state at each scrape; an alert on
// catalog_outbox_blocked_rows > 0 catches a row Kafka can never accept.
type outboxCollector struct {
	relay *eventpg.Relay
	log   *slog.Logger
}

var (
	outboxPending = prometheus.NewDesc("catalog_outbox_pending_rows", "Outbox rows not yet in Kafka, blocked ones included.", nil, nil)
	outboxBlocked = prometheus.NewDesc("catalog_outbox_blocked_rows",
		"Outbox rows Kafka can never accept; each holds back its release until an operator clears it (docs/operations.md).", nil, nil)
	outboxHeld   = prometheus.NewDesc("catalog_outbox_held_rows", "Outbox rows waiting behind a blocked row of their release.", nil, nil)
	outboxOldest = prometheus.NewDesc("catalog_outbox_oldest_pending_seconds", "Age of the oldest outbox row not yet in Kafka.", nil, nil)
)

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxPending, outboxBlocked, outboxHeld, outboxOldest} {
		ch <- d
	}
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.relay.Stats(ctx)
	if err != nil {
		c.log.Warn("outbox metrics unavailable", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(outboxPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(outboxBlocked, prometheus.GaugeValue, float64(st.Blocked))
	ch <- prometheus.MustNewConstMetric(outboxHeld, prometheus.GaugeValue, float64(st.Held))
	ch <- prometheus.MustNewConstMetric(outboxOldest, prometheus.GaugeValue, st.Oldest.Seconds())
}

func runAPIRole(ctx context.Context, cfg config, log *slog.Logger) error {
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return apiRole(ctx, cfg, log, pool) })
}

func apiRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool) error {
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return err
	}
	store, err := trackdetailspg.New(pool)
	if err != nil {
		return err
	}
	// The views the API reads exist from here on, even before a projector
	// has started.
	if _, err := store.EnsureLive(ctx); err != nil {
		return err
	}
	local := cfg.APILocal
	if local != nil && cfg.Redis != nil {
		if err := projectionredis.LocalUnsupported(*cfg.Redis); err != nil {
			log.Info("no in-process cache of hot entries", "why", err)
			local = nil
		}
	}
	cache, err := newCache(cfg, local, 0)
	if err != nil {
		return err
	}
	var hot trackdetails.HotCache
	if cache != nil {
		defer cache.Close()
		hot = cache
	}
	reader, err := trackdetails.NewCachedReader(store, hot, log)
	if err != nil {
		return err
	}
	ids, _, err := openIdentifiers(ctx, pool)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	for result, n := range map[string]func(trackdetails.CacheStats) uint64{
		"hit": func(s trackdetails.CacheStats) uint64 { return s.Hits }, "miss": func(s trackdetails.CacheStats) uint64 { return s.Misses },
		"failure": func(s trackdetails.CacheStats) uint64 { return s.Failures },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "catalog_api_cache_reads_total",
			Help:        "Track look-ups by how the Redis cache answered: hit, miss (read from PostgreSQL and filled), failure (Redis down or slow; read from PostgreSQL).",
			ConstLabels: prometheus.Labels{"result": result}}, func() float64 { return float64(n(reader.CacheStats())) }))
	}
	h, err := api.NewHandler(api.Config{DefaultCountry: cfg.DefaultCountry}, reader, log, api.WithIdentifiers(ids), api.WithMetrics(reg))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", traceHTTP(h, cfg, false))
	// Redis is not a readiness condition: without it the API answers from
	// PostgreSQL.
	return serve(ctx, cfg.APIAddr, withHealth(mux, postgresCheck(pool)), log)
}

func runGatewayRole(ctx context.Context, cfg config, log *slog.Logger) error {
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return gatewayRole(ctx, cfg, log, pool) })
}

func gatewayRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool) error {
	if err := gatewaypg.Migrate(ctx, pool); err != nil {
		return err
	}
	clients, err := gatewaypg.New(pool, log)
	if err != nil {
		return err
	}
	if err := clients.Reload(ctx); err != nil {
		return err
	}
	go clients.Watch(ctx, cfg.ClientsReload)
	quota, err := gatewayredis.NewWithOptions(cfg.RedisAddr, cfg.QuotaPrefix, cfg.QuotaTimeout,
		gatewayredis.Options{MaxLease: cfg.QuotaLeaseMax, IdleReturn: cfg.QuotaLeaseIdle, Conn: cfg.Redis, Instrument: cfg.redisInstrument()})
	if err != nil {
		return err
	}
	defer quota.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	// The access log is JSON lines on stdout, whatever the format of the
	// application log (stderr), written in batches (at least every 100 ms).
	access := gateway.NewBufferedLog(os.Stdout, 64<<10, 100*time.Millisecond)
	defer access.Close()
	ingestURL, _ := url.Parse("http://" + cfg.IngestAddr)
	adminURL, _ := url.Parse("http://" + cfg.ProjectorAddr)
	h, err := gateway.NewHandler(gateway.Config{
		Upstreams:       gateway.Upstreams{API: cfg.APIURL, Ingest: ingestURL, Admin: adminURL},
		OverLimitStatus: cfg.OverLimitStatus,
		QuotaTimeout:    cfg.QuotaTimeout,
		QuotaFailClosed: cfg.QuotaFailClosed,
		TrustedProxies:  cfg.TrustedProxies,
		Regions:         gateway.Regions{Self: cfg.Region, URLs: cfg.RegionURLs},
		OpenAPI:         api.OpenAPI(),
		Registerer:      reg,
		AccessLog:       slog.New(slog.NewJSONHandler(access, nil)).With("log", "access"),
		Tracing:         cfg.tracer(),
	}, clients, quota, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/pprof/", debugHandler())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(gctx, cfg.GatewayAddr, traceHTTP(h, cfg, true), log) })
	if cfg.GatewayMetricsAddr != "" {
		// The gateway keeps its clients in memory (reloaded from PostgreSQL
		// when it can) and counts quotas fail-open unless told otherwise, so
		// only a fail-closed gateway depends on Redis to be ready.
		var checks []health.Check
		if cfg.QuotaFailClosed {
			checks = append(checks, redisCheck(quota.Ping))
		}
		g.Go(func() error { return serve(gctx, cfg.GatewayMetricsAddr, withHealth(mux, checks...), log) })
	}
	return g.Wait()
}
