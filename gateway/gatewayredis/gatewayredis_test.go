package gatewayredis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/gateway/gatewayredis"
	"github.com/catalog-org/catalog/testenv"
)

// TestLeasesNeverPassTheLimit: two quotas (two gateways) on one Redis take
// 3000 requests of a client with 2000 a day, 16 at a time: at most 2000
// are allowed, Redis counts them plus the leases the quotas hold, and once
// both are closed exactly the allowed ones; a third then allows exactly
// what is left.
func TestLeasesNeverPassTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := "test:lease:" + testenv.Suffix() + ":"
	open := func() *gatewayredis.Quota {
		q, err := gatewayredis.NewWithOptions(testenv.RedisAddr(t), prefix, time.Second, gatewayredis.Options{IdleReturn: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close() })
		return q
	}
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	now := time.Now().UTC()
	counted := func() int64 {
		n, _ := rdb.Get(ctx, prefix+"k:"+now.Format("20060102")).Int64()
		return n
	}
	const limit = 2000
	take := func(n int, qs ...*gatewayredis.Quota) int64 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					u, err := qs[i%len(qs)].Take(ctx, "k", limit, now)
					if err != nil {
						t.Error(err)
					}
					if u.Allowed {
						allowed.Add(1)
						if u.Count > limit {
							t.Errorf("count %d over the limit", u.Count)
						}
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		return allowed.Load()
	}
	a, b := open(), open()
	first := take(1000, a, b)
	// A quota that spent its last lease exactly takes a new one next.
	for first == 1000 && counted() == first {
		first += take(1, a)
	}
	if first < 1000 || counted() <= first {
		t.Fatalf("1000 taken: %d allowed, Redis counts %d; want all allowed and leases held on top", first, counted())
	}
	second := take(2000, a, b)
	if first+second > limit {
		t.Fatalf("%d allowed in the day, over the limit of %d", first+second, limit)
	}
	_ = a.Close()
	_ = b.Close()
	if n := counted(); n != first+second {
		t.Fatalf("after Close Redis counts %d; want the %d allowed", n, first+second)
	}
	last := take(limit, open())
	if first+second+last != limit {
		t.Fatalf("%d + %d + %d allowed: want exactly %d in the day", first, second, last, limit)
	}
}

// TestIdleLeaseGoesBack: a lease unused for IdleReturn is returned.
func TestIdleLeaseGoesBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := "test:lease:" + testenv.Suffix() + ":"
	q, err := gatewayredis.NewWithOptions(testenv.RedisAddr(t), prefix, time.Second, gatewayredis.Options{IdleReturn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// The idle time is long enough that a loaded machine still reads the
	// lease before it goes back.
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer rdb.Close()
	now := time.Now().UTC()
	u, err := q.Take(ctx, "k", 100000, now)
	if err != nil || !u.Allowed || u.Count != 1 {
		t.Fatalf("first take: %+v %v", u, err)
	}
	key := prefix + "k:" + now.Format("20060102")
	if n, _ := rdb.Get(ctx, key).Int64(); n != 256 {
		t.Fatalf("Redis counts %d after the first take; want a lease of 256", n)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, _ := rdb.Get(ctx, key).Int64(); n != 1 {
			return errCount(n)
		}
		return nil
	})
}

type errCount int64

func (e errCount) Error() string { return "Redis still counts more than the one request" }
