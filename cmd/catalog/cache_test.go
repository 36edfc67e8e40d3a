package main_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/testenv"
)

// cacheStack is a stack on a Redis server of the test's own (which the
// test pauses; the shared one is never touched), with a helper that reads
// a track's release title through the API.
func cacheStack(t *testing.T) (stack, *testenv.Redis, *pgx.Conn) {
	t.Helper()
	s := newStack(t)
	r := testenv.StartRedis(t, testenv.FreeAddr(t), t.TempDir())
	s.env = append(s.env, "CATALOG_REDIS_ADDR="+r.Addr)
	db, err := pgx.Connect(ctxT(t), s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return s, r, db
}

func servedTitle(t *testing.T, s stack, id int64) string {
	t.Helper()
	status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, id))
	if status != http.StatusOK {
		return fmt.Sprintf("status %d", status)
	}
	return parse(t, body).Track.Release.Title
}

// projectedVersion is the release version the read model holds for track id.
func projectedVersion(t *testing.T, db *pgx.Conn, id int64) int64 {
	t.Helper()
	var v int64
	_ = db.QueryRow(ctxT(t), `select coalesce(max(r.version), 0) from td.tracks t join td.releases r on r.release_id = t.release_id
		where t.track_id = $1`, id).Scan(&v)
	return v
}

// cacheV1 delivers release 7 at v1 and reads its first track until the API
// answers it (and so has cached it).
func cacheV1(t *testing.T, s stack) int64 {
	t.Helper()
	// The API of `catalog dev` may start listening after ingest has already
	// confirmed the delivery.
	waitHTTP(t, "http://"+s.api+"/healthz")
	id := deliver(t, s.ingest, restartRelease(7, 1)).TrackIDs["GBRST0000014"]
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := servedTitle(t, s, id); got != "Release 7 v1" {
			return fmt.Errorf("title %q", got)
		}
		return nil
	})
	servedTitle(t, s, id) // a fill may have raced the first answer
	return id
}

// TestCacheFreshAfterRedisWritePause: an update is projected while Redis
// refuses writes (CLIENT PAUSE WRITE), so the invalidation after the commit
// times out; once Redis accepts writes again the API answers the update,
// instead of the cached entry until its one-hour TTL.
func TestCacheFreshAfterRedisWritePause(t *testing.T) {
	t.Parallel()
	s, r, db := cacheStack(t)
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	id := cacheV1(t, s)

	const pause = 5 * time.Second
	r.Do(t, "CLIENT", "PAUSE", pause.Milliseconds(), "WRITE")
	paused := time.Now()
	deliver(t, s.ingest, restartRelease(7, 2))
	testenv.Eventually(t, 30*time.Second, func() error {
		if v := projectedVersion(t, db, id); v != 2 {
			return fmt.Errorf("read model at v%d", v)
		}
		return nil
	})
	if time.Since(paused) > pause-time.Second {
		t.Fatalf("the update was projected %v after the pause began, too late for a pause of %v", time.Since(paused), pause)
	}
	testenv.Eventually(t, pause+20*time.Second, func() error {
		if got := servedTitle(t, s, id); got != "Release 7 v2" {
			return fmt.Errorf("after the pause the API serves %q", got)
		}
		return nil
	})
}

// TestPendingInvalidationSurvivesProjectorSIGKILL: the projector commits an
// update while Redis refuses writes, so its invalidation cannot be sent,
// and is killed with SIGKILL before Redis accepts writes again. The
// restarted projector sends it: the API answers the update.
func TestPendingInvalidationSurvivesProjectorSIGKILL(t *testing.T) {
	t.Parallel()
	s, r, db := cacheStack(t)
	s.start(t, "ingest")
	s.start(t, "api")
	projector := s.start(t, "project")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.projector+"/healthz")
	id := cacheV1(t, s)

	r.Do(t, "CLIENT", "PAUSE", 120_000, "WRITE")
	deliver(t, s.ingest, restartRelease(7, 2))
	testenv.Eventually(t, 30*time.Second, func() error {
		if v := projectedVersion(t, db, id); v != 2 {
			return fmt.Errorf("read model at v%d", v)
		}
		return nil
	})
	projector.kill(t)
	r.Do(t, "CLIENT", "UNPAUSE")
	if got := servedTitle(t, s, id); got != "Release 7 v1" {
		t.Fatalf("before the projector restarts the API serves %q; the test wants the cached v1", got)
	}

	s.start(t, "project")
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := servedTitle(t, s, id); got != "Release 7 v2" {
			return fmt.Errorf("after the projector's restart the API serves %q", got)
		}
		return nil
	})
}
