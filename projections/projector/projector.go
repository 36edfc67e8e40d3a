// Package projector runs registered projections: for each, a consumer per
// active generation (the live one and one being rebuilt) under
// projections.Supervise, its cache invalidations, its rebuilds, its
// Prometheus metrics and its admin HTTP API, all keyed by the projection's
// name. A projection is a Projection descriptor (a name, a
// projectionpg.Model over its pure fold, optionally a content hash and a
// hot cache); the composition root lists the descriptors and this package
// does the rest, the same way for every one of them.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// Projection describes one projection: what the machinery needs to run,
// rebuild, hash and operate it. Register it once, in the composition root.
type Projection struct {
	// Name names the projection: its consumer groups
	// (<prefix>projector.<name>.g<N>), its generation, checkpoint, parked
	// and invalidation rows, its metrics' projection label, its admin
	// routes and CLI argument. It is a stable API: renaming it rebuilds
	// the read model from offset zero under new groups. Lower-case
	// letters, digits and dashes (NamePattern).
	Name string
	// Model is the projection's tables and writes (its pure fold inside).
	// A Model that is also a projectionpg.Preparer has every change
	// prepared as its handler decodes it.
	Model projectionpg.Model
	// Hash returns a content hash of generation gen, equal for equal
	// content: the determinism checks compare a rebuild's with the live
	// one's. Nil: projectionpg.Store.ContentHash (every table's rows).
	Hash func(ctx context.Context, pool *pgxpool.Pool, gen int) (string, error)
	// Cache is the projection's hot cache: it gets the invalidations the
	// live generation's batches store, and drops a generation's entries
	// when a rebuild retires it. Nil when the projection has none.
	Cache Cache
}

// Cache is a projection's hot cache (e.g. projectionredis.Cache).
type Cache interface {
	projections.GenerationCache
	projections.EntryInvalidator
}

// NamePattern is what a projection's name must match: it is part of
// consumer group names, URLs and metric labels.
var NamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Validate reports what is wrong with the descriptor.
func (p Projection) Validate() error {
	var errs []error
	if !NamePattern.MatchString(p.Name) {
		errs = append(errs, fmt.Errorf("projection name %q: must match %s", p.Name, NamePattern))
	}
	if p.Model == nil {
		errs = append(errs, fmt.Errorf("projection %q: a Model is required", p.Name))
	}
	return errors.Join(errs...)
}

// Config is what the projectors of every projection share.
type Config struct {
	// Kafka is the connection to the log.
	Kafka events.KafkaConfig
	// Admin is the Kafka admin connection the projectors share for end
	// offsets and consumer groups; its owner closes it.
	Admin *events.Admin
	// Topic is the topic the projections consume (the releases topic).
	Topic string
	// GroupPrefix precedes every consumer group name.
	GroupPrefix string
	// Batch is the most records a batch applies in one transaction
	// (default 500).
	Batch int
	// RebuildDuty is the most share of the wall clock a generation being
	// rebuilt may spend decoding and applying its batches, one batch at a
	// time across its partitions (0 < duty <= 1; default 1: no throttle).
	RebuildDuty float64
	// RebuildDutyFloor is the least share the latency probe may lower the
	// duty to, so that a rebuild always finishes (0 < floor <= duty;
	// default: RebuildDuty, a fixed duty).
	RebuildDutyFloor float64
	// RebuildProbe times the live readers' round trip while a rebuild is
	// under way (nil: the duty stays at RebuildDuty).
	RebuildProbe Probe
	// RebuildSlowdown is how many times slower the probe's round trips
	// may be while a rebuild batch is in flight than while none is before
	// the duty halves (default 1.5).
	RebuildSlowdown float64
	// RebuildProbeEvery is how often the probe runs during a rebuild
	// (default 50 ms).
	RebuildProbeEvery time.Duration
	// Every is how often the supervisor looks for generations to start or
	// stop (default 1 s).
	Every time.Duration
	// Tracing, when set, traces the live generation's batches of traced
	// deliveries (projections.WithTracing). Nil: nothing is traced.
	Tracing trace.TracerProvider
}

