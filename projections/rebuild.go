package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// RebuildStore is what a rebuild needs of the read model's store.
type RebuildStore interface {
	EnsureLive(ctx context.Context) (Generation, error)
	StartRebuild(ctx context.Context, inPlace bool, target Target) (Generation, error)
	Rebuilding(ctx context.Context) (Generation, Target, error)
	ResetInPlace(ctx context.Context, gen int) error
	FinishInPlace(ctx context.Context, gen int) error
	SetPaused(ctx context.Context, paused bool) (Generation, error)
	BuildIndexes(ctx context.Context, gen int) error
	Swap(ctx context.Context, gen int) (int, error)
	Checkpoints(ctx context.Context, gen int) ([]PartitionProgress, error)
}

// RebuildLog is what a rebuild needs of Kafka.
type RebuildLog interface {
	// EndOffsets returns the end of every partition of the projection's topics.
	EndOffsets(ctx context.Context) (Target, error)
	// Members returns how many consumers generation gen's group has.
	Members(ctx context.Context, gen int) (int, error)
	// DeleteGroup drops generation gen's consumer group and its offsets.
	DeleteGroup(ctx context.Context, gen int) error
}

// GenerationCache drops the cached entries of a generation.
type GenerationCache interface {
	DropGeneration(ctx context.Context, gen int64) (int, error)
}

// Progress is a rebuild's progress, for a progress bar or JSON.
type Progress struct {
	Generation Generation          `json:"generation"`
	Phase      string              `json:"phase"` // building, paused, indexing, swapping, done
	Done       int64               `json:"done"`  // events consumed toward the target
	Total      int64               `json:"total"` // events to consume: the log when the rebuild started, or as far as the live generation has got
	Rate       float64             `json:"eventsPerSecond"`
	ETASeconds float64             `json:"etaSeconds"`
	Partitions []PartitionProgress `json:"partitions"`
}

// Rebuilder runs rebuilds of a read model from offset zero. The projector
// processes do the replay (they feed every active generation); the
// rebuilder starts it, watches it, and swaps the new generation in once it
// has caught up with the log as it was at the start and with the live
// generation as it is at the swap.
type Rebuilder struct {
	store RebuildStore
	log   RebuildLog
	cache GenerationCache
	lg    *slog.Logger

	mu       sync.Mutex
	lastDone int64
	lastAt   time.Time
	rate     float64
}

// NewRebuilder builds a Rebuilder; cache may be nil.
func NewRebuilder(store RebuildStore, log RebuildLog, cache GenerationCache, lg *slog.Logger) (*Rebuilder, error) {
	if store == nil || log == nil || lg == nil {
		return nil, errors.New("rebuilder: store, log and logger are required")
	}
	return &Rebuilder{store: store, log: log, cache: cache, lg: lg}, nil
}

