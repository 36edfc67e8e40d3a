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
// One key per (generation, track):
//
//	<Prefix><generation>:<trackID>        e.g. catalog:td:7:12345
//
// both numbers in decimal. The generation sits between two separators, so
// the pattern "catalog:td:7:*" that DropGeneration scans never matches a key
// of generation 71.
//
// # Value layout
//
// Each key holds a single Redis string (one GET per read, no per-field
// overhead of a hash):
//
//	v<version>:<payload>   an entry: the payload bytes as stored by Fill,
//	                       reflecting the read model at <version>
//	t<version>:            a tombstone left by Invalidate (no payload)
//
// <version> is the canonical decimal form of a non-negative int64 (no sign,
// no leading zeros). The Lua scripts compare versions as digit strings
// (shorter is smaller, then digit by digit), never as Lua numbers, so the
// comparison is exact over the whole int64 range (Lua numbers are doubles
// and lose precision above 2^53). Negative versions are rejected.
//
// # TTL and eviction
//
// Every write sets an expiry: an entry gets Config.TTL (default one hour),
// set again by each Fill that stores; a tombstone gets min(TTL, 1 minute).
// No key is ever written without one. Memory is further bounded by Redis's
// maxmemory with the allkeys-lru policy (the local Redis runs with
// --maxmemory 256mb --maxmemory-policy allkeys-lru): under pressure Redis
// evicts the least recently used keys, which are the cold entries; an
// evicted entry is only a miss, answered from PostgreSQL and filled again.
//
// # Why entries cannot go backwards
//
// Both writers go through a Lua script that compares versions and writes
// atomically (Redis runs a script with no other command interleaved):
//
//   - Fill stores only when the key is absent, holds an entry at a LOWER
//     version, or holds a tombstone at a LOWER OR EQUAL version. A replay, a
//     duplicate fill or a slow API reader holding an older PostgreSQL row
//     therefore never replaces a newer entry.
//   - Invalidate(version), per key: an entry or tombstone at a version lower
//     than version is replaced by a tombstone at version; one at a higher or
//     equal version is left alone (it is already at least as new); an absent
//     key gets the tombstone too.
//
// The tombstone closes the race between an API reader and the projector: the
// reader reads v1 from PostgreSQL, the projector commits v2 and invalidates,
// and only then does the reader call Fill(v1). Without a tombstone the key
// would be absent and v1 would be stored until its TTL; with it, Fill(v1) is
// refused, while a reader that read PostgreSQL after the commit fills v2.
// The guarantee holds as long as the tombstone lives: a reader slower than
// the tombstone's TTL (one minute, far above the API's deadlines) or a
// tombstone evicted under memory pressure (it is freshly written, so among
// the last keys LRU would pick) could still fill an older version, which the
// entry's own TTL then bounds.
//
// # Failure
//
// The client dials, reads and writes with Config.Timeout (default 50ms),
// dials once and never retries a command, and every Get, Fill and Invalidate
// runs under a deadline of three times Timeout. When Redis is down or slow
// the caller gets an error quickly and answers from PostgreSQL. New does not
// contact Redis, so it succeeds while Redis is down.
//
// Invalidate sends one EVALSHA naming every key, so all keys of a call must
// live on one Redis server: the package targets a standalone Redis (or a
// primary with replicas), not Redis Cluster.
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

// Config configures the cache.
type Config struct {
	// Addr is the Redis server as host:port.
	Addr string
	// TTL is the expiry of every entry, set again on each Fill that stores.
	// Default 1h.
	TTL time.Duration
	// Timeout is the per-operation deadline for dialing, reading and
	// writing; a slower Redis is treated as down. Default 50ms.
	Timeout time.Duration
	// Prefix starts every key. Default "catalog:td:".
	Prefix string
}

// Cache is the hot-entry cache of the track-details read model. Safe for
// concurrent use.
type Cache struct {
	rdb          *redis.Client
	ttl          time.Duration
	tombstoneTTL time.Duration
	timeout      time.Duration
	prefix       string

	hits, misses, errs atomic.Uint64
}

// ErrCorrupt reports a key under the cache's prefix whose value is not in
// the cache's layout.
var ErrCorrupt = errors.New("projectionredis: malformed cache value")

// fillScript stores ARGV[2] at version ARGV[1] with expiry ARGV[3] ms unless
// the key holds an entry at a higher or equal version or a tombstone at a
// higher version. Returns 1 when it stored, 0 otherwise.
var fillScript = redis.NewScript(luaLess + `
local cur = redis.call('GET', KEYS[1])
if cur then
  local kind = string.sub(cur, 1, 1)
  local sep = string.find(cur, ':', 2, true)
  if sep and (kind == 'v' or kind == 't') then
    local have = string.sub(cur, 2, sep - 1)
    if kind == 'v' and not less(have, ARGV[1]) then
      return 0
    end
    if kind == 't' and less(ARGV[1], have) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], 'v' .. ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
`)

// invalidateScript replaces, in every key of KEYS, an entry or tombstone at
// a version lower than ARGV[1] (and an absent key) with a tombstone at
// ARGV[1] expiring in ARGV[2] ms. Returns how many tombstones it wrote.
var invalidateScript = redis.NewScript(luaLess + `
local tomb = 't' .. ARGV[1] .. ':'
local n = 0
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  local write = true
  if cur then
    local kind = string.sub(cur, 1, 1)
    local sep = string.find(cur, ':', 2, true)
    if sep and (kind == 'v' or kind == 't') then
      if not less(string.sub(cur, 2, sep - 1), ARGV[1]) then
        write = false
      end
    end
  end
  if write then
    redis.call('SET', KEYS[i], tomb, 'PX', ARGV[2])
    n = n + 1
  end
end
return n
`)

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

