package projectionpg_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// TestWatchGenerations: a change to a projection's generations wakes its
// watcher at once (the supervisor then starts or stops a consumer without
// waiting for its interval); another projection's change does not; after
// its connection is killed the watcher reconnects and wakes again.
func TestWatchGenerations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, td, counts := twoProjections(t)
	for _, s := range []*projectionpg.Store{td.Store, counts} {
		if _, err := s.EnsureLive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wake := make(chan struct{}, 1)
	go td.Store.WatchGenerations(ctx, wake, 100*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	listening := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var n int
			if err := pool.QueryRow(ctx, `select count(*) from pg_stat_activity where datname = current_database() and query like 'listen %'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the watcher never listened")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	woken := func(what string, want bool) {
		t.Helper()
		select {
		case <-wake:
			if !want {
				t.Fatalf("%s woke the track-details watcher", what)
			}
		case <-time.After(2 * time.Second):
			if want {
				t.Fatalf("%s did not wake the watcher within 2 s", what)
			}
		}
	}
	listening()
	if _, err := counts.StartRebuild(ctx, false, projections.Target{}); err != nil {
		t.Fatal(err)
	}
	woken("a rebuild of another projection", false)
	g, err := td.Store.StartRebuild(ctx, false, projections.Target{})
	if err != nil {
		t.Fatal(err)
	}
	woken("starting a rebuild", true)
	if _, err := td.Store.SetPaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	woken("pausing it", true)

	if _, err := pool.Exec(ctx, `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like 'listen %'`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	listening()
	if _, err := pool.Exec(ctx, `update projection_generations set state = 'building' where projection = 'track-details' and generation = $1`, g.Number); err != nil {
		t.Fatal(err)
	}
	woken("a change made by hand in SQL after a reconnect", true)
}
