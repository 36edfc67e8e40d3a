// Package projectionredis is the hot-entry cache of the track-details read
// model, kept in Redis in front of PostgreSQL.
//
// The catalogue API reads a track's details from the cache first and falls
// back to PostgreSQL on a miss or an error; after a PostgreSQL read it calls
// Fill. The projector, after committing a batch to PostgreSQL, calls
// Invalidate for the tracks the batch changed. After a rebuild swaps read
// model generations, DropGeneration clears the old one.
//
// # Key layout
//
// One key per (generation, Redis server run, track):
//
//	<Prefix><generation>:<run>:<trackID>   e.g. catalog:td:7:3f9a0c1b2d4e5f60:12345
//
// generation and trackID in decimal; <run> is the first 16 hex digits of
// the run_id of the Redis server process the key was written to (see
// "Restarts and failovers"). The generation sits between two separators,
// so the pattern "catalog:td:7:*" that DropGeneration scans never matches
// a key of generation 71.
//
// # Value layout
//
// Each key holds a single Redis string (one GET per read, no per-field
// overhead of a hash):
//
//	v<release>:<version>:<payload>  an entry: the payload bytes as stored by
//	                                Fill, read from the row of release
//	                                <release> at release version <version>
//	t<release>:<version>:           a tombstone left by Invalidate
//	x                               a conflict tombstone: invalidations of
//	                                two different releases met in this key
//
// <release> and <version> are canonical decimal forms of non-negative int64s
// (no sign, no leading zeros). The Lua scripts compare releases as strings
// (equal strings, equal numbers) and versions as digit strings (shorter is
// smaller, then digit by digit), never as Lua numbers, so the comparison is
// exact over the whole int64 range (Lua numbers are doubles and lose
// precision above 2^53). Negative numbers are rejected. A value of any
// other form (or a key of another type) is treated as absent and
// overwritten.
//
// # TTL and eviction
//
// Every write sets an expiry: an entry gets Config.TTL (default one hour),
// set again by each Fill that stores; a tombstone gets min(TTL, 1 minute).
// No key is ever written without one. Memory is further bounded by Redis's
// maxmemory with the allkeys-lru policy (the local Redis runs with
// --maxmemory 256mb --maxmemory-policy allkeys-lru): under pressure Redis
// evicts the least recently used keys, which are the cold entries (and the
// keys of an earlier server run, which nothing reads); an evicted entry is
// only a miss, answered from PostgreSQL and filled again.
//
// # Why entries cannot go backwards
//
// Both writers go through a Lua script that compares and writes atomically
// (Redis runs a script with no other command interleaved). A track's
// versions are only ever compared within one release: a legacy track id
// that several releases carry (docs/events.md) has versions of each, which
// say nothing about one another.
//
//   - Fill(release R, version v) stores when the key is absent, or holds an
//     entry of R at a version LOWER than v, or a tombstone of R at a
//     version LOWER THAN OR EQUAL to v. It is refused over an entry or a
//     tombstone of another release and over a conflict tombstone: the
//     filler cannot tell which of two releases is newer, and an entry of
//     the other release is replaced only by an invalidation. A replay, a
//     duplicate fill or a slow API reader holding an older PostgreSQL row
//     therefore never replaces a newer entry.
//   - Invalidate(R, v), per key: an entry or tombstone of R at a version
//     lower than v, and an absent key, get a tombstone of R at v; one of R
//     at a higher or equal version is left alone (it is already at least
//     as new); an entry or tombstone of another release, or a conflict
//     tombstone, becomes a conflict tombstone (its expiry set again), which
//     refuses every fill until it expires.
//
// The tombstone closes the race between an API reader and the projector: the
// reader reads v1 from PostgreSQL, the projector commits v2 and invalidates,
// and only then does the reader call Fill(v1). Without a tombstone the key
// would be absent and v1 would be stored until its TTL; with it, Fill(v1) is
// refused, while a reader that read PostgreSQL after the commit fills v2.
// The conflict tombstone does the same when the reader's row and the
// commit are of different releases, in either order of arrival: an
// ordinary tombstone of the later-arriving invalidation's release would
// let a late fill of that release in even when the other release's commit
// was the newer one. It costs reads of PostgreSQL for that track for a
// minute, only for tracks that two releases carry.
// The guarantee holds as long as the tombstone lives, so Fill refuses a row
// read longer ago than a tombstone lives (one minute, far above the API's
// deadlines); a tombstone evicted under memory pressure (it is freshly
// written, so among the last keys LRU would pick) could still let an older
// version in, which the entry's own TTL then bounds.
//
// # Restarts and failovers
//
// A Redis server that restarts loads its append-only file (or snapshot),
// which can hold entries older than PostgreSQL: tombstones it acknowledged
// but had not yet written to disk are lost, and a promoted replica lacks
// what it had not replicated. Entries of an earlier server process are
// therefore never read: every key names the run_id of the server it was
// written to, and the cache starts cold on a server with a new run_id.
//
// The client learns the run_id in go-redis's OnConnect hook, with INFO
// server, before it sends any other command on that connection; every
// connection to a restarted server is a new one, so the new run_id is
// known before any command reads from it. A command builds its key with
// the run_id known when it starts and its result is discarded (Get: a
// miss; Fill: not stored; Invalidate: an error, so it is retried) when
// the known run_id changed while it ran; a connection whose set-up
// overlapped such a change is closed. A Fill of a row read from
// PostgreSQL before this client reached the current server is refused:
// the invalidations of commits after that read may have been confirmed by
// the previous server alone. This is exact as long as one server
// process at a time answers at Addr (a standalone server and its
// restarts; a failover that moves Addr to the promoted replica and closes
// the old connections): a command that ran on a new server's connection
// after starting with the old run_id always sees the change.
//
// # Failure
//
// The client dials, reads and writes with Config.Timeout (default 50ms),
// dials once and never retries a command, and every Get, Fill and Invalidate
// runs under a deadline of three times Timeout. When Redis is down or slow
// the caller gets an error quickly and answers from PostgreSQL. New does not
// contact Redis, so it succeeds while Redis is down. The projector retries
// a failed Invalidate until it succeeds (projections.Invalidations); the
// scripts never fail on what a key holds, so only Redis being down, slow,
// paused or refusing writes makes them fail.
//
// # Local cache
//
// With Config.Local set, the client keeps the entries it reads in a bounded
// in-process cache (go-redis's client-side caching: RESP3 CLIENT TRACKING on
// every pooled connection, the server pushes an "invalidate" for a key the
// connection read once the key changes), so a hot Get needs no round trip.
// Every write to a key reaches it: Fill and Invalidate (scripts, from any
// process), DropGeneration's UNLINK, expiry, eviction under maxmemory, and
// FLUSHDB/FLUSHALL (which empty the local cache). What go-redis guarantees,
// and this package relies on:
//
//   - A push is applied when the connection carrying it is next read: at
//     its next command, or within Local's drain interval (5ms) while it is
//     idle in the pool. An entry therefore outlives a write to its key by
//     the push's trip to this process plus at most the drain interval.
//   - A connection the pool removes (a read error, a server that closed
//     it, a dead server, CLIENT KILL) takes every entry it fetched with it:
//     only that connection would have received their invalidations.
//   - No entry is served longer than LocalConfig.MaxStaleness after it was
//     fetched, whatever happened to its invalidation.
//   - It is bounded by MaxEntries and MaxBytes (the least recently used
//     entries go first, approximately).
//
// go-redis cannot tell a server that is paused (SIGSTOP, a stalled host)
// from an idle one: the connections stay open, so nothing is evicted,
// while the projector's Invalidate cannot land either. The cache therefore
// pings the server every LocalConfig.MaxSilence/5 and serves local entries
// only while the server answered a ping sent within the last MaxSilence;
// when it has not, the first Get empties the local cache and every Get
// goes to the server again (and, while it is paused, times out and falls
// back to PostgreSQL as without the local cache; what the server does
// answer is fresh, and kept again). An entry whose key a paused server
// could not invalidate is so served at most MaxSilence after the pause
// began (and after the write was due), and as soon as the server answers
// again its pending invalidations arrive. go-redis has no such liveness
// check of its own, hence the ping loop here.
//
// A Fill that stores drops this client's own copy of the key at once (the
// miss that led to it, usually), so the filling process serves the entry
// at its next Get rather than after the push.
//
// Entries are keyed by the Redis key, which names the server run, so an
// entry of an earlier server run is never read either (see "Restarts and
// failovers"). Tombstones are cached as what they are: a miss.
//
// Invalidate sends one EVALSHA naming up to 256 keys, so all keys of a call
// must live on one Redis server: the package targets a standalone Redis (or
// a primary with replicas), not Redis Cluster.
package projectionredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/catalog-org/catalog/projections"
)