// New builds the cache and its go-redis client with the configured
// timeouts. It does not contact Redis, so it succeeds while Redis is down.
func New(cfg Config) (*Cache, error) {
	if cfg.Addr == "" {
		return nil, errors.New("projectionredis: Addr is required")
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
	rdb := redis.NewClient(&redis.Options{
		Addr:         cfg.Addr,
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		PoolTimeout:  cfg.Timeout,
		// One dial attempt and no command retries: a Redis that does not
		// answer within Timeout is down, and the caller uses PostgreSQL.
		DialerRetries:         1,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		// Keep the connection handshake to HELLO alone.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return &Cache{
		rdb:          rdb,
		ttl:          cfg.TTL,
		tombstoneTTL: min(cfg.TTL, MaxTombstoneTTL),
		timeout:      cfg.Timeout,
		prefix:       cfg.Prefix,
	}, nil
}

// Close closes the client's connections.
func (c *Cache) Close() error {
	return c.rdb.Close()
}

// Get returns the entry for (generation, trackID): its payload bytes and the
// version they reflect. ok is false on a miss (no key, or a tombstone). err
// is non-nil when Redis is unavailable or slower than the deadline; the
// caller then falls back to PostgreSQL.
func (c *Cache) Get(ctx context.Context, generation int64, trackID int64) (payload []byte, version int64, ok bool, err error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	raw, err := c.rdb.Get(ctx, c.key(generation, trackID)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		c.misses.Add(1)
		return nil, 0, false, nil
	case err != nil:
		c.errs.Add(1)
		return nil, 0, false, fmt.Errorf("projectionredis: get: %w", err)
	}
	kind, version, payload, err := decode(raw)
	if err != nil {
		c.errs.Add(1)
		return nil, 0, false, err
	}
	if kind == 't' {
		c.misses.Add(1)
		return nil, 0, false, nil
	}
	c.hits.Add(1)
	return payload, version, true, nil
}

// Fill stores payload for (generation, trackID) at version unless the cache
// already holds that entry at a higher or equal version, or a tombstone at a
// higher version (see Invalidate). It is atomic (one Lua script) and sets
// the entry's TTL. It reports whether it stored. version must not be
// negative.
func (c *Cache) Fill(ctx context.Context, generation, trackID, version int64, payload []byte) (bool, error) {
	if version < 0 {
		return false, fmt.Errorf("projectionredis: fill: negative version %d", version)
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	n, err := fillScript.Run(ctx, c.rdb, []string{c.key(generation, trackID)},
		strconv.FormatInt(version, 10), payload, c.ttl.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("projectionredis: fill: %w", err)
	}
	return n == 1, nil
}

// Invalidate removes the entries of trackIDs in generation whose version is
// lower than version and leaves in each of those keys (and in absent ones) a
// tombstone recording version, living min(TTL, 1 minute), so that a reader
// that read PostgreSQL before the projector's commit cannot Fill an older
// version afterwards. Entries and tombstones at a higher or equal version
// are left alone. Atomic per key; one EVALSHA per invalidateChunk keys, so
// that a batch of thousands of tracks (a rebuild's) never holds Redis, and
// the readers waiting on it, for longer than a few milliseconds at a time,
// and each call stays within the per-operation deadline. version must not
// be negative.
func (c *Cache) Invalidate(ctx context.Context, generation int64, trackIDs []int64, version int64) error {
	if version < 0 {
		return fmt.Errorf("projectionredis: invalidate: negative version %d", version)
	}
	keys := make([]string, 0, min(len(trackIDs), invalidateChunk))
	for len(trackIDs) > 0 {
		n := min(len(trackIDs), invalidateChunk)
		keys = keys[:0]
		for _, id := range trackIDs[:n] {
			keys = append(keys, c.key(generation, id))
		}
		trackIDs = trackIDs[n:]
		if err := c.invalidate(ctx, keys, version); err != nil {
			return fmt.Errorf("projectionredis: invalidate: %w", err)
		}
	}
	return nil
}

// invalidateChunk is how many keys one invalidation script names: about a
// millisecond of Redis time.
const invalidateChunk = 256

func (c *Cache) invalidate(ctx context.Context, keys []string, version int64) error {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	return invalidateScript.Run(ctx, c.rdb, keys, strconv.FormatInt(version, 10), c.tombstoneTTL.Milliseconds()).Err()
}

// DropGeneration removes every key (entries and tombstones) of generation
// with SCAN and UNLINK in batches, never KEYS, and returns how many it
// removed. Each round trip is bounded by the client's timeouts; the whole
// walk only by ctx. Call it once nothing reads or fills the generation any
// more: a key written while the scan runs may survive until its TTL.
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

// key is the Redis key of (generation, trackID).
func (c *Cache) key(generation, trackID int64) string {
	b := make([]byte, 0, len(c.prefix)+41)
	b = append(b, c.prefix...)
	b = strconv.AppendInt(b, generation, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, trackID, 10)
	return string(b)
}

// decode splits a stored value into its kind ('v' or 't'), version and
// payload.
func decode(raw []byte) (kind byte, version int64, payload []byte, err error) {
	if len(raw) < 3 || (raw[0] != 'v' && raw[0] != 't') {
		return 0, 0, nil, ErrCorrupt
	}
	sep := bytes.IndexByte(raw[1:], ':')
	if sep <= 0 {
		return 0, 0, nil, ErrCorrupt
	}
	version, err = strconv.ParseInt(string(raw[1:1+sep]), 10, 64)
	if err != nil || version < 0 {
		return 0, 0, nil, ErrCorrupt
	}
	return raw[0], version, raw[2+sep:], nil
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
