package projectionredis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/testenv"
)

// pushBound is how long after a write to a key the tests allow a reader's
// local cache to serve the key's old entry: the invalidation push's trip
// on loopback plus go-redis's drain interval of idle connections (5ms),
// with room for a loaded test machine.
const pushBound = 250 * time.Millisecond

// localStack is a private Redis server (the tests kill, pause and flush
// it), a reader with a local cache whose MaxStaleness is far above the
// test's bounds (so what the tests see is the invalidations at work), a
// writer without one, and a raw client.
func localStack(t *testing.T, local projectionredis.LocalConfig) (*testenv.Redis, *projectionredis.Cache, *projectionredis.Cache, *redis.Client) {
	t.Helper()
	testenv.NeedServices(t)
	srv := testenv.StartRedis(t, testenv.FreeAddr(t), t.TempDir())
	if local.MaxStaleness == 0 {
		local.MaxStaleness = time.Hour
	}
	reader := newCache(t, projectionredis.Config{Addr: srv.Addr, Timeout: 200 * time.Millisecond, Local: &local})
	t.Cleanup(func() { reader.Close() })
	writer := newCache(t, projectionredis.Config{Addr: srv.Addr, Timeout: time.Second})
	t.Cleanup(func() { writer.Close() })
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { raw.Close() })
	return srv, reader, writer, raw
}

// getCalls is how many GETs the server has run.
func getCalls(t *testing.T, raw *redis.Client) int64 {
	t.Helper()
	info, err := raw.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_get:calls="); ok {
			n, _ := strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
			return n
		}
	}
	return 0
}

// within fails the test unless cond holds within bound.
func within(t *testing.T, bound time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, bound, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// served is what reader answers for track: "v<version>:<payload>", "miss"
// or "error".
func served(c *projectionredis.Cache, gen, track int64) string {
	payload, at, ok, err := c.Get(context.Background(), gen, track)
	switch {
	case err != nil:
		return "error"
	case !ok:
		return "miss"
	}
	return fmt.Sprintf("v%d:%s", at.Version, payload)
}

func want(c *projectionredis.Cache, gen, track int64, w string) func() error {
	return func() error {
		if got := served(c, gen, track); got != w {
			return fmt.Errorf("track %d served %q, want %q", track, got, w)
		}
		return nil
	}
}

// TestLocalHitsNeedNoRoundTrip: once read, an entry is served from the
// process without a GET reaching the server.
func TestLocalHitsNeedNoRoundTrip(t *testing.T) {
	_, reader, writer, raw := localStack(t, projectionredis.LocalConfig{})
	const gen = 1
	mustFill(t, writer, gen, 1, 1, []byte("v1"), true)
	mustGet(t, reader, gen, 1, true, 1, []byte("v1"))
	before := getCalls(t, raw)
	for i := 0; i < 1000; i++ {
		mustGet(t, reader, gen, 1, true, 1, []byte("v1"))
	}
	if n := getCalls(t, raw) - before; n != 0 {
		t.Fatalf("1000 reads of a locally cached entry sent %d GETs", n)
	}
	// The entry, and newCache's probe of (0, 0), a cached miss.
	if n := reader.LocalLen(); n != 2 {
		t.Fatalf("local cache holds %d entries, want 2", n)
	}
}

// TestLocalEntriesFollowEveryWrite: after the projector's Invalidate, a
// newer Fill, DropGeneration, an expiry and FLUSHDB, no reader serves the
// old entry beyond pushBound, and it serves the new one.
func TestLocalEntriesFollowEveryWrite(t *testing.T) {
	_, reader, writer, raw := localStack(t, projectionredis.LocalConfig{})
	ctx := context.Background()
	const gen = 1
	ids := []int64{1, 2, 3, 4, 5}
	for _, id := range ids {
		mustFill(t, writer, gen, id, 1, []byte("v1"), true)
		mustGet(t, reader, gen, id, true, 1, []byte("v1"))
	}

	// Invalidate (the projector's script): a tombstone, then a fill of v2.
	if err := invalidate(writer, gen, ids[:2], 2); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:2] {
		within(t, pushBound, "after Invalidate", want(reader, gen, id, "miss"))
		mustFill(t, writer, gen, id, 2, []byte("v2"), true)
		within(t, pushBound, "after the fill of v2", want(reader, gen, id, "v2:v2"))
	}
	// A fill of a newer version over an entry.
	mustFill(t, writer, gen, 3, 3, []byte("v3"), true)
	within(t, pushBound, "after a newer fill", want(reader, gen, 3, "v3:v3"))

	// DropGeneration.
	if _, err := writer.DropGeneration(ctx, gen); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		within(t, pushBound, "after DropGeneration", want(reader, gen, id, "miss"))
	}

	// Expiry: a key Redis expires is invalidated too.
	mustFill(t, writer, gen, 1, 4, []byte("v4"), true)
	within(t, pushBound, "after a fill", want(reader, gen, 1, "v4:v4"))
	k := key(t, raw, gen, 1)
	if err := raw.PExpire(ctx, k, 20*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Millisecond+pushBound+100*time.Millisecond, "after expiry", want(reader, gen, 1, "miss"))

	// FLUSHDB empties the local cache.
	mustFill(t, writer, gen, 2, 5, []byte("v5"), true)
	within(t, pushBound, "after a fill", want(reader, gen, 2, "v5:v5"))
	if err := raw.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	within(t, pushBound, "after FLUSHDB", want(reader, gen, 2, "miss"))
	within(t, pushBound, "after FLUSHDB", func() error {
		if n := reader.LocalLen(); n > 1 {
			return fmt.Errorf("local cache holds %d entries", n)
		}
		return nil
	})
}