// Defaults applied by New to the zero fields of Config.
const (
	DefaultTTL     = time.Hour
	DefaultTimeout = 50 * time.Millisecond
	DefaultPrefix  = "catalog:td:"
	// MaxTombstoneTTL caps how long a tombstone lives.
	MaxTombstoneTTL = time.Minute
)

// scanBatch is the COUNT hint of each SCAN and so roughly the size of each
// UNLINK in DropGeneration.
const scanBatch = 1000

// runLen is how many hex digits of the server's run_id a key carries: 64
// bits, so two server runs share a tag with probability 2^-64.
const runLen = 16

// Config configures the cache.
type Config struct {
	// Addr is the Redis server as host:port, when Conn is nil.
	Addr string
	// Conn, when set, locates Redis instead of Addr: its addresses,
	// credentials, TLS and Sentinel master (MasterName: the master the
	// Sentinels at Addrs name). Its timeouts are replaced by Timeout.
	Conn *redis.UniversalOptions
	// TTL is the expiry of every entry, set again on each Fill that stores.
	// Default 1h.
	TTL time.Duration
	// Timeout is the per-operation deadline for dialing, reading and
	// writing; a slower Redis is treated as down. Default 50ms.
	Timeout time.Duration
	// Prefix starts every key. Default "catalog:td:".
	Prefix string
	// Instrument, when set, is given the client once it is built, to add
	// hooks to it (redisotel's tracing).
	Instrument func(redis.UniversalClient) error
	// Local, when set, keeps the entries Get reads in a bounded in-process
	// cache kept coherent by the server's invalidation pushes (see "Local
	// cache"). For readers; a client that only fills or invalidates has no
	// use for it. Only with a standalone server and database 0: go-redis
	// does not offer it on a client that follows Sentinels
	// (Conn.MasterName) nor on another database.
	Local *LocalConfig
}

