package projector

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/projections"
)

// concurrency records how many Apply calls overlap; it applies nothing.
// It measures the throttle's scheduling, which no database takes part in.
type concurrency struct {
	now, most atomic.Int32
}

func (c *concurrency) Apply(context.Context, projections.Checkpoint, []projections.Item) (projections.ApplyResult, error) {
	n := c.now.Add(1)
	for {
		m := c.most.Load()
		if n <= m || c.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	c.now.Add(-1)
	return projections.ApplyResult{}, nil
}

// TestThrottledRebuildAppliesOneBatchAtATime: while a generation is being
// rebuilt, its partitions' batches never overlap; once it is live they do
// again, unthrottled.
func TestThrottledRebuildAppliesOneBatchAtATime(t *testing.T) {
	var rebuilding atomic.Bool
	rebuilding.Store(true)
	c := &concurrency{}
	s := newThrottledStore(c, 0.5, rebuilding.Load)
	run := func() {
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if _, err := s.Apply(context.Background(), projections.Checkpoint{}, nil); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	run()
	if m := c.most.Load(); m != 1 {
		t.Fatalf("while rebuilding, %d batches applied at once, want 1", m)
	}
	rebuilding.Store(false)
	c.most.Store(0)
	run()
	if m := c.most.Load(); m < 2 {
		t.Fatalf("once live, at most %d batch applied at once: the live generation must not be throttled", m)
	}
}
