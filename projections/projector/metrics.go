package projector

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/catalog-org/catalog/projections"
)

// Metrics are the projectors' Prometheus metrics, labelled by projection
// and generation.
type Metrics struct {
	applied, stale, parked *prometheus.CounterVec
	batchSize, batchTime   *prometheus.HistogramVec
}

// NewMetrics registers the batch metrics and, for every projector in ps,
// the state collectors (lag, parked events, rebuild progress, pending cache
// invalidations), read on each scrape.
func NewMetrics(reg prometheus.Registerer, ps []*Projector) *Metrics {
	l := []string{"projection", "generation"}
	m := &Metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_applied_total",
			Help: "Events applied to the read model."}, l),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_stale_total",
			Help: "Events that arrived again and changed nothing."}, l),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "catalog_projection_events_parked_total",
			Help: "Events parked (poison, or behind a parked event of their release)."}, l),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_projection_batch_records",
			Help: "Records per applied batch.", Buckets: []float64{1, 5, 10, 50, 100, 250, 500}}, l),
		batchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "catalog_projection_batch_seconds",
			Help: "Time to apply a batch (one transaction).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, l),
	}
	reg.MustRegister(m.applied, m.stale, m.parked, m.batchSize, m.batchTime, newStateCollector(ps), newInvalidationCollector(ps))
	return m
}

// meteredStore measures a generation's store.
type meteredStore struct {
	inner  projections.BatchStore
	m      *Metrics
	labels prometheus.Labels
}

func (s meteredStore) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (projections.ApplyResult, error) {
	start := time.Now()
	res, err := s.inner.Apply(ctx, cp, items)
	if err != nil {
		return res, err
	}
	s.m.batchTime.With(s.labels).Observe(time.Since(start).Seconds())
	s.m.batchSize.With(s.labels).Observe(float64(len(items)))
	s.m.applied.With(s.labels).Add(float64(res.Applied))
	s.m.stale.With(s.labels).Add(float64(res.Stale))
	s.m.parked.With(s.labels).Add(float64(res.Parked))
	return res, nil
}

// stateCollector reports, on each scrape, per projection: lag per
// partition (stored offsets against the end of the log), parked events
// and rebuild progress.
type stateCollector struct {
	ps                   []*Projector
	lag, parked, rebuild *prometheus.Desc
	duty                 *prometheus.Desc
}

func newStateCollector(ps []*Projector) *stateCollector {
	return &stateCollector{
		ps: ps,
		lag: prometheus.NewDesc("catalog_projection_lag_events", "Events in the log not yet applied, per partition (end offset minus stored offset).",
			[]string{"projection", "generation", "state", "topic", "partition"}, nil),
		parked: prometheus.NewDesc("catalog_projection_parked_events", "Events parked now.", []string{"projection", "generation"}, nil),
		rebuild: prometheus.NewDesc("catalog_projection_rebuild_progress_ratio", "Share of the log a rebuild has consumed (0 to 1).",
			[]string{"projection", "generation", "mode"}, nil),
		duty: prometheus.NewDesc("catalog_projection_rebuild_duty_ratio",
			"Share of the wall clock a rebuild may spend on its batches now (CATALOG_REBUILD_DUTY, lowered toward CATALOG_REBUILD_DUTY_FLOOR while the live readers slow).",
			[]string{"projection", "generation"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.parked
	ch <- c.rebuild
	ch <- c.duty
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range c.ps {
		st, err := p.Status(ctx)
		if err != nil {
			continue
		}
		for _, g := range st.Generations {
			gen := strconv.Itoa(g.Number)
			for _, pp := range g.Partitions {
				ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(pp.End-pp.Next), st.Projection, gen, g.State, pp.Topic, strconv.Itoa(int(pp.Partition)))
			}
			ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(g.Parked), st.Projection, gen)
		}
		if r := st.Rebuild; r != nil && r.Total > 0 {
			ch <- prometheus.MustNewConstMetric(c.rebuild, prometheus.GaugeValue, float64(r.Done)/float64(r.Total), st.Projection,
				strconv.Itoa(r.Generation.Number), r.Generation.Mode)
			if r.Generation.Mode != "in-place" {
				ch <- prometheus.MustNewConstMetric(c.duty, prometheus.GaugeValue, p.pacer.Duty(), st.Projection, strconv.Itoa(r.Generation.Number))
			}
		}
	}
}

// invalidationCollector reports, on each scrape, per projection with a
// cache: the invalidations stored and not yet confirmed by the cache, and
// this process's sends.
type invalidationCollector struct {
	ps                      []*Projector
	batches, tracks, oldest *prometheus.Desc
	sent, failed            *prometheus.Desc
}

func newInvalidationCollector(ps []*Projector) *invalidationCollector {
	l := []string{"projection"}
	return &invalidationCollector{ps: ps,
		batches: prometheus.NewDesc("catalog_cache_invalidations_pending_batches", "Committed batches whose cache invalidation the cache has not confirmed yet.", l, nil),
		tracks:  prometheus.NewDesc("catalog_cache_invalidations_pending_tracks", "Entries those pending invalidations name.", l, nil),
		oldest: prometheus.NewDesc("catalog_cache_invalidations_oldest_seconds",
			"Age of the oldest pending cache invalidation (0 when none): how long a reader may still get an entry older than Postgres.", l, nil),
		sent:   prometheus.NewDesc("catalog_cache_invalidations_sent_total", "Cache invalidations this process sent and the cache confirmed.", l, nil),
		failed: prometheus.NewDesc("catalog_cache_invalidations_failed_total", "Cache invalidation sends that failed (each is retried).", l, nil),
	}
}

func (c *invalidationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.tracks, c.oldest, c.sent, c.failed} {
		ch <- d
	}
}

func (c *invalidationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range c.ps {
		if p.inv == nil {
			continue
		}
		name := p.Name()
		sent, failed := p.inv.Stats()
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(sent), name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(failed), name)
		batches, tracks, oldest, err := p.store.InvalidationBacklog(ctx)
		if err != nil {
			continue
		}
		age := 0.0
		if !oldest.IsZero() {
			age = max(0, time.Since(oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.GaugeValue, float64(batches), name)
		ch <- prometheus.MustNewConstMetric(c.tracks, prometheus.GaugeValue, float64(tracks), name)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, name)
	}
}
