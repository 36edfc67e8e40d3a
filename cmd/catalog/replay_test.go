package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/deployments/local/testenv"
)

// TestReplaySurvivesKillsAndSharing replays thousands of events into a new
// generation while the projector is killed with SIGKILL at several points
// (and restarted each time), then again with two projector processes
// sharing the partitions; both give the content hash of the generation
// built without interruption.
func TestReplaySurvivesKillsAndSharing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// Small batches, so the kills land in the middle of the replay.
	s.env = append(s.env, "CATALOG_PROJECTOR_BATCH=5")
	s.start(t, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	loadCatalogue(t, s, 21, 900)
	proj := s.start(t, "project")
	waitCaughtUp(t, s)
	want := liveHash(t, s)

	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var total int64
	if err := db.QueryRow(ctx, `select sum(next_offset) from projection_checkpoints where generation = 1`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total < 1000 {
		t.Fatalf("only %d events in the log", total)
	}
	done := func(gen int) int64 {
		var n int64
		_ = db.QueryRow(ctx, `select coalesce(sum(next_offset), 0) from projection_checkpoints where generation = $1`, gen).Scan(&n)
		return n
	}

	s.run(t, "projections", "rebuild", "track-details", "--no-wait")
	last := int64(0)
	for k := 1; k <= 3; k++ {
		testenv.Eventually(t, 2*time.Minute, func() error {
			if n := done(2); n <= last {
				return fmt.Errorf("generation 2 at %d of %d events", n, total)
			}
			return nil
		})
		at := done(2)
		proj.kill(t)
		if at >= total {
			t.Fatalf("kill %d came after the replay had finished (%d of %d)", k, at, total)
		}
		t.Logf("SIGKILL %d with generation 2 at %d of %d events", k, at, total)
		last = done(2)
		proj = s.start(t, "project")
	}
	s.run(t, "projections", "rebuild", "track-details")
	if got := liveHash(t, s); got != want {
		t.Fatalf("after a replay with 3 kills: hash %s, want %s", got, want)
	}
	var stale int64
	if err := db.QueryRow(ctx, `select coalesce(sum(stale), 0) from projection_checkpoints where generation = 2`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d events reached generation 2 twice", stale)
	}

	// Two projector processes share the partitions of generation 3.
	second := s.start(t, "project")
	s.run(t, "projections", "rebuild", "track-details")
	if got := liveHash(t, s); got != want {
		t.Fatalf("after a replay by two projectors: hash %s, want %s", got, want)
	}
	for i, p := range []*proc{proj, second} {
		assigned := false
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, `msg="partition assigned"`) && strings.Contains(line, "group="+s.prefix+"projector.track-details.g3 ") {
				assigned = true
			}
		}
		if !assigned {
			t.Errorf("projector %d was assigned no partition of generation 3", i+1)
		}
	}
}
