package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/gateway/gatewayredis"
	"github.com/catalog-org/catalog/testenv"
)

type fixture struct {
	clients *gatewaypg.Store
	quota   *gatewayredis.Quota
	seen    atomic.Pointer[http.Header]
	seenURL atomic.Pointer[string]
	seenMth atomic.Pointer[string]
	up      *httptest.Server
	now     atomic.Pointer[time.Time]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := testenv.Postgres(t)
	if err := gatewaypg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	f := &fixture{}
	f.clients, _ = gatewaypg.New(pool, log)
	for _, c := range []struct{ key, name string }{{"good-key", "partner"}, {"off-key", "former"}, {"small-key", "small"}, {"ops-key", "ops"}} {
		if err := f.clients.Add(ctx, c.key, c.name); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.clients.SetEnabled(ctx, "off-key", false))
	must(f.clients.SetLimit(ctx, "small-key", 3))
	must(f.clients.Grant(ctx, "ops-key", gateway.ServiceAdmin))
	must(f.clients.Grant(ctx, "ops-key", gateway.ServiceIdentifiers))
	must(f.clients.Reload(ctx))
	q, err := gatewayredis.New(testenv.RedisAddr(t), "test:quota:"+testenv.Suffix()+":", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	f.quota = q
	f.up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		u, m := r.URL.String(), r.Method
		f.seen.Store(&h)
		f.seenURL.Store(&u)
		f.seenMth.Store(&m)
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, `<response status="ok"/>`)
	}))
	t.Cleanup(f.up.Close)
	// A minute before today's UTC midnight: the quota keys expire (EXPIREAT)
	// an hour after their day ends, so the clock must not lie in the past,
	// where Redis would drop each key as soon as it is written.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour - time.Minute)
	f.now.Store(&start)
	return f
}

