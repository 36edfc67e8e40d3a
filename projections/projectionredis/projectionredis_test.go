package projectionredis_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionredis"
)

// redisAddr is the Redis the tests run against (`make up` starts it).
func redisAddr() string {
	if a := os.Getenv("CATALOG_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:56379"
}

// setup returns a cache on the real Redis, a raw client for inspecting keys
// and a random generation that no other test uses; the generation's keys are
// dropped when the test ends.
func setup(t *testing.T) (*projectionredis.Cache, *redis.Client, int64) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis (make up)")
	}
	raw := redis.NewClient(&redis.Options{Addr: redisAddr()})
	t.Cleanup(func() { raw.Close() })
	if err := raw.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v (start it with `make up`)", redisAddr(), err)
	}
	c := newCache(t, projectionredis.Config{Addr: redisAddr(), Timeout: time.Second})
	gen := newGeneration()
	t.Cleanup(func() {
		if _, err := c.DropGeneration(context.Background(), gen); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		c.Close()
	})
	return c, raw, gen
}

// newCache returns a cache that has reached its Redis server: a fill of a
// row read before the cache reached the server is refused.
func newCache(t *testing.T, cfg projectionredis.Config) *projectionredis.Cache {
	t.Helper()
	c, err := projectionredis.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.Get(context.Background(), 0, 0); err != nil {
		t.Fatalf("Redis at %s: %v", cfg.Addr, err)
	}
	return c
}

// newGeneration returns a random generation far above any real one.
func newGeneration() int64 {
	return 1<<40 + rand.Int64N(1<<40)
}

// key is the Redis key of (gen, track) on the server raw is connected to.
func key(t *testing.T, raw *redis.Client, gen, track int64) string {
	t.Helper()
	info, err := raw.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, run, ok := strings.Cut(info, "run_id:")
	if !ok || len(run) < 16 {
		t.Fatalf("no run_id in INFO server: %q", info)
	}
	return projectionredis.DefaultPrefix + strconv.FormatInt(gen, 10) + ":" + run[:16] + ":" + strconv.FormatInt(track, 10)
}

// rel is the release of the tests that need only one.
const rel = 1

func at(release, version int64) projections.ReleaseVersion {
	return projections.ReleaseVersion{Release: release, Version: version}
}

func mustFill(t *testing.T, c *projectionredis.Cache, gen, track, version int64, payload []byte, want bool) {
	t.Helper()
	mustFillOf(t, c, gen, track, at(rel, version), payload, want)
}

func mustFillOf(t *testing.T, c *projectionredis.Cache, gen, track int64, a projections.ReleaseVersion, payload []byte, want bool) {
	t.Helper()
	stored, err := c.Fill(context.Background(), gen, track, a, payload, time.Now())
	if err != nil {
		t.Fatalf("Fill(%d, %+v): %v", track, a, err)
	}
	if stored != want {
		t.Fatalf("Fill(%d, %+v) stored=%v, want %v", track, a, stored, want)
	}
}

// mustGet asserts the entry of track: wantOK, and when true its version (of
// release rel) and payload.
func mustGet(t *testing.T, c *projectionredis.Cache, gen, track int64, wantOK bool, wantVersion int64, wantPayload []byte) {
	t.Helper()
	mustGetOf(t, c, gen, track, wantOK, at(rel, wantVersion), wantPayload)
}

func mustGetOf(t *testing.T, c *projectionredis.Cache, gen, track int64, wantOK bool, want projections.ReleaseVersion, wantPayload []byte) {
	t.Helper()
	payload, got, ok, err := c.Get(context.Background(), gen, track)
	if err != nil {
		t.Fatalf("Get(%d): %v", track, err)
	}
	if ok != wantOK {
		t.Fatalf("Get(%d) ok=%v (%+v %q), want %v", track, ok, got, payload, wantOK)
	}
	if !ok {
		return
	}
	if got != want || !bytes.Equal(payload, wantPayload) {
		t.Fatalf("Get(%d) = %+v %q, want %+v %q", track, got, payload, want, wantPayload)
	}
}

