// Package gatewayredis counts API clients' daily requests in Redis: one
// key per client per UTC day (catalog:quota:<key>:<yyyymmdd>), checked and
// incremented by one Lua script so the count never passes the limit under
// any concurrency and across gateway processes, and expiring at the end of
// its day (EXPIREAT). Requests over the limit are not counted.
//
// # Leases
//
// Far from its limit, a client's requests are counted in a local lease: the
// script reserves a batch of requests in Redis at once (the day's key counts
// them as used) and this process spends them without a round trip. The
// batch shrinks as the limit nears, to a share of what is left (1/64), at
// most Options.MaxLease; once that share is below Options.MinLease, every
// request is counted in Redis one by one, as without leases. Since every
// lease is reserved by the same atomic script, the day's count never lets
// more than the limit through, however many gateways share Redis.
//
// Unused leases go back to Redis: when this process closes (Close), and
// when a lease has been idle for Options.IdleReturn. A lease of a past
// day is dropped, its key expiring with its day. A gateway that crashes
// loses its unused lease for the day: it stays counted as used, at most
// MaxLease requests per client, and never more than 1/64 of what the
// client had left when it was reserved. While another gateway holds an
// unused lease, a gateway counting one by one can refuse a request before
// the day's true use reaches the limit; the lease returns within
// IdleReturn of its holder's last request.
package gatewayredis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/gateway"
)

// take: if the day's count has reached the limit, refuse; else reserve a
// lease of a share (1/ARGV[4]) of what is left, at most ARGV[3], or 1
// when that share is below ARGV[5], and, on the day's first request, set
// the key to expire when the day ends (plus an hour, so a clock slightly
// behind still finds it). It answers the lease granted (0: refused) and
// the day's count after it.
var take = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if n >= limit then return {0, n} end
local grant = math.floor((limit - n) / tonumber(ARGV[4]))
if grant > tonumber(ARGV[3]) then grant = tonumber(ARGV[3]) end
if grant < tonumber(ARGV[5]) then grant = 1 end
local m = redis.call('INCRBY', KEYS[1], grant)
if m == grant then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return {grant, m}`)

// giveBack returns an unused lease to its day's count, if the day's key
// still exists.
var giveBack = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return 0`)

// leaseShare is the divisor of what a client has left that sizes a lease.
const leaseShare = 64

// Options tune the leases; the zero value takes the defaults.
type Options struct {
	// MaxLease is the most requests one lease reserves (default 256; 1
	// counts every request in Redis).
	MaxLease int
	// MinLease is the smallest lease worth taking (default 8); below it a
	// request is counted alone.
	MinLease int
	// IdleReturn is how long an unused lease stays with this process
	// after its last request (default 1 s).
	IdleReturn time.Duration
	// Conn, when set, locates Redis instead of the address: its
	// addresses, credentials, TLS and Sentinel master (MasterName: the
	// master the Sentinels at Addrs name). Its timeouts and pool are
	// replaced by the Quota's own.
	Conn *redis.UniversalOptions
	// Instrument, when set, is given the client once it is built, to add
	// hooks to it (redisotel's tracing).
	Instrument func(redis.UniversalClient) error
}

// lease is this process's reservation for one client and day.
type lease struct {
	mu       sync.Mutex
	key      string    // the day's Redis key
	limit    int       // the limit of the last request
	unused   int64     // reserved in Redis, not yet spent
	top      int64     // the highest day's count Redis answered
	last     time.Time // the last request
	renewing chan struct{}
	gone     bool // given back and forgotten: take a new one
}