func (c *Config) setDefaults() {
	if c.Batch == 0 {
		c.Batch = 500
	}
	if c.RebuildDuty == 0 {
		c.RebuildDuty = 1
	}
	if c.RebuildDutyFloor == 0 {
		c.RebuildDutyFloor = c.RebuildDuty
	}
	if c.RebuildSlowdown == 0 {
		c.RebuildSlowdown = 1.5
	}
	if c.RebuildProbeEvery == 0 {
		c.RebuildProbeEvery = 50 * time.Millisecond
	}
	if c.Every == 0 {
		c.Every = time.Second
	}
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("projector: Kafka brokers are required"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("projector: the topic is required"))
	}
	if c.Admin == nil {
		errs = append(errs, errors.New("projector: a Kafka admin connection is required"))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("projector: batch %d: must be at least 1", c.Batch))
	}
	if c.RebuildDuty <= 0 || c.RebuildDuty > 1 {
		errs = append(errs, fmt.Errorf("projector: rebuild duty %v: must be in (0, 1]", c.RebuildDuty))
	}
	if c.RebuildDutyFloor <= 0 || c.RebuildDutyFloor > c.RebuildDuty {
		errs = append(errs, fmt.Errorf("projector: rebuild duty floor %v: must be above 0 and at most the duty %v", c.RebuildDutyFloor, c.RebuildDuty))
	}
	if c.RebuildSlowdown < 1 {
		errs = append(errs, fmt.Errorf("projector: rebuild slowdown %v: must be at least 1", c.RebuildSlowdown))
	}
	if c.RebuildProbeEvery <= 0 {
		errs = append(errs, fmt.Errorf("projector: rebuild probe interval %v: must be positive", c.RebuildProbeEvery))
	}
	return errors.Join(errs...)
}

// Group returns the consumer group of generation gen of projection name.
// Group names are a stable API: renaming them replays the log.
func (c Config) Group(name string, gen int) string {
	return fmt.Sprintf("%sprojector.%s.g%d", c.GroupPrefix, name, gen)
}

// Projector is one projection's machinery on one database: its store
// (generations, checkpoints, parking, invalidations), its rebuilder and
// its invalidation sender. Safe for concurrent use.
type Projector struct {
	def   Projection
	cfg   Config
	pool  *pgxpool.Pool
	store *projectionpg.Store
	rb    *projections.Rebuilder
	inv   *projections.Invalidations
	pacer *rebuildPacer
	log   *slog.Logger
}