// LocalConfig bounds the local cache of Config.Local.
type LocalConfig struct {
	// MaxEntries caps how many entries it holds. Default 100,000.
	MaxEntries int
	// MaxBytes caps their estimated memory. Default 256 MiB. go-redis
	// shards the cache 16 ways, so an entry larger than MaxBytes/16 is
	// never held locally.
	MaxBytes int64
	// MaxStaleness caps how long an entry is served after it was fetched,
	// whatever became of its invalidation: a backstop for an invalidation
	// go-redis lost. Each hot entry is fetched again once per MaxStaleness.
	// Default 30s.
	MaxStaleness time.Duration
	// MaxSilence is how long after the last ping the server answered the
	// local cache is still served (see "Local cache"). Default 250ms.
	MaxSilence time.Duration
}

// Defaults of LocalConfig.
const (
	DefaultLocalMaxEntries   = 30_000
	DefaultLocalMaxBytes     = 48 << 20
	DefaultLocalMaxStaleness = 30 * time.Second
	DefaultLocalMaxSilence   = 250 * time.Millisecond
)

// Cache is the hot-entry cache of the track-details read model. Safe for
// concurrent use.
type Cache struct {
	rdb          *redis.Client
	ttl          time.Duration
	tombstoneTTL time.Duration
	timeout      time.Duration
	prefix       string

	// server is the Redis server process the connections reach, as the
	// last connection set up learned it; nil until one was.
	server atomic.Pointer[server]

	// local is the client-side cache, nil without Config.Local; localNS
	// is go-redis's namespace of its Redis keys (see forget).
	local   *redis.LocalCache
	localNS string
	// heard is when the last ping the server answered was sent, in
	// UnixNano; silence is how long after it local entries are served;
	// emptied records that the local cache was emptied since.
	heard   atomic.Int64
	silence time.Duration
	emptied atomic.Bool
	stop    chan struct{}
	stopped chan struct{}

	hits, misses, errs atomic.Uint64
}

