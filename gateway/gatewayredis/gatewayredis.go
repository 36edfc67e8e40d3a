// Package gatewayredis counts API clients' daily requests in Redis: one
// key per client per UTC day (catalog:quota:<key>:<yyyymmdd>), checked and
// incremented by one Lua script so the count is exact under any
// concurrency and across gateway processes, and expiring at the end of its
// day (EXPIREAT). Requests over the limit are not counted.
package gatewayredis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/gateway"
)

// take: if the day's count has reached the limit, refuse; else count and,
// on the day's first request, set the key to expire when the day ends
// (plus an hour, so a clock slightly behind still finds it).
var take = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, n} end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return {1, n}`)

// Quota implements gateway.Quota.
type Quota struct {
	rdb    *redis.Client
	prefix string
}

// New connects to Redis at addr; timeout bounds dialing, reads and writes.
func New(addr, prefix string, timeout time.Duration) (*Quota, error) {
	if addr == "" {
		return nil, errors.New("gatewayredis: address is required")
	}
	if prefix == "" {
		prefix = "catalog:quota:"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxRetries: -1, PoolSize: 64, MinIdleConns: 4})
	return &Quota{rdb: rdb, prefix: prefix}, nil
}

// Close closes the connections.
func (q *Quota) Close() error { return q.rdb.Close() }

// Take implements gateway.Quota.
func (q *Quota) Take(ctx context.Context, key string, limit int, now time.Time) (gateway.Usage, error) {
	day := now.UTC()
	k := q.prefix + key + ":" + day.Format("20060102")
	end := day.Truncate(24 * time.Hour).Add(25 * time.Hour).Unix()
	res, err := take.Run(ctx, q.rdb, []string{k}, limit, end).Int64Slice()
	if err != nil {
		return gateway.Usage{}, fmt.Errorf("quota of %s: %w", key, err)
	}
	return gateway.Usage{Allowed: res[0] == 1, Count: res[1]}, nil
}
