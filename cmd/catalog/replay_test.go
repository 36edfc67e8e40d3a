package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/testenv"
)

// assignedTo reports whether a projector process was assigned partitions
// of generation gen (from its log).
func assignedTo(p *proc, s stack, name string, gen int) bool {
	group := fmt.Sprintf("group=%sprojector.%s.g%d ", s.prefix, name, gen)
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, `msg="partition assigned"`) && strings.Contains(line, group) {
			return true
		}
	}
	return false
}

// TestReplaySurvivesKillsAndSharing builds the read model three ways and
// gets one content hash: by two projector processes sharing the
// partitions while thousands of events arrive; by a replay from offset
// zero during which the projector is killed with SIGKILL at several points
// and restarted each time; and by an uninterrupted replay. It runs for
// every registered projection.
func TestReplaySurvivesKillsAndSharing(t *testing.T) {
	t.Parallel()
	for _, name := range registeredProjections(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testReplaySurvivesKillsAndSharing(t, name)
		})
	}
}

func testReplaySurvivesKillsAndSharing(t *testing.T, name string) {
	s := newStack(t)
	// Small batches, so the kills land in the middle of the replay.
	s.env = append(s.env, "CATALOG_PROJECTOR_BATCH=5")
	s.start(t, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	a := s.start(t, "project")
	b := s.startWith(t, []string{"CATALOG_PROJECTOR_ADDR=" + testenv.FreeAddr(t)}, "project")
	testenv.Eventually(t, time.Minute, func() error {
		if !assignedTo(a, s, name, 1) || !assignedTo(b, s, name, 1) {
			return fmt.Errorf("both projectors not yet assigned partitions")
		}
		return nil
	})
	loadCatalogue(t, s, 21, 900)
	waitCaughtUp(t, s, name)
	shared := liveHash(t, s, name)
	b.kill(t)

	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var total int64
	if err := db.QueryRow(ctx, `select sum(next_offset) from projection_checkpoints where projection = $1 and generation = 1`, name).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total < 1000 {
		t.Fatalf("only %d events in the log", total)
	}
	done := func(gen int) int64 {
		var n int64
		_ = db.QueryRow(ctx, `select coalesce(sum(next_offset), 0) from projection_checkpoints where projection = $1 and generation = $2`, name, gen).Scan(&n)
		return n
	}

	s.run(t, "projections", "rebuild", name, "--no-wait")
	last := int64(0)
	for k := 1; k <= 3; k++ {
		testenv.Eventually(t, 2*time.Minute, func() error {
			if n := done(2); n <= last {
				return fmt.Errorf("generation 2 at %d of %d events", n, total)
			}
			return nil
		})
		at := done(2)
		a.kill(t)
		if at >= total {
			t.Fatalf("kill %d came after the replay had finished (%d of %d)", k, at, total)
		}
		t.Logf("SIGKILL %d with generation 2 at %d of %d events", k, at, total)
		last = done(2)
		a = s.start(t, "project")
	}
	s.run(t, "projections", "rebuild", name)
	if got := liveHash(t, s, name); got != shared {
		t.Fatalf("after a replay with 3 kills: hash %s, built by two projectors %s", got, shared)
	}
	var stale int64
	if err := db.QueryRow(ctx, `select coalesce(sum(stale), 0) from projection_checkpoints where projection = $1 and generation = 2`, name).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d events reached generation 2 twice", stale)
	}

	s.run(t, "projections", "rebuild", name)
	if got := liveHash(t, s, name); got != shared {
		t.Fatalf("after an uninterrupted replay: hash %s, built by two projectors %s", got, shared)
	}
}
