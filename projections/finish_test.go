package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
)

// fixtureLog is the Kafka side of the fixture's rebuilds: its topic's end
// offsets; consumer groups are not used (the tests apply batches directly).
type fixtureLog struct{ f projectionFixture }

func (l fixtureLog) EndOffsets(ctx context.Context) (projections.Target, error) {
	hw, err := l.f.admin.HighWatermarks(ctx, l.f.topic)
	if err != nil {
		return nil, err
	}
	return projections.Target{l.f.topic: hw}, nil
}
func (fixtureLog) Members(context.Context, int) (int, error) { return 0, nil }
func (fixtureLog) DeleteGroup(context.Context, int) error    { return nil }

// applyReleases delivers releases first..first+n-1 into generation gen in
// one batch at offsets from..from+n-1 of partition 0.
func applyReleases(t *testing.T, f projectionFixture, gen int, first, n int64, from int64) {
	t.Helper()
	items := make([]projections.Item, n)
	for i := range n {
		id := first + i
		upc := fmt.Sprintf("5%012d", id)
		c := projections.Change{Sequence: 1, Event: poisonDelivered(id, upc, fmt.Sprintf("Release %d", id))}
		items[i] = projections.Item{Record: events.Record{Topic: f.topic, Partition: 0, Offset: from + i, Key: []byte(upc)}, Key: upc, Change: &c}
	}
	if _, err := f.store.Writer(gen).Apply(f.ctx, projections.Checkpoint{Topic: f.topic, Partition: 0, NextOffset: from + n}, items); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentFinishersOfARebuild: two finishers of one shadow
// generation (the admin API's watcher and the CLI, say) build its indexes
// and swap it in at the same time: one waits for the other, the second
// finds the work done, neither fails (no deadlock), and the generation is
// live once.
func TestConcurrentFinishersOfARebuild(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	rb, err := projections.NewRebuilder(f.store, fixtureLog{f}, nil, f.log)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 6 {
		g, err := rb.Start(f.ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		applyReleases(t, f, g.Number, 1, 400, 0)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = rb.Complete(f.ctx)
			}()
		}
		wg.Wait()
		swapped := 0
		for _, err := range errs {
			switch {
			case err == nil:
				swapped++
			case !errors.Is(err, projections.ErrNoRebuild):
				t.Fatalf("round %d: a finisher failed: %v", round, err)
			}
		}
		live, err := f.store.EnsureLive(f.ctx)
		if err != nil || live.Number != g.Number || swapped != 1 {
			t.Fatalf("round %d: live %+v (%v), want generation %d swapped in once (%d times)", round, live, err, g.Number, swapped)
		}
	}
}