// server is one run of a Redis server process.
type server struct {
	run     string    // the first runLen hex digits of its run_id
	learned time.Time // when this client first reached it
}

// Errors of the cache.
var (
	// ErrCorrupt reports a key under the cache's prefix whose value is not
	// in the cache's layout.
	ErrCorrupt = errors.New("projectionredis: malformed cache value")
	// ErrServerChanged reports a command that ran while the client learned
	// that the Redis server was a new process (a restart or a failover);
	// its result was discarded.
	ErrServerChanged = errors.New("projectionredis: the Redis server changed during the call")
)

// luaParse splits a value into its kind and, for an entry or a tombstone,
// its release and version; nil for a value in no known layout.
const luaParse = `
local function parse(cur)
  local kind = string.sub(cur, 1, 1)
  if cur == 'x' then
    return 'x'
  end
  if kind ~= 'v' and kind ~= 't' then
    return nil
  end
  local a = string.find(cur, ':', 2, true)
  if not a then
    return nil
  end
  local b = string.find(cur, ':', a + 1, true)
  if not b then
    return nil
  end
  return kind, string.sub(cur, 2, a - 1), string.sub(cur, a + 1, b - 1)
end
local function get(key)
  local cur = redis.pcall('GET', key)
  if type(cur) == 'table' then
    return false
  end
  return cur
end
`

// luaLess compares two canonical non-negative decimal strings exactly.
const luaLess = `
local function less(a, b)
  if #a ~= #b then
    return #a < #b
  end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return false
end
`

// fillScript stores entry ARGV[3] of release ARGV[1] at version ARGV[2] in
// KEYS[1], expiring in ARGV[4] ms, unless the key holds a conflict
// tombstone, an entry or tombstone of another release, an entry of the
// release at a higher or equal version, or a tombstone of the release at a
// higher version. Returns 1 when it stored, 0 otherwise.
var fillScript = redis.NewScript(luaLess + luaParse + `
local cur = get(KEYS[1])
if cur then
  local kind, rel, ver = parse(cur)
  if kind == 'x' then
    return 0
  end
  if kind then
    if rel ~= ARGV[1] then
      return 0
    end
    if kind == 'v' and not less(ver, ARGV[2]) then
      return 0
    end
    if kind == 't' and less(ARGV[2], ver) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], 'v' .. ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3], 'PX', ARGV[4])
return 1
`)

// invalidateScript invalidates KEYS[i] for release ARGV[2i] at version
// ARGV[2i+1], each write expiring in ARGV[1] ms: an absent key, or an entry
// or tombstone of that release at a lower version, gets a tombstone of the
// release at the version; one of that release at a higher or equal
// version is left alone; one of another release, or a conflict tombstone,
// becomes a conflict tombstone. Returns how many keys it wrote.
var invalidateScript = redis.NewScript(luaLess + luaParse + `
local n = 0
for i = 1, #KEYS do
  local rel, ver = ARGV[2 * i], ARGV[2 * i + 1]
  local write = 't' .. rel .. ':' .. ver .. ':'
  local cur = get(KEYS[i])
  if cur then
    local kind, have, at = parse(cur)
    if kind == 'x' then
      write = 'x'
    elseif kind then
      if have ~= rel then
        write = 'x'
      elseif not less(at, ver) then
        write = nil
      end
    end
  end
  if write then
    redis.call('SET', KEYS[i], write, 'PX', ARGV[1])
    n = n + 1
  end
end
return n
`)