// TestLocalCacheEmptiedWhenConnectionsDrop: CLIENT KILL of the reader's
// connections, and a killed server, empty its local cache within
// pushBound, before anything could have written the keys unseen; after a
// CLIENT KILL it reads from the server again.
func TestLocalCacheEmptiedWhenConnectionsDrop(t *testing.T) {
	srv, reader, writer, raw := localStack(t, projectionredis.LocalConfig{})
	ctx := context.Background()
	const gen, n = 1, 50
	fillAll := func(version int64) {
		for id := int64(1); id <= n; id++ {
			p := []byte("v" + strconv.FormatInt(version, 10))
			mustFill(t, writer, gen, id, version, p, true)
			within(t, pushBound, "after a fill", want(reader, gen, id, fmt.Sprintf("v%d:v%d", version, version)))
		}
	}
	empty := func() error {
		if l := reader.LocalLen(); l != 0 {
			return fmt.Errorf("local cache holds %d entries", l)
		}
		return nil
	}
	fillAll(1)
	if l := reader.LocalLen(); l < n {
		t.Fatalf("local cache holds %d entries, want at least %d", l, n)
	}
	// Every normal connection but raw's: the reader's and the writer's.
	if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	within(t, pushBound, "after CLIENT KILL", empty)
	// Written while the reader had no connection: read anew.
	mustFill(t, writer, gen, 1, 2, []byte("v2"), true)
	within(t, pushBound, "after CLIENT KILL and a fill", want(reader, gen, 1, "v2:v2"))

	fillAll(3)
	srv.Kill()
	within(t, pushBound, "after the server was killed", empty)
	for id := int64(1); id <= n; id++ {
		if got := served(reader, gen, id); got != "error" {
			t.Fatalf("with the server down track %d served %q", id, got)
		}
	}
}

// TestPausedServerBoundedByMaxSilence: a stopped server (SIGSTOP) keeps
// its connections open and so evicts nothing; no entry is served from the
// local cache longer than MaxSilence after the pause began (nor than
// MaxStaleness after it was fetched), after which reads go to the server
// and fail over to the caller's fallback.
func TestPausedServerBoundedByMaxSilence(t *testing.T) {
	const silence = 100 * time.Millisecond
	_, reader, writer, raw := localStack(t, projectionredis.LocalConfig{MaxSilence: silence})
	ctx := context.Background()
	const gen = 1
	mustFill(t, writer, gen, 1, 1, []byte("v1"), true)
	mustGet(t, reader, gen, 1, true, 1, []byte("v1"))
	info, err := raw.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(info, "process_id:")
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	var last time.Time
	hits := 0
	for time.Since(paused) < silence+time.Second {
		now := time.Now()
		if served(reader, gen, 1) == "v1:v1" {
			last = now
			hits++
		}
	}
	if hits == 0 {
		t.Fatal("the entry was not served locally at all after the pause began")
	}
	if d := last.Sub(paused); d > silence {
		t.Fatalf("with the server paused the entry was served %v after the pause began, MaxSilence %v", d, silence)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "after SIGCONT", want(reader, gen, 1, "v1:v1"))
}

// TestLocalCacheBounded: the local cache holds at most MaxEntries entries
// and about MaxBytes of them.
func TestLocalCacheBounded(t *testing.T) {
	_, reader, writer, _ := localStack(t, projectionredis.LocalConfig{MaxEntries: 200, MaxBytes: 1 << 30})
	const gen = 1
	payload := []byte(strings.Repeat("x", 1000))
	for id := int64(1); id <= 1000; id++ {
		mustFill(t, writer, gen, id, 1, payload, true)
		mustGet(t, reader, gen, id, true, 1, payload)
	}
	if n := reader.LocalLen(); n == 0 || n > 200 {
		t.Fatalf("local cache holds %d entries, MaxEntries 200", n)
	}

	_, reader, writer, _ = localStack(t, projectionredis.LocalConfig{MaxBytes: 160 << 10})
	for id := int64(1); id <= 1000; id++ {
		mustFill(t, writer, gen, id, 1, payload, true)
		mustGet(t, reader, gen, id, true, 1, payload)
	}
	// 160 KiB of 1 KB entries (and their keys and bookkeeping): under 160.
	if n := reader.LocalLen(); n == 0 || n >= 160 {
		t.Fatalf("local cache holds %d entries of 1 KB, MaxBytes 160 KiB", n)
	}
}