// Start begins a rebuild: by default a new generation built beside the
// live one (zero downtime); inPlace empties the live generation and replays
// into it (for when disk is short; the API serves partial data meanwhile).
func (r *Rebuilder) Start(ctx context.Context, inPlace bool) (Generation, error) {
	target, err := r.log.EndOffsets(ctx)
	if err != nil {
		return Generation{}, err
	}
	g, err := r.store.StartRebuild(ctx, inPlace, target)
	if err != nil {
		return g, err
	}
	r.lg.Info("rebuild started", "generation", g.Number, "mode", g.Mode)
	if !inPlace {
		return g, nil
	}
	// In place: wait for every projector to let go of the generation, then
	// reset its offsets to zero in Kafka and in Postgres and empty it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := r.log.Members(ctx, g.Number)
		if err != nil {
			return g, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return g, fmt.Errorf("the consumer group of generation %d still has %d members after 2 minutes", g.Number, n)
		}
		select {
		case <-ctx.Done():
			return g, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := r.log.DeleteGroup(ctx, g.Number); err != nil {
		return g, err
	}
	if err := r.store.ResetInPlace(ctx, g.Number); err != nil {
		return g, err
	}
	if r.cache != nil {
		if _, err := r.cache.DropGeneration(ctx, int64(g.Number)); err != nil {
			r.lg.Warn("dropping cached entries failed", "generation", g.Number, "err", err)
		}
	}
	return g, nil
}

// Progress reports the rebuild under way.
func (r *Rebuilder) Progress(ctx context.Context) (Progress, error) {
	g, target, err := r.store.Rebuilding(ctx)
	if err != nil {
		return Progress{}, err
	}
	if g.Mode != "in-place" {
		// A shadow generation must catch up with the live one too, which
		// has moved on since the start (a rebuild paused for long).
		if target, err = r.withLive(ctx, target); err != nil {
			return Progress{}, err
		}
	}
	cps, err := r.store.Checkpoints(ctx, g.Number)
	if err != nil {
		return Progress{}, err
	}
	at := map[string]map[int32]PartitionProgress{}
	for _, c := range cps {
		if at[c.Topic] == nil {
			at[c.Topic] = map[int32]PartitionProgress{}
		}
		at[c.Topic][c.Partition] = c
	}
	p := Progress{Generation: g, Phase: g.State}
	if g.State == "live" {
		p.Phase = "building"
	}
	for topic, parts := range target {
		for part, end := range parts {
			c := at[topic][part]
			c.Topic, c.Partition, c.Target = topic, part, end
			p.Partitions = append(p.Partitions, c)
			p.Total += end
			p.Done += min(c.Next, end)
		}
	}
	r.mu.Lock()
	now := time.Now()
	if !r.lastAt.IsZero() && now.Sub(r.lastAt) > 200*time.Millisecond && p.Done >= r.lastDone {
		inst := float64(p.Done-r.lastDone) / now.Sub(r.lastAt).Seconds()
		r.rate = 0.5*r.rate + 0.5*inst
	}
	if r.lastAt.IsZero() || now.Sub(r.lastAt) > 200*time.Millisecond {
		r.lastDone, r.lastAt = p.Done, now
	}
	p.Rate = r.rate
	r.mu.Unlock()
	if p.Rate > 0 {
		p.ETASeconds = float64(p.Total-p.Done) / p.Rate
	}
	return p, nil
}

// withLive raises target to the live generation's position wherever that
// is further.
func (r *Rebuilder) withLive(ctx context.Context, target Target) (Target, error) {
	live, err := r.store.EnsureLive(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := r.store.Checkpoints(ctx, live.Number)
	if err != nil {
		return nil, err
	}
	out := Target{}
	for topic, parts := range target {
		out[topic] = map[int32]int64{}
		for p, end := range parts {
			out[topic][p] = end
		}
	}
	for _, c := range cps {
		if out[c.Topic] == nil {
			out[c.Topic] = map[int32]int64{}
		}
		out[c.Topic][c.Partition] = max(out[c.Topic][c.Partition], c.Next)
	}
	return out, nil
}

// Pause stops feeding a shadow rebuild, keeping what it built; Resume
// carries on from its stored offsets.
func (r *Rebuilder) Pause(ctx context.Context) (Generation, error) {
	return r.store.SetPaused(ctx, true)
}
func (r *Rebuilder) Resume(ctx context.Context) (Generation, error) {
	return r.store.SetPaused(ctx, false)
}

// Complete finishes a rebuild that has caught up with its target: a shadow
// generation gets its indexes and is swapped in (the old generation's
// tables, consumer group and cached entries are dropped); an in-place one
// is marked done. A shadow generation still behind the live one is not
// swapped in (ErrBehindLive).
func (r *Rebuilder) Complete(ctx context.Context) (Generation, error) {
	p, err := r.Progress(ctx)
	if err != nil {
		return Generation{}, err
	}
	g := p.Generation
	if p.Done < p.Total {
		return g, fmt.Errorf("%w: generation %d has consumed %d of %d events; not caught up yet", ErrBehindLive, g.Number, p.Done, p.Total)
	}
	if g.Mode == "in-place" {
		return g, r.store.FinishInPlace(ctx, g.Number)
	}
	if g.State != "building" {
		return g, fmt.Errorf("generation %d is %s", g.Number, g.State)
	}
	start := time.Now()
	if err := r.store.BuildIndexes(ctx, g.Number); err != nil {
		return g, err
	}
	old, err := r.store.Swap(ctx, g.Number)
	if err != nil {
		return g, err
	}
	r.lg.Info("rebuild swapped in", "generation", g.Number, "retired", old, "index_and_swap", time.Since(start))
	if r.cache != nil {
		if n, err := r.cache.DropGeneration(ctx, int64(old)); err != nil {
			r.lg.Warn("dropping cached entries of the old generation failed; they expire by TTL", "generation", old, "err", err)
		} else {
			r.lg.Info("cached entries of the old generation dropped", "generation", old, "entries", n)
		}
	}
	// The old group empties within the projectors' supervision interval.
	go func() {
		for i := 0; i < 60; i++ {
			if n, err := r.log.Members(context.Background(), old); err == nil && n == 0 {
				if err := r.log.DeleteGroup(context.Background(), old); err != nil {
					r.lg.Warn("deleting the old consumer group failed", "generation", old, "err", err)
				}
				return
			}
			time.Sleep(time.Second)
		}
	}()
	g.State = "live"
	return g, nil
}

// Run watches the rebuild under way, reporting progress every interval,
// and completes it once it has caught up. It returns when the rebuild is
// done, paused, or ctx ends (the rebuild goes on without it).
func (r *Rebuilder) Run(ctx context.Context, every time.Duration, report func(Progress)) (Generation, error) {
	seen := false
	for {
		p, err := r.Progress(ctx)
		if errors.Is(err, ErrNoRebuild) && seen {
			// Another watcher (the admin API, another CLI) finished it.
			return r.store.EnsureLive(ctx)
		}
		if err != nil {
			return Generation{}, err
		}
		seen = true
		report(p)
		if p.Phase == "paused" {
			return p.Generation, nil
		}
		if p.Done >= p.Total {
			p.Phase = "swapping"
			report(p)
			g, err := r.Complete(ctx)
			if errors.Is(err, ErrNoRebuild) {
				return r.store.EnsureLive(ctx)
			}
			if errors.Is(err, ErrBehindLive) {
				// The live generation moved on meanwhile: keep feeding.
				r.lg.Info("rebuild not swapped in yet", "generation", g.Number, "err", err)
				select {
				case <-ctx.Done():
					return g, ctx.Err()
				case <-time.After(every):
				}
				continue
			}
			if err == nil {
				p.Phase, p.Generation = "done", g
				report(p)
			}
			return g, err
		}
		select {
		case <-ctx.Done():
			return p.Generation, ctx.Err()
		case <-time.After(every):
		}
	}
}
