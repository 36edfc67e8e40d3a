package projections

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors of rebuilds.
var (
	// ErrRebuildRunning reports a rebuild already under way (or paused).
	ErrRebuildRunning = errors.New("a rebuild of this read model is already under way")
	// ErrNoRebuild reports that no rebuild is under way.
	ErrNoRebuild = errors.New("no rebuild under way")
	// ErrBehindLive reports a shadow generation that has not yet consumed
	// every partition as far as the live generation has: swapping it in
	// would take events back out of the read model.
	ErrBehindLive = errors.New("the rebuilt generation is behind the live one")
)

// Generation is one generation of a read model: its tables, its consumer
// group and its checkpoints. One is live (the API reads it); a rebuild
// builds the next one beside it from offset zero.
type Generation struct {
	Number int    `json:"generation"`
	Layout int    `json:"layout"`
	State  string `json:"state"` // building, paused, live, retired or cancelled
	Mode   string `json:"mode"`  // shadow (zero downtime) or in-place
}

// Target is where a rebuild must reach before it is done: the end offset
// of every partition of every topic when it started.
type Target map[string]map[int32]int64

// PartitionProgress is a generation's position in one partition.
type PartitionProgress struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Next      int64  `json:"nextOffset"`
	Target    int64  `json:"target,omitempty"`
	End       int64  `json:"endOffset,omitempty"`
	Applied   int64  `json:"applied"`
	Stale     int64  `json:"stale"`
}

// Supervise keeps one consumer running per active generation (the live one
// and one being rebuilt), checking every interval: it starts run for a
// generation that became active and stops it for one that no longer is
// (swapped out, paused, cancelled). A run that fails is started again.
// A send on wake (nil for none) makes it look at once: a notification of
// a change to the generations, so a rebuild starts feeding, and a swapped
// out generation stops, without waiting for the interval.
func Supervise(ctx context.Context, active func(context.Context) ([]int, error), run func(context.Context, int) error, every time.Duration, wake <-chan struct{}, log *slog.Logger) error {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	runs := map[int]*running{}
	defer func() {
		for _, r := range runs {
			r.cancel()
			<-r.done
		}
	}()
	for {
		gens, err := active(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("listing generations failed", "err", err)
		}
		want := map[int]bool{}
		for _, g := range gens {
			want[g] = true
		}
		for g, r := range runs {
			select {
			case <-r.done:
				delete(runs, g)
				continue
			default:
			}
			if !want[g] {
				log.Info("stopping consumer of generation", "generation", g)
				r.cancel()
				<-r.done
				delete(runs, g)
			}
		}
		for _, g := range gens {
			if _, ok := runs[g]; ok || err != nil {
				continue
			}
			rctx, cancel := context.WithCancel(ctx)
			r := &running{cancel: cancel, done: make(chan struct{})}
			runs[g] = r
			log.Info("starting consumer of generation", "generation", g)
			go func(g int) {
				defer close(r.done)
				if err := run(rctx, g); err != nil && rctx.Err() == nil {
					log.Error("consumer of generation failed", "generation", g, "err", err)
				}
			}(g)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		case <-wake:
		}
	}
}