// New builds the cache and its go-redis client with the configured
// timeouts. It does not contact Redis, so it succeeds while Redis is down.
func New(cfg Config) (*Cache, error) {
	if cfg.Addr == "" && cfg.Conn == nil {
		return nil, errors.New("projectionredis: Addr or Conn is required")
	}
	if cfg.TTL < 0 || cfg.Timeout < 0 {
		return nil, errors.New("projectionredis: TTL and Timeout must not be negative")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Millisecond {
		return nil, errors.New("projectionredis: TTL must be at least 1ms")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	c := &Cache{
		ttl:          cfg.TTL,
		tombstoneTTL: min(cfg.TTL, MaxTombstoneTTL),
		timeout:      cfg.Timeout,
		prefix:       cfg.Prefix,
	}
	o := redis.UniversalOptions{Addrs: []string{cfg.Addr}}
	if cfg.Conn != nil {
		o = *cfg.Conn
	}
	if l := cfg.Local; l != nil {
		if err := LocalUnsupported(o); err != nil {
			return nil, err
		}
		if l.MaxEntries < 0 || l.MaxBytes < 0 || l.MaxStaleness < 0 || l.MaxSilence < 0 {
			return nil, errors.New("projectionredis: local cache bounds must not be negative")
		}
		lc := *l
		if lc.MaxEntries == 0 {
			lc.MaxEntries = DefaultLocalMaxEntries
		}
		if lc.MaxBytes == 0 {
			lc.MaxBytes = DefaultLocalMaxBytes
		}
		if lc.MaxStaleness == 0 {
			lc.MaxStaleness = DefaultLocalMaxStaleness
		}
		if lc.MaxSilence == 0 {
			lc.MaxSilence = DefaultLocalMaxSilence
		}
		if lc.MaxSilence < 5*time.Millisecond {
			return nil, errors.New("projectionredis: local cache MaxSilence must be at least 5ms")
		}
		c.silence = lc.MaxSilence
		c.localNS = "0\x00" + strconv.Itoa(len(o.Username)) + ":" + o.Username + "\x00"
		c.local = redis.NewLocalCache(redis.CacheConfig{
			MaxEntries: lc.MaxEntries, MaxMemoryBytes: lc.MaxBytes, MaxStaleness: lc.MaxStaleness,
		})
	}
	c.rdb = newClient(redis.UniversalOptions{
		Addrs: o.Addrs, MasterName: o.MasterName, SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
		Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		PoolTimeout:  cfg.Timeout,
		// One dial attempt and no command retries: a Redis that does not
		// answer within Timeout is down, and the caller uses PostgreSQL.
		DialerRetries:         1,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		// Keep the connection handshake to HELLO and OnConnect's INFO.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		OnConnect:                c.onConnect,
		// RESP3 carries the invalidation pushes of the local cache.
		Protocol:        3,
		ClientSideCache: localCache(c.local),
	})
	if cfg.Instrument != nil {
		if err := cfg.Instrument(c.rdb); err != nil {
			_ = c.rdb.Close()
			return nil, fmt.Errorf("projectionredis: instrument the client: %w", err)
		}
	}
	if c.local != nil {
		c.stop, c.stopped = make(chan struct{}), make(chan struct{})
		go c.listen()
	}
	return c, nil
}

// LocalUnsupported reports why a local cache cannot be kept over the
// connection o describes, nil when it can: go-redis offers client-side
// caching neither behind Sentinels nor on a database other than 0.
func LocalUnsupported(o redis.UniversalOptions) error {
	switch {
	case o.MasterName != "":
		return errors.New("projectionredis: no local cache behind Sentinels")
	case o.DB != 0:
		return errors.New("projectionredis: a local cache only on database 0")
	}
	return nil
}

// listen pings the server every silence/5 and records when the last ping
// it answered was sent, until Close.
func (c *Cache) listen() {
	defer close(c.stopped)
	t := time.NewTicker(c.silence / 5)
	defer t.Stop()
	for {
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), min(3*c.timeout, c.silence))
		err := c.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			c.heard.Store(sent.UnixNano())
			c.emptied.Store(false)
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// silent reports whether the server has not answered a ping sent within
// the last silence, and then empties the local cache once, so that no
// entry is served from it until the server answers again.
func (c *Cache) silent() bool {
	if time.Since(time.Unix(0, c.heard.Load())) <= c.silence {
		return false
	}
	if c.emptied.CompareAndSwap(false, true) {
		c.local.Flush()
	}
	return true
}

// localCache is l as go-redis's cache option: a nil interface without one.
func localCache(l *redis.LocalCache) redis.Cache {
	if l == nil {
		return nil
	}
	return l
}

// LocalLen returns how many entries the local cache holds (0 without one).
func (c *Cache) LocalLen() int {
	if c.local == nil {
		return 0
	}
	return c.local.Len()
}

// newClient connects to the one server o names, or to the master its
// Sentinels name (MasterName).
func newClient(o redis.UniversalOptions) *redis.Client {
	if o.MasterName != "" {
		return redis.NewFailoverClient(o.Failover())
	}
	return redis.NewClient(o.Simple())
}

// onConnect learns the run_id of the server a new connection reached,
// before the connection carries any other command. It refuses (closes) a
// connection whose set-up overlapped another connection's discovery of a
// different server, so the known server only ever moves to a newer one.
func (c *Cache) onConnect(ctx context.Context, cn *redis.Conn) error {
	known := c.server.Load()
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("projectionredis: learn the server's run_id: %w", err)
	}
	run, err := runID(info)
	if err != nil {
		return err
	}
	if now := c.server.Load(); now != nil && now.run == run {
		return nil
	}
	// A new server: record it, unless another connection recorded a
	// different one while this one was being set up (then which of the two
	// is newer is unknown, and this connection is closed; the next one
	// learns again).
	if !c.server.CompareAndSwap(known, &server{run: run, learned: time.Now()}) {
		return ErrServerChanged
	}
	return nil
}

// runID reads the tag of run_id from an INFO server reply.
func runID(info string) (string, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok && len(v) >= runLen {
			return v[:runLen], nil
		}
	}
	return "", errors.New("projectionredis: INFO server has no run_id")
}