func (f *fixture) gateway(t *testing.T, cfg gateway.Config, quota gateway.Quota) *httptest.Server {
	t.Helper()
	u, _ := url.Parse(f.up.URL)
	if cfg.Upstreams.API == nil {
		cfg.Upstreams = gateway.Upstreams{API: u, Ingest: u, Admin: u}
	}
	cfg.Now = func() time.Time { return *f.now.Load() }
	if quota == nil {
		quota = f.quota
	}
	h, err := gateway.NewHandler(cfg, f.clients, quota, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, base, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	return doMethod(t, http.MethodGet, base, path, hdr)
}

func doMethod(t *testing.T, method, base, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return send(t, method, base+path, h)
}

func doHeaders(t *testing.T, base, path string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	return send(t, http.MethodGet, base+path, hdr)
}

func send(t *testing.T, method, rawURL string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const denied = "OAuth authentication error: Access to resource denied"

func TestStatusPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{}, nil)
	for name, tc := range map[string]struct {
		path string
		hdr  map[string]string
		want int
		body string
	}{
		"query key":             {"/1.2/track/details?trackId=1&oauth_consumer_key=good-key", nil, 200, ""},
		"plain header key":      {"/track/details?trackId=1", map[string]string{"Authorization": "oauth_consumer_key=good-key"}, 200, ""},
		"OAuth header key":      {"/1.2/track/details?trackId=1", map[string]string{"Authorization": `OAuth oauth_consumer_key="good-key",oauth_nonce="1"`}, 200, ""},
		"no key":                {"/1.2/track/details?trackId=1", nil, 401, denied},
		"unknown key":           {"/1.2/track/details?trackId=1&oauth_consumer_key=bad", nil, 401, denied},
		"disabled key":          {"/1.2/track/details?trackId=1&oauth_consumer_key=off-key", nil, 401, denied},
		"unknown key in header": {"/1.2/track/details?trackId=1", map[string]string{"Authorization": "oauth_consumer_key=bad"}, 401, denied},
		"forbidden service":     {"/1.2/track/details/isrc?isrc=X&oauth_consumer_key=good-key", nil, 403, "Access to the identifiers service is not granted to this key"},
		"granted service":       {"/1.2/track/details/isrc?isrc=X&oauth_consumer_key=ops-key", nil, 200, ""},
		"admin without grant":   {"/admin/rebuilds/track-details?oauth_consumer_key=good-key", nil, 403, "Access to the admin service is not granted to this key"},
		"admin with grant":      {"/admin/rebuilds/track-details?oauth_consumer_key=ops-key", nil, 200, ""},
		"ingest without grant":  {"/ingest/v1/deliveries?oauth_consumer_key=ops-key", nil, 403, "Access to the ingest service is not granted to this key"},
		"conflicting keys":      {"/1.2/track/details?trackId=1&oauth_consumer_key=good-key&oauth_consumer_key=ops-key", nil, 401, denied + ": the query string carries different oauth_consumer_key values"},
		"10 KB key":             {"/1.2/track/details?trackId=1&oauth_consumer_key=" + strings.Repeat("k", 10240), nil, 401, denied},
		"key with CRLF":         {"/1.2/track/details?trackId=1&oauth_consumer_key=good-key%0d%0aX-Evil:%201", nil, 401, denied},
		"key with NUL":          {"/1.2/track/details?trackId=1&oauth_consumer_key=good-key%00", nil, 401, denied},
		"unknown path":          {"/1.2/artist/details?oauth_consumer_key=good-key", nil, 404, ""},
	} {
		resp, body := do(t, gw.URL, tc.path, tc.hdr)
		if resp.StatusCode != tc.want || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", name, resp.StatusCode, body, tc.want, tc.body)
		}
		if tc.want == 200 && resp.Header.Get("X-RateLimit-Limit") == "" {
			t.Errorf("%s: no X-RateLimit headers", name)
		}
	}
	// Ingest gets its prefix cut (for a key bound to a party).
	if err := f.clients.Grant(context.Background(), "ops-key", gateway.ServiceIngest); err != nil {
		t.Fatal(err)
	}
	if err := f.clients.SetParties(context.Background(), "ops-key", []string{gateway.AnyParty}); err != nil {
		t.Fatal(err)
	}
	_ = f.clients.Reload(context.Background())
	if resp, _ := do(t, gw.URL, "/ingest/v1/deliveries?oauth_consumer_key=ops-key", nil); resp.StatusCode != 200 || !strings.HasPrefix(*f.seenURL.Load(), "/v1/deliveries") {
		t.Errorf("ingest proxied to %q (%d)", *f.seenURL.Load(), resp.StatusCode)
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{}, nil)
	resp, _ := do(t, gw.URL, "/1.2/track/details?trackId=1&oauth_consumer_key=good-key", map[string]string{
		"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Forwarded-Host": "evil", gateway.ClientHeader: "someone-else",
		"Connection": gateway.ClientHeader + ", X-Forwarded-For",
	})
	seen := *f.seen.Load()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := seen.Get("X-Real-IP"); got != "" {
		t.Errorf("X-Real-IP = %q", got)
	}
	if got := seen.Get("X-Forwarded-Host"); got == "evil" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	if got := seen.Values(gateway.ClientHeader); len(got) != 1 || got[0] != "good-key" {
		t.Errorf("%s = %v, want [good-key] even though Connection named it", gateway.ClientHeader, got)
	}
	// Path tricks never reach a service the client lacks (good-key has
	// only the catalogue).
	for _, p := range []string{"/1.2/../admin/rebuilds/track-details", "//admin/rebuilds/track-details", "/1.2/%2e%2e/admin/rebuilds",
		"/1.2/track%2fdetails", "/ADMIN/rebuilds/track-details", "/admin/rebuilds/track-details;x", "/1.2/track/details/../../admin/x",
		"/1.2/track/details/.", "/1.2/track/details%00"} {
		f.seenURL.Store(new(string))
		resp, _ := do(t, gw.URL, p+"?oauth_consumer_key=good-key", nil)
		if resp.StatusCode == 200 || strings.Contains(*f.seenURL.Load(), "admin") {
			t.Errorf("%s: %d, upstream saw %q", p, resp.StatusCode, *f.seenURL.Load())
		}
	}
	// A huge header and a slow client are the server's: Go's limits answer.
	big, _ := do(t, gw.URL, "/1.2/track/details?oauth_consumer_key=good-key", map[string]string{"X-Big": strings.Repeat("x", 2<<20)})
	if big.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("2 MB header: %d", big.StatusCode)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{}, nil)
	path := "/1.2/track/details?trackId=1&oauth_consumer_key=small-key"
	for i := 1; i <= 3; i++ {
		resp, _ := do(t, gw.URL, path, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Current") != fmt.Sprint(i) || resp.Header.Get("X-RateLimit-Limit") != "3" ||
			resp.Header.Get("X-RateLimit-Reset") != "60" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	resp, body := do(t, gw.URL, path, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" || body != "You have exceeded your daily request limit of 3" ||
		resp.Header.Get("X-RateLimit-Current") != "3" {
		t.Fatalf("over the limit: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// 7digital's answer, when configured.
	gw401 := f.gateway(t, gateway.Config{OverLimitStatus: 401}, nil)
	if resp, _ := do(t, gw401.URL, path, nil); resp.StatusCode != 401 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("over the limit (401 mode): %d", resp.StatusCode)
	}
	// The UTC day rolls over: a fresh count.
	next := f.now.Load().Add(2 * time.Minute)
	f.now.Store(&next)
	if resp, _ := do(t, gw.URL, path, nil); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Current") != "1" {
		t.Fatalf("next day: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestQuotaExactUnderConcurrency: with N requests left, N+k parallel
// requests through two gateways sharing Redis give exactly N successes.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.clients.SetLimit(context.Background(), "small-key", 50); err != nil {
		t.Fatal(err)
	}
	_ = f.clients.Reload(context.Background())
	// A generous Redis deadline: this test is about exactness, not about
	// the fail-open policy, which a loaded test machine could trigger.
	a, b := f.gateway(t, gateway.Config{QuotaTimeout: 2 * time.Second}, nil), f.gateway(t, gateway.Config{QuotaTimeout: 2 * time.Second}, nil)
	var ok, over atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 80; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := a.URL
			if i%2 == 1 {
				base = b.URL
			}
			resp, err := http.Get(base + "/1.2/track/details?trackId=1&oauth_consumer_key=small-key")
			if err != nil {
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				over.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	if ok.Load() != 50 || over.Load() != 30 {
		t.Fatalf("%d passed and %d were over the limit, want 50 and 30", ok.Load(), over.Load())
	}
}

// downQuota is a Redis that is not there.
func downQuota(t *testing.T) *gatewayredis.Quota {
	q, err := gatewayredis.New("127.0.0.1:1", "x:", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	open := f.gateway(t, gateway.Config{QuotaTimeout: 30 * time.Millisecond}, downQuota(t))
	path := "/1.2/track/details?trackId=1&oauth_consumer_key=small-key"
	for i := 1; i <= 3; i++ {
		start := time.Now()
		resp, _ := do(t, open.URL, path, nil)
		if resp.StatusCode != 200 || time.Since(start) > time.Second {
			t.Fatalf("fail open, request %d: %d after %s", i, resp.StatusCode, time.Since(start))
		}
	}
	if resp, _ := do(t, open.URL, path, nil); resp.StatusCode != 429 {
		t.Fatalf("fail open still enforces the limit per process: %d", resp.StatusCode)
	}
	if resp, body := do(t, open.URL, "/1.2/track/details?oauth_consumer_key=nobody", nil); resp.StatusCode != 401 || body != denied {
		t.Fatalf("identity without Redis: %d", resp.StatusCode)
	}
	closed := f.gateway(t, gateway.Config{QuotaTimeout: 30 * time.Millisecond, QuotaFailClosed: true}, downQuota(t))
	if resp, _ := do(t, closed.URL, path, nil); resp.StatusCode != 503 {
		t.Fatalf("fail closed: %d", resp.StatusCode)
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dead, _ := url.Parse("http://" + testenv.FreeAddr(t))
	gw := f.gateway(t, gateway.Config{Upstreams: gateway.Upstreams{API: dead}}, nil)
	resp, body := do(t, gw.URL, "/1.2/track/details?trackId=1&oauth_consumer_key=good-key", nil)
	if resp.StatusCode != 502 || !strings.Contains(body, `<response status="error" version="1.2"><error code="7003">`) {
		t.Fatalf("upstream down: %d %s", resp.StatusCode, body)
	}
}