// TestMaxStalenessBoundsAnEntry: an entry no write touched is fetched
// from the server again after MaxStaleness.
func TestMaxStalenessBoundsAnEntry(t *testing.T) {
	const staleness = 200 * time.Millisecond
	_, reader, writer, raw := localStack(t, projectionredis.LocalConfig{MaxStaleness: staleness})
	const gen = 1
	mustFill(t, writer, gen, 1, 1, []byte("v1"), true)
	mustGet(t, reader, gen, 1, true, 1, []byte("v1"))
	before := getCalls(t, raw)
	start := time.Now()
	for time.Since(start) < 3*staleness+staleness/2 {
		mustGet(t, reader, gen, 1, true, 1, []byte("v1"))
	}
	if n := getCalls(t, raw) - before; n < 2 || n > 5 {
		t.Fatalf("%v of reads with MaxStaleness %v sent %d GETs, want 3 or so", 3*staleness+staleness/2, staleness, n)
	}
}

// TestLocalEntriesOfAnEarlierServerRunAreNotServed is
// TestEntriesOfAnEarlierServerRunAreNotServed's scenario with a local
// cache: a server restarted from a file that lacks its last writes does
// not bring back an older entry through the local cache either.
func TestLocalEntriesOfAnEarlierServerRunAreNotServed(t *testing.T) {
	testenv.NeedServices(t)
	addr, dir := testenv.FreeAddr(t), t.TempDir()
	srv := testenv.StartRedis(t, addr, dir)
	reader := newCache(t, projectionredis.Config{Addr: addr, Timeout: time.Second,
		Local: &projectionredis.LocalConfig{MaxStaleness: time.Hour}})
	defer reader.Close()
	writer := newCache(t, projectionredis.Config{Addr: addr, Timeout: time.Second})
	defer writer.Close()
	const gen, n = 1, 20
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
		mustFill(t, writer, gen, ids[i], 1, []byte("v1"), true)
		mustGet(t, reader, gen, ids[i], true, 1, []byte("v1"))
	}
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := invalidate(writer, gen, ids, 2); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		within(t, pushBound, "after Invalidate", want(reader, gen, id, "miss"))
		mustFill(t, writer, gen, id, 2, []byte("v2"), true)
		within(t, pushBound, "after the fill of v2", want(reader, gen, id, "v2:v2"))
	}
	srv.Kill()
	srv = testenv.StartRedis(t, addr, old)
	_ = srv
	stale := 0
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, id := range ids {
			if got := served(reader, gen, id); got == "v1:v1" {
				stale++
			}
		}
		if got := served(reader, gen, 1); got != "miss" {
			return fmt.Errorf("track 1 served %q after the restart, want a miss", got)
		}
		return nil
	})
	if stale > 0 {
		t.Fatalf("%d reads served an entry of the earlier server run", stale)
	}
	// The writer learns the new run at its first command after the
	// restart, which is discarded.
	testenv.Eventually(t, 10*time.Second, func() error {
		_, _, _, err := writer.Get(context.Background(), gen, 1)
		return err
	})
	mustFill(t, writer, gen, 1, 3, []byte("v3"), true)
	within(t, pushBound, "after a fill", want(reader, gen, 1, "v3:v3"))
}

// TestOwnFillServedAtOnce: a reader that missed and filled the key serves
// the entry at its next Get, without waiting for the fill's invalidation
// of its cached miss.
func TestOwnFillServedAtOnce(t *testing.T) {
	_, reader, _, _ := localStack(t, projectionredis.LocalConfig{})
	const gen = 1
	for id := int64(1); id <= 200; id++ {
		mustGet(t, reader, gen, id, false, 0, nil)
		mustFill(t, reader, gen, id, 1, []byte("v1"), true)
		mustGet(t, reader, gen, id, true, 1, []byte("v1"))
	}
}

// BenchmarkGetHot is a hot entry's Get on the shared Redis, with and
// without the local cache.
func BenchmarkGetHot(b *testing.B) {
	if testing.Short() {
		b.Skip("needs Redis")
	}
	payload := []byte(strings.Repeat("x", 900))
	for _, local := range []bool{false, true} {
		name := "redis"
		cfg := projectionredis.Config{Addr: redisAddr(), Timeout: time.Second}
		if local {
			name = "local"
			cfg.Local = &projectionredis.LocalConfig{}
		}
		b.Run(name, func(b *testing.B) {
			c, err := projectionredis.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			gen := newGeneration()
			defer c.DropGeneration(ctx, gen)
			const keys = 1000
			for id := int64(1); id <= keys; id++ {
				if _, _, _, err := c.Get(ctx, gen, id); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Fill(ctx, gen, id, at(rel, 1), payload, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for i := int64(0); pb.Next(); i++ {
					if _, _, ok, err := c.Get(ctx, gen, 1+i%keys); err != nil || !ok {
						b.Errorf("Get: ok=%v err=%v", ok, err)
						return
					}
				}
			})
		})
	}
}