// known returns the server the connections reach, setting up a connection
// first when none has been yet.
func (c *Cache) known(ctx context.Context) (*server, error) {
	if s := c.server.Load(); s != nil {
		return s, nil
	}
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return nil, err
	}
	if s := c.server.Load(); s != nil {
		return s, nil
	}
	return nil, errors.New("projectionredis: the Redis server's run_id is unknown")
}

// still reports ErrServerChanged when the known server is no longer s.
func (c *Cache) still(s *server) error {
	if c.server.Load() != s {
		return ErrServerChanged
	}
	return nil
}

// Ping reports whether Redis answers within the cache's timeout.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close stops the pings and closes the client's connections.
func (c *Cache) Close() error {
	if c.stop != nil {
		close(c.stop)
		<-c.stopped
		c.stop = nil
	}
	return c.rdb.Close()
}

// Get returns the entry for (generation, trackID): its payload bytes and
// the release and version they reflect. ok is false on a miss (no key, a
// tombstone, or an entry of an earlier server run). err is non-nil when
// Redis is unavailable or slower than the deadline; the caller then falls
// back to PostgreSQL.
func (c *Cache) Get(ctx context.Context, generation int64, trackID int64) (payload []byte, at projections.ReleaseVersion, ok bool, err error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	fail := func(err error) ([]byte, projections.ReleaseVersion, bool, error) {
		c.errs.Add(1)
		return nil, projections.ReleaseVersion{}, false, err
	}
	s, err := c.known(ctx)
	if err != nil {
		return fail(fmt.Errorf("projectionredis: get: %w", err))
	}
	if c.local != nil {
		c.silent()
	}
	raw, err := c.rdb.Get(ctx, c.key(generation, s, trackID)).Bytes()
	if err == nil || errors.Is(err, redis.Nil) {
		if changed := c.still(s); changed != nil {
			return fail(fmt.Errorf("projectionredis: get: %w", changed))
		}
	}
	switch {
	case errors.Is(err, redis.Nil):
		c.misses.Add(1)
		return nil, projections.ReleaseVersion{}, false, nil
	case err != nil:
		return fail(fmt.Errorf("projectionredis: get: %w", err))
	}
	kind, at, payload, err := decode(raw)
	if err != nil {
		return fail(err)
	}
	if kind != 'v' {
		c.misses.Add(1)
		return nil, projections.ReleaseVersion{}, false, nil
	}
	c.hits.Add(1)
	return payload, at, true, nil
}

