package projector

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/events"
)

// busyHandler records how many batches overlap and how long they took in
// all; it applies nothing. It measures the pacer's scheduling, which no
// database takes part in.
type busyHandler struct {
	now, most atomic.Int32
	busy      atomic.Int64 // nanoseconds inside HandleBatch
	took      time.Duration
}

func (h *busyHandler) HandleBatch(context.Context, events.Batch) error {
	n := h.now.Add(1)
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(h.took)
	h.busy.Add(int64(h.took))
	h.now.Add(-1)
	return nil
}

// feed runs batches of six partitions at once through h, five each, and
// returns the wall time.
func feed(t *testing.T, h events.BatchHandler) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := h.HandleBatch(context.Background(), events.Batch{}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// TestPacerHoldsTheDutyAcrossPartitions: while a generation is being
// rebuilt, its partitions' batches never overlap and the generation is
// busy at most its duty's share of the wall clock (the pause after a
// batch holds the turn); once it is live its batches overlap again,
// unpaced.
func TestPacerHoldsTheDutyAcrossPartitions(t *testing.T) {
	t.Parallel()
	var rebuilding atomic.Bool
	rebuilding.Store(true)
	inner := &busyHandler{took: 4 * time.Millisecond}
	p := newRebuildPacer(Config{RebuildDuty: 0.5, RebuildDutyFloor: 0.5})
	h := p.wrap(inner, rebuilding.Load)
	wall := feed(t, h)
	if m := inner.most.Load(); m != 1 {
		t.Fatalf("while rebuilding, %d batches at once, want 1", m)
	}
	if share := float64(inner.busy.Load()) / float64(wall); share > 0.55 {
		t.Fatalf("while rebuilding at duty 0.5, busy %.2f of the wall clock", share)
	}
	rebuilding.Store(false)
	inner.most.Store(0)
	feed(t, h)
	if m := inner.most.Load(); m < 2 {
		t.Fatalf("once live, at most %d batch at once: the live generation must not be paced", m)
	}
}

// TestPacerFollowsTheProbe: round trips that slow while a rebuild batch is
// in flight halve the duty down to the floor and no further; round trips
// as fast as between batches raise it back to the most, and no further.
func TestPacerFollowsTheProbe(t *testing.T) {
	t.Parallel()
	p := newRebuildPacer(Config{RebuildDuty: 0.4, RebuildDutyFloor: 0.05, RebuildSlowdown: 1.5})
	for range decideAfter {
		p.observe(false, time.Millisecond)
	}
	for range 10 * decideAfter {
		p.observe(true, 3*time.Millisecond)
	}
	if d := p.Duty(); d != 0.05 {
		t.Fatalf("after slow round trips the duty is %v, want the floor 0.05", d)
	}
	for range 100 * decideAfter {
		p.observe(false, time.Millisecond)
		p.observe(true, 1200*time.Microsecond)
	}
	if d := p.Duty(); d != 0.4 {
		t.Fatalf("after round trips within the slowdown the duty is %v, want the most 0.4", d)
	}
}

// TestPacerProbesOnlyDuringARebuild: with no rebuild batch for a while the
// probe is not called and the duty is back at the most.
func TestPacerProbesOnlyDuringARebuild(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	probe := func(context.Context) error { calls.Add(1); return nil }
	p := newRebuildPacer(Config{RebuildDuty: 0.4, RebuildDutyFloor: 0.05, RebuildSlowdown: 1.5, RebuildProbe: probe, RebuildProbeEvery: 5 * time.Millisecond})
	p.setDuty(0.1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.run(ctx)
	if n := calls.Load(); n != 0 {
		t.Fatalf("probed %d times with no rebuild under way", n)
	}
	if d := p.Duty(); d != 0.4 {
		t.Fatalf("duty %v with no rebuild under way, want 0.4", d)
	}
	p.last.Store(time.Now().UnixNano())
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.run(ctx)
	if calls.Load() == 0 {
		t.Fatal("never probed during a rebuild")
	}
}

// TestPacerFullDutyIsFullSpeed: CATALOG_REBUILD_DUTY=1 rebuilds every
// partition at once, with no pacing and no probe.
func TestPacerFullDutyIsFullSpeed(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	probe := func(context.Context) error { calls.Add(1); return nil }
	p := newRebuildPacer(Config{RebuildDuty: 1, RebuildDutyFloor: 0.05, RebuildSlowdown: 1.5, RebuildProbe: probe, RebuildProbeEvery: time.Millisecond})
	inner := &busyHandler{took: 2 * time.Millisecond}
	feed(t, p.wrap(inner, func() bool { return true }))
	if m := inner.most.Load(); m < 2 {
		t.Fatalf("at duty 1, at most %d batch at once", m)
	}
	p.last.Store(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	p.run(ctx)
	if n := calls.Load(); n != 0 {
		t.Fatalf("probed %d times at duty 1", n)
	}
}