// invalidate invalidates tracks of release rel at version.
func invalidate(c *projectionredis.Cache, gen int64, tracks []int64, version int64) error {
	m := make(map[int64]projections.ReleaseVersion, len(tracks))
	for _, id := range tracks {
		m[id] = at(rel, version)
	}
	return c.Invalidate(context.Background(), gen, m)
}

func TestFillThenGet(t *testing.T) {
	c, _, gen := setup(t)
	hits0, misses0, errs0 := c.Stats()
	payload := []byte(`{"title":"Blue in Green","isrc":"USSM15900113"}` + "\x00\xff:binary")
	mustFill(t, c, gen, 1, 7, payload, true)
	mustGet(t, c, gen, 1, true, 7, payload)
	mustGet(t, c, gen, 2, false, 0, nil)
	// Another generation is another key.
	mustGet(t, c, gen+1, 1, false, 0, nil)
	// An empty payload is a valid entry.
	mustFill(t, c, gen, 3, 0, nil, true)
	mustGet(t, c, gen, 3, true, 0, []byte{})

	hits, misses, errs := c.Stats()
	hits, misses, errs = hits-hits0, misses-misses0, errs-errs0
	if hits != 2 || misses != 2 || errs != 0 {
		t.Fatalf("Stats = %d hits, %d misses, %d errors; want 2, 2, 0", hits, misses, errs)
	}
}

func TestFillNeverGoesBackwards(t *testing.T) {
	c, _, gen := setup(t)
	mustFill(t, c, gen, 1, 5, []byte("v5"), true)
	mustFill(t, c, gen, 1, 4, []byte("v4"), false)
	mustFill(t, c, gen, 1, 5, []byte("v5 again"), false)
	mustGet(t, c, gen, 1, true, 5, []byte("v5"))
	mustFill(t, c, gen, 1, 6, []byte("v6"), true)
	mustGet(t, c, gen, 1, true, 6, []byte("v6"))
	// Versions compare exactly as integers, not as strings or doubles:
	// 10 > 9, and 2^53+1 > 2^53.
	mustFill(t, c, gen, 2, 9, []byte("v9"), true)
	mustFill(t, c, gen, 2, 10, []byte("v10"), true)
	mustFill(t, c, gen, 2, 9, []byte("v9"), false)
	mustGet(t, c, gen, 2, true, 10, []byte("v10"))
	const big = int64(1) << 53
	mustFill(t, c, gen, 3, big+1, []byte("big+1"), true)
	mustFill(t, c, gen, 3, big, []byte("big"), false)
	mustGet(t, c, gen, 3, true, big+1, []byte("big+1"))
	if _, err := c.Fill(context.Background(), gen, 4, at(rel, -1), nil, time.Now()); err == nil {
		t.Fatal("Fill with a negative version: no error")
	}
}

// TestTombstoneStopsLateFill is the race the tombstone exists for.
func TestTombstoneStopsLateFill(t *testing.T) {
	c, raw, gen := setup(t)
	ctx := context.Background()
	const track = 42
	// The API misses and reads v1 from PostgreSQL...
	mustGet(t, c, gen, track, false, 0, nil)
	readFromPostgres := []byte("v1")
	// ...meanwhile the projector commits v2 and invalidates...
	if err := invalidate(c, gen, []int64{track}, 2); err != nil {
		t.Fatal(err)
	}
	// ...and only then does the API fill what it read: refused.
	mustFill(t, c, gen, track, 1, readFromPostgres, false)
	mustGet(t, c, gen, track, false, 0, nil)
	// The tombstone is short-lived.
	pttl, err := raw.PTTL(ctx, key(t, raw, gen, track)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > projectionredis.MaxTombstoneTTL {
		t.Fatalf("tombstone PTTL = %v, want in (0, %v]", pttl, projectionredis.MaxTombstoneTTL)
	}
	// A reader that read PostgreSQL after the commit fills v2.
	mustFill(t, c, gen, track, 2, []byte("v2"), true)
	mustGet(t, c, gen, track, true, 2, []byte("v2"))

	// The same with an entry already cached at v1.
	mustFill(t, c, gen, track+1, 1, []byte("v1"), true)
	if err := invalidate(c, gen, []int64{track + 1}, 2); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, gen, track+1, false, 0, nil)
	mustFill(t, c, gen, track+1, 1, []byte("v1"), false)
	mustFill(t, c, gen, track+1, 3, []byte("v3"), true)
	mustGet(t, c, gen, track+1, true, 3, []byte("v3"))

	// A later, lower invalidation never lowers a tombstone.
	if err := invalidate(c, gen, []int64{track + 2}, 5); err != nil {
		t.Fatal(err)
	}
	if err := invalidate(c, gen, []int64{track + 2}, 3); err != nil {
		t.Fatal(err)
	}
	mustFill(t, c, gen, track+2, 4, []byte("v4"), false)
	mustFill(t, c, gen, track+2, 5, []byte("v5"), true)
}