// Fill stores payload for (generation, trackID), read from the row of
// release at.Release at version at.Version, unless the key holds an entry
// of that release at a higher or equal version, a tombstone of it at a
// higher version, or an entry or tombstone of another release (see
// Invalidate). It is atomic (one Lua script) and sets the entry's TTL. It
// reports whether it stored. Release and version must not be negative.
//
// readAt is when the caller began reading the row from PostgreSQL. A row
// read before this client reached the current Redis server is not stored
// (invalidations of commits after the read may have gone to the previous
// server, whose tombstones this one lacks), nor is one read longer ago
// than a tombstone lives (its tombstone may be gone).
func (c *Cache) Fill(ctx context.Context, generation, trackID int64, at projections.ReleaseVersion, payload []byte, readAt time.Time) (bool, error) {
	if at.Release < 0 || at.Version < 0 {
		return false, fmt.Errorf("projectionredis: fill: negative release %d or version %d", at.Release, at.Version)
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	s, err := c.known(ctx)
	if err != nil {
		return false, fmt.Errorf("projectionredis: fill: %w", err)
	}
	if readAt.Before(s.learned) || time.Since(readAt) >= c.tombstoneTTL {
		return false, nil
	}
	n, err := fillScript.Run(ctx, c.rdb, []string{c.key(generation, s, trackID)},
		strconv.FormatInt(at.Release, 10), strconv.FormatInt(at.Version, 10), payload, c.ttl.Milliseconds()).Int64()
	if err == nil {
		err = c.still(s)
	}
	if err != nil {
		return false, fmt.Errorf("projectionredis: fill: %w", err)
	}
	if n == 1 {
		c.forget(c.key(generation, s, trackID))
	}
	return n == 1, nil
}

// forget drops the local cache's copy of key, after this client wrote it:
// the copy (often the miss that led to the write) would otherwise be
// served until the write's invalidation push is applied, which for an
// idle connection is up to go-redis's drain interval later, sending each
// read in between to PostgreSQL. go-redis names a key in its cache with
// the namespace of the database and user (0, "" here), which localNS
// spells as go-redis does; TestOwnFillServedAtOnce fails if that changes.
func (c *Cache) forget(key string) {
	if c.local != nil {
		c.local.DeleteByRedisKey(c.localNS + key)
	}
}

// Invalidate replaces, in generation, each track's entry older than the
// release and version given for it with a tombstone (see the package doc
// for the rule across releases), living min(TTL, 1 minute), so that a
// reader that read PostgreSQL before the projector's commit cannot Fill
// older content afterwards. Atomic per key; one EVALSHA per
// invalidateChunk keys, so that a batch of thousands of tracks never holds
// Redis, and the readers waiting on it, for longer than a few milliseconds
// at a time, and each call stays within the per-operation deadline. It is
// idempotent. Releases and versions must not be negative.
func (c *Cache) Invalidate(ctx context.Context, generation int64, tracks map[int64]projections.ReleaseVersion) error {
	for id, at := range tracks {
		if at.Release < 0 || at.Version < 0 {
			return fmt.Errorf("projectionredis: invalidate: track %d: negative release %d or version %d", id, at.Release, at.Version)
		}
	}
	if len(tracks) == 0 {
		return nil
	}
	ids := make([]int64, 0, min(len(tracks), invalidateChunk))
	keys := make([]string, 0, cap(ids))
	args := make([]any, 0, 1+2*cap(ids))
	flush := func() error {
		ctx, cancel := c.deadline(ctx)
		defer cancel()
		s, err := c.known(ctx)
		if err != nil {
			return err
		}
		keys = keys[:0]
		for _, id := range ids {
			keys = append(keys, c.key(generation, s, id))
		}
		if err := invalidateScript.Run(ctx, c.rdb, keys, args...).Err(); err != nil {
			return err
		}
		return c.still(s)
	}
	args = append(args, c.tombstoneTTL.Milliseconds())
	for id, at := range tracks {
		ids = append(ids, id)
		args = append(args, strconv.FormatInt(at.Release, 10), strconv.FormatInt(at.Version, 10))
		if len(ids) == invalidateChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("projectionredis: invalidate: %w", err)
			}
			ids, args = ids[:0], args[:1]
		}
	}
	if len(ids) > 0 {
		if err := flush(); err != nil {
			return fmt.Errorf("projectionredis: invalidate: %w", err)
		}
	}
	return nil
}

