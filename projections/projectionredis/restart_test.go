package projectionredis_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/testenv"
)

// TestEntriesOfAnEarlierServerRunAreNotServed: a Redis server restarted
// from an append-only file that lacks its last writes (here: the file as
// it was before the tombstones and newer entries were written, as after a
// lost fsync or a failover to a replica that lagged) brings back entries
// older than PostgreSQL. None of them is served, also to readers that were
// reading all along; the cache starts cold and fills again, and a row read
// before the restart is not filled after it.
func TestEntriesOfAnEarlierServerRunAreNotServed(t *testing.T) {
	testenv.NeedServices(t)
	ctx := context.Background()
	addr, dir := testenv.FreeAddr(t), t.TempDir()
	srv := testenv.StartRedis(t, addr, dir)
	c := newCache(t, projectionredis.Config{Addr: addr, Timeout: time.Second})
	defer c.Close()
	const gen, n = 1, 20
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
		mustFill(t, c, gen, ids[i], 1, []byte("v1"), true)
	}
	// The file as it is now (every write is fsynced before it is answered).
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL moves on to v2: the invalidations and the v2 fills are
	// confirmed by this server, and then lost with it.
	if err := invalidate(c, gen, ids, 2); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mustGet(t, c, gen, id, false, 0, nil)
		mustFill(t, c, gen, id, 2, []byte("v2"), true)
	}
	readBefore := time.Now()
	srv.Kill()

	// Readers keep asking while the server comes back from the old file.
	var (
		stop         atomic.Bool
		wg           sync.WaitGroup
		stale, reads atomic.Int64
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				payload, _, ok, err := c.Get(ctx, gen, ids[i%n])
				if err != nil {
					continue
				}
				reads.Add(1)
				if ok && string(payload) == "v1" {
					stale.Add(1)
				}
			}
		}()
	}
	srv = testenv.StartRedis(t, addr, old)
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	if v, err := raw.Get(ctx, key(t, raw, gen, 1)).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("the new run's key exists (%q, %v)", v, err)
	}
	if keys := raw.Keys(ctx, projectionredis.DefaultPrefix+"1:*").Val(); len(keys) != n {
		t.Fatalf("the restored file holds %d keys, want the %d old entries", len(keys), n)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if reads.Load() < 1000 {
			return errors.New("too few reads since the restart")
		}
		return nil
	})
	stop.Store(true)
	wg.Wait()
	if s := stale.Load(); s > 0 {
		t.Fatalf("%d of %d reads served an entry of the earlier server run", s, reads.Load())
	}
	for _, id := range ids {
		mustGet(t, c, gen, id, false, 0, nil)
	}

	// A row read before the restart is not filled now: an invalidation of
	// a commit after that read may have reached only the earlier run.
	stored, err := c.Fill(ctx, gen, 1, at(rel, 2), []byte("read before"), readBefore)
	if err != nil || stored {
		t.Fatalf("Fill of a row read before the restart: stored=%v err=%v, want refused", stored, err)
	}
	mustFill(t, c, gen, 1, 3, []byte("v3"), true)
	mustGet(t, c, gen, 1, true, 3, []byte("v3"))
}