func TestInvalidateMany(t *testing.T) {
	c, _, gen := setup(t)
	const n = 1000
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
		v := int64(5) // invalidated
		switch i % 4 {
		case 0:
			v = 20 // newer than the invalidation: survives
		case 1:
			v = 10 // as new as the invalidation: survives
		case 2:
			continue // not cached
		}
		mustFill(t, c, gen, ids[i], v, []byte(fmt.Sprintf("t%d v%d", i, v)), true)
	}
	if err := invalidate(c, gen, ids, 10); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		switch i % 4 {
		case 0:
			mustGet(t, c, gen, id, true, 20, []byte(fmt.Sprintf("t%d v20", i)))
		case 1:
			mustGet(t, c, gen, id, true, 10, []byte(fmt.Sprintf("t%d v10", i)))
		default:
			mustGet(t, c, gen, id, false, 0, nil)
			mustFill(t, c, gen, id, 9, []byte("old"), false)
		}
	}
	// An empty list is a no-op.
	if err := invalidate(c, gen, nil, 10); err != nil {
		t.Fatal(err)
	}
}

func TestEveryKeyHasTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis (make up)")
	}
	ctx := context.Background()
	raw := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer raw.Close()
	const ttl = 10 * time.Minute
	c := newCache(t, projectionredis.Config{Addr: redisAddr(), TTL: ttl, Timeout: time.Second})
	gen := newGeneration()
	defer func() {
		c.DropGeneration(ctx, gen)
		c.Close()
	}()

	check := func(track int64, lo, hi time.Duration) {
		t.Helper()
		pttl, err := raw.PTTL(ctx, key(t, raw, gen, track)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if pttl < lo || pttl > hi {
			t.Fatalf("PTTL(track %d) = %v, want in [%v, %v]", track, pttl, lo, hi)
		}
	}
	mustFill(t, c, gen, 1, 1, []byte("a"), true)
	check(1, ttl-time.Minute, ttl)
	// A fill that stores sets the TTL again.
	if err := raw.PExpire(ctx, key(t, raw, gen, 1), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	mustFill(t, c, gen, 1, 2, []byte("b"), true)
	check(1, ttl-time.Minute, ttl)
	// Tombstones, over an entry and over nothing, get min(TTL, 1m).
	if err := invalidate(c, gen, []int64{1, 2}, 3); err != nil {
		t.Fatal(err)
	}
	check(1, 30*time.Second, time.Minute)
	check(2, 30*time.Second, time.Minute)
	// A fill over a tombstone gets the full TTL.
	mustFill(t, c, gen, 2, 3, []byte("c"), true)
	check(2, ttl-time.Minute, ttl)

	// With a TTL under a minute, tombstones get the TTL.
	short := newCache(t, projectionredis.Config{Addr: redisAddr(), TTL: 5 * time.Second, Timeout: time.Second})
	defer short.Close()
	if err := invalidate(short, gen, []int64{3}, 1); err != nil {
		t.Fatal(err)
	}
	check(3, time.Second, 5*time.Second)
	mustFill(t, short, gen, 4, 1, []byte("d"), true)
	check(4, time.Second, 5*time.Second)
}

func TestDropGeneration(t *testing.T) {
	c, raw, gen := setup(t)
	ctx := context.Background()
	// other's decimal form starts with gen's: the match must not spill over.
	other := gen*10 + 1
	defer c.DropGeneration(ctx, other)
	const n = 2500 // several SCAN batches
	for i := int64(0); i < n; i++ {
		mustFill(t, c, gen, i, 1, []byte("x"), true)
	}
	if err := invalidate(c, gen, []int64{n, n + 1}, 1); err != nil { // two tombstones
		t.Fatal(err)
	}
	for i := int64(0); i < 10; i++ {
		mustFill(t, c, other, i, 1, []byte("y"), true)
		mustFill(t, c, gen+1, i, 1, []byte("z"), true)
	}
	defer c.DropGeneration(ctx, gen+1)

	removed, err := c.DropGeneration(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}
	if removed != n+2 {
		t.Fatalf("DropGeneration removed %d keys, want %d", removed, n+2)
	}
	left, err := raw.Exists(ctx, key(t, raw, gen, 0), key(t, raw, gen, n-1), key(t, raw, gen, n)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d keys of the dropped generation remain", left)
	}
	for i := int64(0); i < 10; i++ {
		mustGet(t, c, other, i, true, 1, []byte("y"))
		mustGet(t, c, gen+1, i, true, 1, []byte("z"))
	}
	removed, err = c.DropGeneration(ctx, gen)
	if err != nil || removed != 0 {
		t.Fatalf("second DropGeneration = %d, %v; want 0, nil", removed, err)
	}
}

// TestRedisDown needs no Redis: it points the cache at ports where none
// answers and expects quick errors, never a hang.
func TestRedisDown(t *testing.T) {
	// A listener that accepts and never answers: a hung Redis.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			cn, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, cn)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, cn := range conns {
			cn.Close()
		}
	}()

	for _, tc := range []struct{ name, addr string }{
		{"closed port", "127.0.0.1:1"},
		{"hung server", hung.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := projectionredis.New(projectionredis.Config{Addr: tc.addr})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close()
			ctx := context.Background()
			const bound = time.Second
			fast := func(op string, f func() error) {
				t.Helper()
				var slowest time.Duration
				defer func() { t.Logf("%s: slowest of 3 calls %v", op, slowest) }()
				for i := 0; i < 3; i++ {
					start := time.Now()
					err := f()
					elapsed := time.Since(start)
					slowest = max(slowest, elapsed)
					if err == nil {
						t.Fatalf("%s: no error", op)
					}
					if elapsed > bound {
						t.Fatalf("%s took %v (err %v), want under %v", op, elapsed, err, bound)
					}
				}
			}
			fast("Get", func() error {
				_, _, ok, err := c.Get(ctx, 1, 1)
				if ok {
					t.Fatal("Get: ok with Redis down")
				}
				return err
			})
			fast("Fill", func() error {
				stored, err := c.Fill(ctx, 1, 1, at(rel, 1), []byte("x"), time.Now())
				if stored {
					t.Fatal("Fill: stored with Redis down")
				}
				return err
			})
			fast("Invalidate", func() error { return invalidate(c, 1, []int64{1, 2, 3}, 1) })
			if _, _, errs := c.Stats(); errs != 3 {
				t.Fatalf("Stats errors = %d, want 3", errs)
			}
		})
	}
}

func TestConcurrentFillsKeepHighest(t *testing.T) {
	c, _, gen := setup(t)
	const track = 7
	versions := make([]int64, 50)
	var highest int64
	for i := range versions {
		versions[i] = rand.Int64N(1_000_000)
		highest = max(highest, versions[i])
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, len(versions))
	)
	for _, v := range versions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.Fill(context.Background(), gen, track, at(rel, v), []byte("v"+strconv.FormatInt(v, 10)), time.Now()); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustGet(t, c, gen, track, true, highest, []byte("v"+strconv.FormatInt(highest, 10)))
}

func TestNewValidates(t *testing.T) {
	if _, err := projectionredis.New(projectionredis.Config{}); err == nil {
		t.Fatal("New without Addr: no error")
	}
	if _, err := projectionredis.New(projectionredis.Config{Addr: "127.0.0.1:1", Timeout: -1}); err == nil {
		t.Fatal("New with a negative Timeout: no error")
	}
}