// invalidateChunk is how many keys one invalidation script names: about a
// millisecond of Redis time.
const invalidateChunk = 256

// DropGeneration removes every key (entries and tombstones, of every
// server run) of generation with SCAN and UNLINK in batches, never KEYS,
// and returns how many it removed. Each round trip is bounded by the
// client's timeouts; the whole walk only by ctx. Call it once nothing reads
// or fills the generation any more: a key written while the scan runs may
// survive until its TTL.
func (c *Cache) DropGeneration(ctx context.Context, generation int64) (int, error) {
	match := escapeGlob(c.prefix+strconv.FormatInt(generation, 10)+":") + "*"
	var (
		cursor  uint64
		removed int
	)
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, match, scanBatch).Result()
		if err != nil {
			return removed, fmt.Errorf("projectionredis: drop generation %d: scan: %w", generation, err)
		}
		if len(keys) > 0 {
			n, err := c.rdb.Unlink(ctx, keys...).Result()
			if err != nil {
				return removed, fmt.Errorf("projectionredis: drop generation %d: unlink: %w", generation, err)
			}
			removed += int(n)
		}
		if next == 0 {
			return removed, nil
		}
		cursor = next
	}
}

// Stats returns how many Get calls hit, missed and failed since New.
func (c *Cache) Stats() (hits, misses, errors uint64) {
	return c.hits.Load(), c.misses.Load(), c.errs.Load()
}

// deadline bounds one call: a dial, a write and a read, each within the
// client's Timeout.
func (c *Cache) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 3*c.timeout)
}

// key is the Redis key of (generation, server run, track).
func (c *Cache) key(generation int64, s *server, trackID int64) string {
	b := make([]byte, 0, len(c.prefix)+20+1+runLen+1+20)
	b = append(b, c.prefix...)
	b = strconv.AppendInt(b, generation, 10)
	b = append(b, ':')
	b = append(b, s.run...)
	b = append(b, ':')
	b = strconv.AppendInt(b, trackID, 10)
	return string(b)
}

// decode splits a stored value into its kind ('v', 't' or 'x'), release,
// version and payload.
func decode(raw []byte) (kind byte, at projections.ReleaseVersion, payload []byte, err error) {
	if len(raw) == 1 && raw[0] == 'x' {
		return 'x', at, nil, nil
	}
	if len(raw) < 5 || (raw[0] != 'v' && raw[0] != 't') {
		return 0, at, nil, ErrCorrupt
	}
	rel, rest, ok := bytes.Cut(raw[1:], []byte{':'})
	if !ok {
		return 0, at, nil, ErrCorrupt
	}
	ver, payload, ok := bytes.Cut(rest, []byte{':'})
	if !ok {
		return 0, at, nil, ErrCorrupt
	}
	if at.Release, err = number(rel); err != nil {
		return 0, at, nil, err
	}
	if at.Version, err = number(ver); err != nil {
		return 0, at, nil, err
	}
	return raw[0], at, payload, nil
}

// number parses a canonical non-negative decimal.
func number(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, ErrCorrupt
	}
	return n, nil
}

// escapeGlob escapes the characters SCAN MATCH treats as pattern syntax.
func escapeGlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