// Quota implements gateway.Quota.
type Quota struct {
	rdb    *redis.Client
	prefix string
	opts   Options

	mu     sync.Mutex
	leases map[string]*lease // Redis key -> lease
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// New connects to Redis at addr; timeout bounds dialing, reads and writes.
// Leases take the default Options.
func New(addr, prefix string, timeout time.Duration) (*Quota, error) {
	return NewWithOptions(addr, prefix, timeout, Options{})
}

// NewWithOptions is New with the leases tuned by opts.
func NewWithOptions(addr, prefix string, timeout time.Duration, opts Options) (*Quota, error) {
	if addr == "" && opts.Conn == nil {
		return nil, errors.New("gatewayredis: address is required")
	}
	if prefix == "" {
		prefix = "catalog:quota:"
	}
	if opts.MaxLease <= 0 {
		opts.MaxLease = 256
	}
	if opts.MinLease <= 0 {
		opts.MinLease = 8
	}
	if opts.IdleReturn <= 0 {
		opts.IdleReturn = time.Second
	}
	o := redis.UniversalOptions{Addrs: []string{addr}}
	if opts.Conn != nil {
		o = *opts.Conn
	}
	o = redis.UniversalOptions{Addrs: o.Addrs, MasterName: o.MasterName, SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 64, MinIdleConns: 4}
	var rdb *redis.Client
	if o.MasterName != "" {
		rdb = redis.NewFailoverClient(o.Failover())
	} else {
		rdb = redis.NewClient(o.Simple())
	}
	if opts.Instrument != nil {
		if err := opts.Instrument(rdb); err != nil {
			_ = rdb.Close()
			return nil, fmt.Errorf("gatewayredis: instrument the client: %w", err)
		}
	}
	q := &Quota{rdb: rdb, prefix: prefix, opts: opts, leases: map[string]*lease{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go q.returnIdle()
	return q, nil
}

// Ping reports whether Redis answers before ctx ends.
func (q *Quota) Ping(ctx context.Context) error {
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close returns every unused lease to Redis and closes the connections.
func (q *Quota) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := q.giveBack(ctx, func(*lease) bool { return true })
	return errors.Join(err, q.rdb.Close())
}

// returnIdle gives back, until Close, the leases idle for IdleReturn and
// forgets those of past days.
func (q *Quota) returnIdle() {
	defer close(q.done)
	t := time.NewTicker(q.opts.IdleReturn / 2)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), q.opts.IdleReturn)
			cutoff := time.Now().Add(-q.opts.IdleReturn)
			_ = q.giveBack(ctx, func(l *lease) bool { return l.last.Before(cutoff) })
			cancel()
		}
	}
}

// giveBack returns the unused part of the leases idle says to return, and
// forgets them.
func (q *Quota) giveBack(ctx context.Context, idle func(*lease) bool) error {
	type unused struct {
		key string
		n   int64
	}
	q.mu.Lock()
	var back []unused
	for k, l := range q.leases {
		l.mu.Lock()
		if l.renewing == nil && idle(l) {
			delete(q.leases, k)
			l.gone = true
			if l.unused > 0 {
				back = append(back, unused{l.key, l.unused})
				l.unused = 0
			}
		}
		l.mu.Unlock()
	}
	q.mu.Unlock()
	var errs []error
	for _, u := range back {
		if err := giveBack.Run(ctx, q.rdb, []string{u.key}, u.n).Err(); err != nil {
			errs = append(errs, fmt.Errorf("return the lease of %s: %w", u.key, err))
		}
	}
	return errors.Join(errs...)
}

// lease returns the lease of the day's key k, locked.
func (q *Quota) lease(k string) *lease {
	for {
		q.mu.Lock()
		l, ok := q.leases[k]
		if !ok {
			l = &lease{key: k}
			q.leases[k] = l
		}
		q.mu.Unlock()
		l.mu.Lock()
		if !l.gone {
			return l
		}
		l.mu.Unlock()
	}
}

// Take implements gateway.Quota: from this process's lease when it has one
// left, else from Redis.
func (q *Quota) Take(ctx context.Context, key string, limit int, now time.Time) (gateway.Usage, error) {
	day := now.UTC()
	k := q.prefix + key + ":" + day.Format("20060102")
	l := q.lease(k)
	l.last, l.limit = time.Now(), limit
	waited := false
	for {
		if l.unused > 0 && l.top-l.unused < int64(limit) {
			l.unused--
			u := gateway.Usage{Allowed: true, Count: l.top - l.unused}
			l.mu.Unlock()
			return u, nil
		}
		if l.renewing == nil || waited {
			break
		}
		// One request renews the lease; the others wait for it once, and
		// go to Redis themselves if it is spent already.
		ch := l.renewing
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return gateway.Usage{}, fmt.Errorf("quota of %s: %w", key, ctx.Err())
		}
		waited = true
		l.mu.Lock()
	}
	var done chan struct{}
	if l.renewing == nil {
		done = make(chan struct{})
		l.renewing = done
	}
	l.mu.Unlock()

	end := day.Truncate(24 * time.Hour).Add(25 * time.Hour).Unix()
	res, err := take.Run(ctx, q.rdb, []string{k}, limit, end, q.opts.MaxLease, leaseShare, q.opts.MinLease).Int64Slice()

	l.mu.Lock()
	defer l.mu.Unlock()
	if done != nil {
		l.renewing = nil
		close(done)
	}
	if err != nil {
		return gateway.Usage{}, fmt.Errorf("quota of %s: %w", key, err)
	}
	grant, n := res[0], res[1]
	if grant == 0 {
		return gateway.Usage{Allowed: false, Count: n}, nil
	}
	// This request spends one; the rest is this process's to spend.
	l.unused += grant - 1
	if n > l.top {
		l.top = n
	}
	return gateway.Usage{Allowed: true, Count: n - (grant - 1)}, nil
}
