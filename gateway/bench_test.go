package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewayredis"
	"github.com/catalog-org/catalog/testenv"
)

// oneClient is a client list of one key.
type oneClient gateway.Client

func (c oneClient) Client(_ context.Context, key string) (gateway.Client, bool, error) {
	return gateway.Client(c), key == c.Key, nil
}

// BenchmarkGateway measures one request through the gateway's handler
// (identity, the daily quota in Redis, the proxy to an upstream over
// loopback, the access log as JSON), against a client far from its limit:
// the per-request work and allocations of the gateway itself.
func BenchmarkGateway(b *testing.B) {
	body := strings.Repeat("x", 2048)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, body)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	q, err := gatewayredis.New(testenv.RedisAddr(b), "bench:quota:"+testenv.Suffix()+":", time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	cl := oneClient{Key: "bench-key", Name: "bench", Enabled: true, DailyLimit: 1 << 30, Services: []string{gateway.ServiceCatalogue}}
	h, err := gateway.NewHandler(gateway.Config{Upstreams: gateway.Upstreams{API: u},
		AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil))}, cl, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()
	target := gw.URL + "/1.2/track/details?trackId=1&country=GB&oauth_consumer_key=bench-key"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(target)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
