package main_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
