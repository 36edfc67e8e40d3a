package projections_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/testenv"
)

// consume feeds generation gen from the fixture's topic with a consumer
// group of its own until the returned stop is called.
func consume(t *testing.T, f projectionFixture, gen int) (stop func()) {
	t.Helper()
	w := f.store.Writer(gen)
	proj, _ := projections.NewHandler(w, nil, f.log)
	c, err := events.NewConsumer(events.ConsumerConfig{Kafka: f.kafka, Group: fmt.Sprintf("%s-g%d", f.group, gen), Topics: []string{f.topic}}, proj, w, f.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitNext(t *testing.T, f projectionFixture, gen int, want int64) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		var next int64
		err := f.pool.QueryRow(f.ctx, `select coalesce(max(next_offset), 0) from projection_checkpoints where generation = $1 and topic = $2`,
			gen, f.topic).Scan(&next)
		if err != nil || next != want {
			return fmt.Errorf("generation %d at %d (%v), want %d", gen, next, err, want)
		}
		return nil
	})
}

// TestPausedRebuildSwapsInOnlyOnceCaughtUp: a shadow rebuild reaches the
// log end it started with and is paused; more events arrive and the live
// generation applies them. Resumed, the rebuild is not swapped in while it
// is behind the live generation (nor by a finisher asking for it); it is
// once it has caught up, with the same content as the live generation
// built without a pause.
func TestPausedRebuildSwapsInOnlyOnceCaughtUp(t *testing.T) {
	t.Parallel()
	f := onePartition(t, newProjectionFixture(t))
	prod, err := events.NewProducer(f.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	send := func(first, n int64, seq int64, title string) {
		t.Helper()
		var out []events.Outgoing
		for id := first; id < first+n; id++ {
			upc := fmt.Sprintf("5%012d", id)
			var e events.Envelope
			if seq == 1 {
				e = mustEnvelope(t, release.TypeDelivered, 1, upc, poisonDelivered(id, upc, title))
			} else {
				e = mustEnvelope(t, release.TypeMetadataChanged, seq, upc, poisonRenamed(id, upc, title))
			}
			out = append(out, events.Outgoing{Topic: f.topic, Envelope: e})
		}
		if _, err := prod.Send(out); err != nil {
			t.Fatal(err)
		}
	}
	send(1, 60, 1, "First")
	f.run(t)
	waitNext(t, f, f.live.Number, 60)

	rb, err := projections.NewRebuilder(f.store, fixtureLog{f}, nil, f.log)
	if err != nil {
		t.Fatal(err)
	}
	g, err := rb.Start(f.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	stop := consume(t, f, g.Number)
	waitNext(t, f, g.Number, 60)
	stop()
	if _, err := rb.Pause(f.ctx); err != nil {
		t.Fatal(err)
	}

	// While paused: updates of half the releases and new releases.
	send(1, 30, 2, "Second")
	send(61, 20, 1, "Later")
	waitNext(t, f, f.live.Number, 110)
	want, err := f.store.Hash(f.ctx, f.live.Number)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := rb.Resume(f.ctx); err != nil {
		t.Fatal(err)
	}
	p, err := rb.Progress(f.ctx)
	if err != nil || p.Done != 60 || p.Total != 110 {
		t.Errorf("progress after the resume: %d of %d (%v), want 60 of 110", p.Done, p.Total, err)
	}
	if _, err := rb.Complete(f.ctx); !errors.Is(err, projections.ErrBehindLive) {
		t.Fatalf("completing a rebuild 50 events behind the live generation: %v, want ErrBehindLive", err)
	}
	// The store refuses too, whatever its caller read before.
	if _, err := f.store.Swap(f.ctx, g.Number); !errors.Is(err, projections.ErrBehindLive) {
		t.Fatalf("swapping in a generation 50 events behind the live one: %v, want ErrBehindLive", err)
	}
	if live, _ := f.store.EnsureLive(f.ctx); live.Number != f.live.Number {
		t.Fatalf("generation %d swapped in 50 events behind the live one", live.Number)
	}

	// Fed again, it catches up and the watcher swaps it in.
	ran := make(chan error, 1)
	var swappedAt int64 = -1
	go func() {
		_, err := rb.Run(f.ctx, 50*time.Millisecond, func(p projections.Progress) {
			if p.Phase == "swapping" && swappedAt < 0 {
				swappedAt = p.Done
			}
		})
		ran <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if live, _ := f.store.EnsureLive(f.ctx); live.Number != f.live.Number {
		t.Fatalf("generation %d swapped in before it was fed again", live.Number)
	}
	consume(t, f, g.Number)
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the rebuild was not swapped in within 60 s")
	}
	live, err := f.store.EnsureLive(f.ctx)
	if err != nil || live.Number != g.Number {
		t.Fatalf("live %+v %v, want generation %d", live, err, g.Number)
	}
	if swappedAt != 110 {
		t.Errorf("swap began with %d events consumed, want 110", swappedAt)
	}
	if got, err := f.store.Hash(f.ctx, g.Number); err != nil || got != want {
		t.Errorf("hash of the rebuilt generation %s (%v), uninterrupted live generation %s", got, err, want)
	}
}
