package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// Sentinel errors of a check that could not reach a conclusion.
var (
	// ErrNotCaughtUp reports a live generation that did not apply the log
	// up to the end offsets captured at the start within Config.Wait.
	ErrNotCaughtUp = errors.New("the read model has not caught up with the log")
	// ErrNoLiveGeneration reports a read model without a live generation.
	ErrNoLiveGeneration = errors.New("the read model has no live generation")
	// ErrMoved reports that the log grew or the live generation changed
	// while the check ran and divergences were found: they may be the
	// newer events', so the check is not conclusive.
	ErrMoved = errors.New("the log or the read model moved during the check")
	// ErrRefused reports the gateway refusing the checker's own requests
	// (unknown key, no grant, daily limit reached).
	ErrRefused = errors.New("the gateway refused the checker's request")
)

// Log reads the event log (events.LogReader).
type Log interface {
	EndOffsets(ctx context.Context, topic string) (map[int32]int64, error)
	Read(ctx context.Context, topic string, partition int32, end int64, fn func(events.Record) error) error
}

// Generations are a projection's generations and their stored
// checkpoints (projectionpg.Store).
type Generations interface {
	Generations(ctx context.Context) ([]projections.Generation, error)
	Checkpoints(ctx context.Context, gen int) ([]projections.PartitionProgress, error)
}

// ReadModel is the read model of record (trackdetailspg.Store).
type ReadModel interface {
	Generations
	TrackKeys(ctx context.Context, fn func(trackID, releaseID int64, releasePurged bool) error) error
	TrackRow(ctx context.Context, id int64) (trackdetails.TrackRow, error)
}

// HotCache is the hot-entry cache (projectionredis.Cache).
type HotCache interface {
	Tracks(ctx context.Context, generation int64) ([]int64, error)
	Get(ctx context.Context, generation, trackID int64) (payload []byte, version projections.ReleaseVersion, ok bool, err error)
}

// API answers track/details as customers get it (Gateway).
type API interface {
	TrackDetails(ctx context.Context, trackID int64, territory string) (Served, error)
}

// Layers are what a check compares with the oracle. ReadModel is
// required; a nil Cache, API or Identifiers skips its layer.
type Layers struct {
	ReadModel   ReadModel
	Cache       HotCache
	API         API
	Identifiers Identifiers
}

// Config configures a check.
type Config struct {
	// Topic is the releases topic.
	Topic string
	// Wait bounds how long the check waits for the live generation to
	// apply the log up to the captured end offsets (default 1 minute).
	Wait time.Duration
	// AllTerritories compares every track in all 249 territories instead
	// of the ones that matter (see Expected.Territories).
	AllTerritories bool
	// Sample is how many (track, territory) answers the api layer asks
	// for; SampleAll asks for every live track in every territory checked
	// and every track that must not be served. Default 200.
	Sample int
	// Seed picks the sample and the unnamed territory of each release.
	Seed uint64
	// Concurrency bounds the reads and requests in flight per layer
	// (default 8).
	Concurrency int
	// Now is the clock (default time.Now). The postgres and redis layers
	// use the time the check started; the api layer the time of each request.
	Now func() time.Time
}

// SampleAll makes the api layer exhaustive.
const SampleAll = -1

// Bounds of the settings.
const (
	MaxConcurrency = 256
	MaxWait        = time.Hour
)

func (c *Config) setDefaults() {
	if c.Wait == 0 {
		c.Wait = time.Minute
	}
	if c.Sample == 0 {
		c.Sample = 200
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports settings out of their bounds.
func (c Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("verify: topic is required"))
	}
	if c.Wait < 0 || c.Wait > MaxWait {
		errs = append(errs, fmt.Errorf("verify: wait %s is not between 0 and %s", c.Wait, MaxWait))
	}
	if c.Sample < SampleAll {
		errs = append(errs, fmt.Errorf("verify: sample %d is negative", c.Sample))
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("verify: concurrency %d is not between 1 and %d", c.Concurrency, MaxConcurrency))
	}
	return errors.Join(errs...)
}