// New builds the machinery of projection p on pool. Run projectionpg.Migrate
// first.
func New(cfg Config, pool *pgxpool.Pool, p Projection, log *slog.Logger) (*Projector, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), p.Validate()); err != nil {
		return nil, err
	}
	if pool == nil || log == nil {
		return nil, errors.New("projector: pool and logger are required")
	}
	log = log.With("projection", p.Name)
	store, err := projectionpg.NewStore(pool, p.Name, p.Model)
	if err != nil {
		return nil, err
	}
	var gc projections.GenerationCache
	if p.Cache != nil {
		gc = p.Cache
	}
	rb, err := projections.NewRebuilder(store, kafkaLog{cfg: cfg, name: p.Name}, gc, log)
	if err != nil {
		return nil, err
	}
	pr := &Projector{def: p, cfg: cfg, pool: pool, store: store, rb: rb, pacer: newRebuildPacer(cfg), log: log}
	if p.Cache != nil {
		// The cache invalidations batches owe are stored with their rows;
		// this sends them after each commit and retries what is left (also
		// what a killed projector left) until the cache confirms it.
		if pr.inv, err = projections.NewInvalidations(store, p.Cache, log.With("component", "cache-invalidations")); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

// Name returns the projection's name.
func (p *Projector) Name() string { return p.def.Name }

// Store returns the projection's generation machinery.
func (p *Projector) Store() *projectionpg.Store { return p.store }

// Rebuilder returns the projection's rebuilder.
func (p *Projector) Rebuilder() *projections.Rebuilder { return p.rb }

// Hash returns the content hash of generation gen; 0 means the live one.
func (p *Projector) Hash(ctx context.Context, gen int) (string, error) {
	if gen == 0 {
		g, err := p.store.EnsureLive(ctx)
		if err != nil {
			return "", err
		}
		gen = g.Number
	}
	if p.def.Hash != nil {
		return p.def.Hash(ctx, p.pool, gen)
	}
	return p.store.ContentHash(ctx, gen)
}

// Run feeds every active generation of the projection until ctx ends: a
// consumer per generation under projections.Supervise, each in its own
// consumer group, and the invalidation sender when the projection has a
// cache. m may be nil (no metrics).
func (p *Projector) Run(ctx context.Context, m *Metrics) error {
	live, err := p.store.EnsureLive(ctx)
	if err != nil {
		return err
	}
	if live.Layout != projectionpg.Layout {
		p.log.Warn("the live read model has an older table layout; run `catalog projections rebuild "+p.def.Name+"`",
			"generation", live.Number, "layout", live.Layout, "current_layout", projectionpg.Layout)
	}
	var liveGen atomic.Int64
	liveGen.Store(int64(live.Number))
	run := func(ctx context.Context, gen int) error {
		w := p.store.Writer(gen)
		var applier projections.BatchStore = w
		if m != nil {
			applier = meteredStore{inner: w, m: m, labels: prometheus.Labels{"projection": p.def.Name, "generation": strconv.Itoa(gen)}}
		}
		var invalidator projections.Invalidator
		if p.inv != nil {
			invalidator = p.inv
		}
		glog := p.log.With("generation", gen)
		var opts []projections.HandlerOption
		if pr, ok := p.def.Model.(projectionpg.Preparer); ok {
			opts = append(opts, projections.WithPrepare(pr.Prepare))
		}
		if p.cfg.Tracing != nil {
			opts = append(opts, projections.WithTracing(p.cfg.Tracing, func() bool { return liveGen.Load() == int64(gen) }))
		}
		h, err := projections.NewHandler(applier, invalidator, glog, opts...)
		if err != nil {
			return err
		}
		// A generation being rebuilt yields the machine to the live one
		// (checked per batch: it stops yielding once swapped in).
		paced := p.pacer.wrap(h, func() bool { return liveGen.Load() != int64(gen) })
		consumer, err := events.NewConsumer(events.ConsumerConfig{
			Kafka: p.cfg.Kafka, Group: p.cfg.Group(p.def.Name, gen), Topics: []string{p.cfg.Topic}, MaxBatch: p.cfg.Batch,
		}, paced, w, glog)
		if err != nil {
			return err
		}
		return consumer.Run(ctx)
	}
	active := func(ctx context.Context) ([]int, error) {
		gens, err := p.store.Active(ctx)
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
	wake := make(chan struct{}, 1)
	g.Go(func() error { p.store.WatchGenerations(gctx, wake, p.cfg.Every, p.log); return nil })
	g.Go(func() error { return projections.Supervise(gctx, active, run, p.cfg.Every, wake, p.log) })
	if p.inv != nil {
		g.Go(func() error { return p.inv.Run(gctx) })
	}
	g.Go(func() error { p.pacer.run(gctx); return nil })
	return g.Wait()
}

// RunAll runs every projector until ctx ends or one fails.
func RunAll(ctx context.Context, ps []*Projector, m *Metrics) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range ps {
		g.Go(func() error { return p.Run(gctx, m) })
	}
	return g.Wait()
}

// Select returns the projections of all whose names are in names, in the
// order of all; every projection when names is empty. A name that is not
// registered is an error naming it and the registered ones.
func Select(all []Projection, names []string) ([]Projection, error) {
	if len(names) == 0 {
		return all, nil
	}
	known := map[string]bool{}
	for _, p := range all {
		known[p.Name] = true
	}
	want := map[string]bool{}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("unknown projection %q (registered: %s)", n, Names(all))
		}
		want[n] = true
	}
	var out []Projection
	for _, p := range all {
		if want[p.Name] {
			out = append(out, p)
		}
	}
	return out, nil
}

// Names lists the projections' names, comma-separated.
func Names(ps []Projection) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}

// kafkaLog is the Kafka side of one projection's rebuilds.
type kafkaLog struct {
	cfg  Config
	name string
}

func (k kafkaLog) EndOffsets(ctx context.Context) (projections.Target, error) {
	hw, err := k.cfg.Admin.HighWatermarks(ctx, k.cfg.Topic)
	if err != nil {
		return nil, err
	}
	return projections.Target{k.cfg.Topic: hw}, nil
}

func (k kafkaLog) Members(ctx context.Context, gen int) (int, error) {
	return k.cfg.Admin.GroupMembers(ctx, k.cfg.Group(k.name, gen))
}

func (k kafkaLog) DeleteGroup(ctx context.Context, gen int) error {
	return k.cfg.Admin.DeleteGroup(ctx, k.cfg.Group(k.name, gen))
}
