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

// assignedTo reports whether a projector process was assigned partitions
// of generation gen (from its log).
func assignedTo(p *proc, s stack, gen int) bool {
	group := fmt.Sprintf("group=%sprojector.track-details.g%d ", s.prefix, gen)
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, `msg="partition assigned"`) && strings.Contains(line, group) {
			return true
		}
	}
	return false
}

// TestReplaySurvivesKillsAndSharing builds each read model (track-details
// and identifiers) three ways and gets one content hash per model: by two
// projector processes sharing the partitions while thousands of events
// arrive; by a replay from offset zero during which the projector is
// killed with SIGKILL at several points and restarted each time; and by
// an uninterrupted replay.
func TestReplaySurvivesKillsAndSharing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// Small batches, so the kills land in the middle of the replay.
	s.env = append(s.env, "CATALOG_PROJECTOR_BATCH=5")
	s.start(t, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	a := s.start(t, "project")
	b := s.startWith(t, []string{"CATALOG_PROJECTOR_ADDR=" + testenv.FreeAddr(t)}, "project")
	testenv.Eventually(t, time.Minute, func() error {
		if !assignedTo(a, s, 1) || !assignedTo(b, s, 1) {
			return fmt.Errorf("both projectors not yet assigned partitions")
		}
		return nil
	})
	loadCatalogue(t, s, 21, 900)
	waitCaughtUp(t, s)

	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	done := func(name string, gen int) int64 {
		var n int64
		_ = db.QueryRow(ctx, `select coalesce(sum(next_offset), 0) from projection_checkpoints where projection = $1 and generation = $2`, name, gen).Scan(&n)
		return n
	}
	var total int64
	if err := db.QueryRow(ctx, `select sum(next_offset) from projection_checkpoints where projection = 'track-details' and generation = 1`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total < 1000 {
		t.Fatalf("only %d events in the log", total)
	}
	hash := func(name string) string { return strings.TrimSpace(s.run(t, "projections", "hash", name)) }
	testenv.Eventually(t, time.Minute, func() error {
		if n := done("identifiers", 1); n != total {
			return fmt.Errorf("identifiers at %d of %d events", n, total)
		}
		return nil
	})
	shared := map[string]string{"track-details": hash("track-details"), "identifiers": hash("identifiers")}
	b.kill(t)

	for _, name := range []string{"track-details", "identifiers"} {
		s.run(t, "projections", "rebuild", name, "--no-wait")
		last := int64(0)
		for k := 1; k <= 3; k++ {
			testenv.Eventually(t, 2*time.Minute, func() error {
				if n := done(name, 2); n <= last {
					return fmt.Errorf("%s generation 2 at %d of %d events", name, n, total)
				}
				return nil
			})
			at := done(name, 2)
			a.kill(t)
			if at >= total {
				t.Fatalf("%s: kill %d came after the replay had finished (%d of %d)", name, k, at, total)
			}
			t.Logf("%s: SIGKILL %d with generation 2 at %d of %d events", name, k, at, total)
			last = done(name, 2)
			a = s.start(t, "project")
		}
		s.run(t, "projections", "rebuild", name)
		if got := hash(name); got != shared[name] {
			t.Fatalf("%s after a replay with 3 kills: hash %s, built by two projectors %s", name, got, shared[name])
		}
		var stale int64
		if err := db.QueryRow(ctx, `select coalesce(sum(stale), 0) from projection_checkpoints where projection = $1 and generation = 2`, name).Scan(&stale); err != nil {
			t.Fatal(err)
		}
		if stale != 0 {
			t.Errorf("%s: %d events reached generation 2 twice", name, stale)
		}

		s.run(t, "projections", "rebuild", name)
		if got := hash(name); got != shared[name] {
			t.Fatalf("%s after an uninterrupted replay: hash %s, built by two projectors %s", name, got, shared[name])
		}
	}
}