// Run folds the log, waits for the live generation to catch up with it,
// and compares every layer with the oracle. It returns an error when it
// could not reach a conclusion; divergences are in the report.
func Run(ctx context.Context, cfg Config, lg Log, layers Layers, log *slog.Logger) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if lg == nil || layers.ReadModel == nil || log == nil {
		return nil, errors.New("verify: a log, a read model and a logger are required")
	}
	began := time.Now()
	now := cfg.Now()
	rep := &Report{}

	end, err := lg.EndOffsets(ctx, cfg.Topic)
	if err != nil {
		return nil, err
	}
	exp, err := fold(ctx, lg, cfg.Topic, end)
	if err != nil {
		return nil, err
	}
	rep.Log = LogSummary{Topic: cfg.Topic, EndOffsets: end, Stats: exp.Stats, Seconds: time.Since(began).Seconds()}
	rep.Log.Releases, rep.Log.Live, rep.Log.Purged, rep.Log.Held, rep.Log.LiveTracks, rep.Log.GoneTracks = exp.Counts()
	rep.Notes = append(rep.Notes, exp.Notes...)
	log.Info("log folded", "events", exp.Stats.Events, "releases", rep.Log.Releases, "live_tracks", rep.Log.LiveTracks,
		"seconds", rep.Log.Seconds)

	waited := time.Now()
	gen, err := waitCaughtUp(ctx, layers.ReadModel, cfg.Topic, end, cfg.Wait)
	if err != nil {
		return nil, err
	}
	rep.Generation, rep.CaughtUpSeconds = gen, time.Since(waited).Seconds()
	idfGen := 0
	if layers.Identifiers != nil {
		if idfGen, err = waitCaughtUp(ctx, layers.Identifiers, cfg.Topic, end, cfg.Wait); err != nil {
			return nil, fmt.Errorf("identifiers: %w", err)
		}
		rep.IdentifiersGeneration = idfGen
	}

	c := &checker{cfg: cfg, exp: exp, now: now, gen: gen, idfGen: idfGen, out: &collector{}, log: log,
		avail: &availability{exp: exp, now: now, all: cfg.AllTerritories, seed: cfg.Seed, memo: map[availKey][]terrDiff{}}}
	sum, err := c.postgres(ctx, layers.ReadModel)
	if err != nil {
		return nil, err
	}
	rep.Layers = append(rep.Layers, sum)
	if layers.Cache == nil {
		rep.Layers = append(rep.Layers, LayerSummary{Layer: LayerRedis, Skipped: "no Redis configured"})
	} else if sum, err = c.redis(ctx, layers.Cache); err != nil {
		return nil, err
	} else {
		rep.Layers = append(rep.Layers, sum)
	}
	if layers.API == nil {
		rep.Layers = append(rep.Layers, LayerSummary{Layer: LayerAPI, Skipped: "no gateway or key configured"})
	} else if sum, err = c.api(ctx, layers.API); err != nil {
		return nil, err
	} else {
		rep.Layers = append(rep.Layers, sum)
	}
	if layers.Identifiers == nil {
		rep.Layers = append(rep.Layers, LayerSummary{Layer: LayerIdentifiers, Skipped: "not asked for"})
	} else if sum, err = c.identifiers(ctx, layers.Identifiers); err != nil {
		return nil, err
	} else {
		rep.Layers = append(rep.Layers, sum)
	}
	rep.Divergences = c.out.list
	sortDivergences(rep.Divergences)
	rep.Seconds = time.Since(began).Seconds()

	// The comparison holds for the log as it was at the start: newer
	// events, or a generation swapped in meanwhile, can explain a
	// divergence.
	moved, err := c.moved(ctx, lg, layers, end)
	if err != nil {
		return rep, err
	}
	if moved != "" {
		if len(rep.Divergences) > 0 {
			return rep, fmt.Errorf("%w: %s; run the check again on a quiet log", ErrMoved, moved)
		}
		rep.Notes = append(rep.Notes, moved+" during the check; no divergence was found all the same")
	}
	return rep, nil
}

// fold reads every partition up to end into one oracle each, in parallel,
// and merges them.
func fold(ctx context.Context, lg Log, topic string, end map[int32]int64) (*Expected, error) {
	parts := make([]int32, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	oracles := make([]*Oracle, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range parts {
		o := NewOracle()
		oracles[i] = o
		g.Go(func() error {
			return lg.Read(gctx, topic, p, end[p], func(r events.Record) error { o.Record(r); return nil })
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	return Expect(oracles...), nil
}

// liveGeneration returns the live generation's number.
func liveGeneration(ctx context.Context, rm Generations) (int, error) {
	gens, err := rm.Generations(ctx)
	if err != nil {
		return 0, err
	}
	for _, g := range gens {
		if g.State == "live" {
			return g.Number, nil
		}
	}
	return 0, ErrNoLiveGeneration
}

// waitCaughtUp polls the live generation's stored checkpoints until each
// partition's is at or past its end offset, for at most wait.
func waitCaughtUp(ctx context.Context, rm Generations, topic string, end map[int32]int64, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		gen, err := liveGeneration(ctx, rm)
		if err != nil {
			return 0, err
		}
		cps, err := rm.Checkpoints(ctx, gen)
		if err != nil {
			return 0, err
		}
		at := map[int32]int64{}
		for _, c := range cps {
			if c.Topic == topic {
				at[c.Partition] = c.Next
			}
		}
		var lag int64
		var behind []string
		for p, e := range end {
			if at[p] < e {
				lag += e - at[p]
				behind = append(behind, fmt.Sprintf("%s/%d at %d of %d", topic, p, at[p], e))
			}
		}
		if lag == 0 {
			return gen, nil
		}
		if time.Now().After(deadline) {
			sort.Strings(behind)
			return 0, fmt.Errorf("%w after %s: generation %d is %d events behind (%v)", ErrNotCaughtUp, wait, gen, lag, behind)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checker holds one check's state across the layers.
type checker struct {
	cfg Config
	exp *Expected
	now time.Time
	gen int
	// idfGen is the identifiers read model's live generation (0 when its
	// layer is skipped).
	idfGen int
	out    *collector
	avail  *availability
	log    *slog.Logger
}

// moved says how the log or a live generation changed since the start
// ("" when none did).
func (c *checker) moved(ctx context.Context, lg Log, layers Layers, end map[int32]int64) (string, error) {
	gen, err := liveGeneration(ctx, layers.ReadModel)
	if err != nil {
		return "", err
	}
	if gen != c.gen {
		return fmt.Sprintf("generation %d replaced generation %d", gen, c.gen), nil
	}
	if layers.Identifiers != nil {
		if gen, err = liveGeneration(ctx, layers.Identifiers); err != nil {
			return "", err
		}
		if gen != c.idfGen {
			return fmt.Sprintf("identifiers generation %d replaced generation %d", gen, c.idfGen), nil
		}
	}
	now, err := lg.EndOffsets(ctx, c.cfg.Topic)
	if err != nil {
		return "", err
	}
	var grown int64
	for p, off := range now {
		grown += off - end[p]
	}
	if grown > 0 {
		return fmt.Sprintf("the log grew by %d events", grown), nil
	}
	return "", nil
}

// parallel runs fn for each of n items with at most limit at once,
// stopping at the first error.
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := 0; i < n; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}
