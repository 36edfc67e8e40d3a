package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/testenv"
)

// TestQuotaExactAcrossGatewayProcesses: a client with 40 requests left
// sends 70 at once, half through each of two gateway processes sharing
// Redis: exactly 40 pass.
func TestQuotaExactAcrossGatewayProcesses(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// A generous Redis deadline: this test is about exactness, not about
	// the fail-open policy, which a loaded test machine could trigger.
	s.env = append(s.env, "CATALOG_QUOTA_TIMEOUT_MS=2000")
	key := strings.TrimSpace(s.run(t, "clients", "add", "quota-test"))
	s.run(t, "clients", "set-limit", key, "40")
	s.start(t, "dev")
	second := testenv.FreeAddr(t)
	s.startWith(t, []string{"CATALOG_GATEWAY_ADDR=" + second, "CATALOG_GATEWAY_METRICS_ADDR=" + testenv.FreeAddr(t)}, "gateway")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	waitHTTP(t, "http://"+second+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")

	var passed, over atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 70; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			gw := s.gateway
			if i%2 == 1 {
				gw = second
			}
			resp, err := http.Get(fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&oauth_consumer_key=%s", gw, i+1, key))
			if err != nil {
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusTooManyRequests:
				over.Add(1)
			case http.StatusOK, http.StatusNotFound:
				passed.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	if passed.Load() != 40 || over.Load() != 30 {
		t.Fatalf("%d passed, %d over the limit; want 40 and 30", passed.Load(), over.Load())
	}
}

// TestSlowClientIsCutOff: a client that sends its headers too slowly is
// disconnected by the gateway (ReadHeaderTimeout), not served forever.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "gateway")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	conn, err := net.Dial("tcp", s.gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /1.2/track/details?trackId=1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Fatalf("the gateway kept a slow client for %s (%v)", elapsed, err)
	}
}

// stop sends SIGTERM and waits for the process to end: its shutdown code
// runs.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20 s after SIGTERM")
	}
	p.done <- nil // for the cleanup
}

// TestQuotaLeasesAcrossGatewayProcesses: two gateway processes count a
// client's requests in leases (limit 2000, so leases are taken) and hold
// unused leases while they run (never returned for being idle here);
// SIGTERM returns them, so the day's count in Redis is then exactly the
// requests served. Two more gateways then take the client past its
// limit: never more than the limit through in the day, and, once they
// have stopped too, a last gateway serves exactly what is left.
func TestQuotaLeasesAcrossGatewayProcesses(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.env = append(s.env, "CATALOG_QUOTA_TIMEOUT_MS=2000", "CATALOG_QUOTA_LEASE_IDLE_MS=600000")
	const limit = 2000
	key := strings.TrimSpace(s.run(t, "clients", "add", "lease-test"))
	s.run(t, "clients", "set-limit", key, strconv.Itoa(limit))
	s.start(t, "api")
	waitHTTP(t, "http://"+s.api+"/healthz")
	startGateway := func() (string, *proc) {
		addr := testenv.FreeAddr(t)
		p := s.startWith(t, []string{"CATALOG_GATEWAY_ADDR=" + addr, "CATALOG_GATEWAY_METRICS_ADDR=" + testenv.FreeAddr(t)}, "gateway")
		waitHTTP(t, "http://"+addr+"/healthz")
		return addr, p
	}
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	counted := func() int64 {
		t.Helper()
		n, err := rdb.Get(context.Background(), s.prefix+"quota:"+key+":"+time.Now().UTC().Format("20060102")).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return n
	}
	// send sends n requests, 16 at a time, alternately through gws, and
	// returns how many were served and how many were over the limit.
	send := func(n int, gws ...string) (served, over int64) {
		var ok, no atomic.Int64
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for i := range next {
					resp, err := client.Get(fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&oauth_consumer_key=%s", gws[i%len(gws)], i+1, key))
					if err != nil {
						t.Error(err)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK, http.StatusNotFound:
						ok.Add(1)
					case http.StatusTooManyRequests:
						no.Add(1)
					default:
						t.Errorf("status %d", resp.StatusCode)
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		return ok.Load(), no.Load()
	}

	a, pa := startGateway()
	b, pb := startGateway()
	served, over := send(1000, a, b)
	if served != 1000 || over != 0 {
		t.Fatalf("first 1000 requests: %d served, %d over the limit; want all served", served, over)
	}
	// A gateway that spent its last lease exactly takes a new one on its
	// next request, which leaves some of it unused.
	for counted() == served {
		more, _ := send(1, a)
		served += more
	}
	held := counted()
	if held <= served || held > limit {
		t.Fatalf("while the gateways run, Redis counts %d for %d served: want the leases reserved on top, within the limit", held, served)
	}
	pa.stop(t)
	pb.stop(t)
	if n := counted(); n != served {
		t.Fatalf("after both gateways stopped, Redis counts %d; want the %d served (unused leases returned)", n, served)
	}

	c, pc := startGateway()
	d, pd := startGateway()
	more, over := send(1500, c, d)
	if served+more > limit || more+over != 1500 {
		t.Fatalf("%d then %d served (%d over the limit): more than the limit of %d", served, more, over, limit)
	}
	pc.stop(t)
	pd.stop(t)
	served += more
	if n := counted(); n != served {
		t.Fatalf("after the second pair stopped, Redis counts %d; want the %d served", n, served)
	}
	e, _ := startGateway()
	last, _ := send(int(limit-served)+50, e)
	if served+last != limit {
		t.Fatalf("%d served before, %d by the last gateway: want exactly the limit of %d in the day", served, last, limit)
	}
}
