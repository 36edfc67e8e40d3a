package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/catalog-org/catalog/deployments/local/testenv"
	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
)

func TestGatewayIdentifiesAndProxies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := testenv.Postgres(t)
	if err := gatewaypg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	clients, _ := gatewaypg.New(pool, log)
	if err := clients.Add(ctx, "good-key", "partner"); err != nil {
		t.Fatal(err)
	}
	if err := clients.Add(ctx, "off-key", "former partner"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `update api_clients set enabled = false where key = 'off-key'`); err != nil {
		t.Fatal(err)
	}
	if err := clients.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	var seen http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, `<response status="ok"/>`)
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	h, err := gateway.NewHandler(gateway.Config{Upstream: u}, clients, log)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	do := func(path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	const denied = "OAuth authentication error: Access to resource denied"
	for name, tc := range map[string]struct {
		path string
		hdr  map[string]string
		want int
	}{
		"query key":              {"/1.2/track/details?trackId=1&oauth_consumer_key=good-key", nil, 200},
		"plain header key":       {"/track/details?trackId=1", map[string]string{"Authorization": "oauth_consumer_key=good-key"}, 200},
		"OAuth header key":       {"/1.2/track/details?trackId=1", map[string]string{"Authorization": `OAuth oauth_consumer_key="good-key",oauth_nonce="1"`}, 200},
		"no key":                 {"/1.2/track/details?trackId=1", nil, 401},
		"unknown key":            {"/1.2/track/details?trackId=1&oauth_consumer_key=bad", nil, 401},
		"disabled key":           {"/1.2/track/details?trackId=1&oauth_consumer_key=off-key", nil, 401},
		"unknown key in header":  {"/1.2/track/details?trackId=1", map[string]string{"Authorization": "oauth_consumer_key=bad"}, 401},
		"path outside catalogue": {"/admin?oauth_consumer_key=good-key", nil, 404},
	} {
		status, body := do(tc.path, tc.hdr)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", name, status, tc.want, body)
		}
		if tc.want == 401 && body != denied {
			t.Errorf("%s: body %q, want %q", name, body, denied)
		}
	}

	// Client-supplied forwarding and identity headers never reach upstream.
	seen = nil
	status, _ := do("/1.2/track/details?trackId=1&oauth_consumer_key=good-key", map[string]string{
		"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Forwarded-Host": "evil", gateway.ClientHeader: "someone-else",
	})
	if status != 200 || seen == nil {
		t.Fatalf("status %d, upstream saw %v", status, seen)
	}
	if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the gateway's view of the client only", got)
	}
	if got := seen.Get("X-Real-IP"); got != "" {
		t.Errorf("X-Real-IP = %q, want none", got)
	}
	if got := seen.Get("X-Forwarded-Host"); got == "evil" {
		t.Errorf("X-Forwarded-Host = %q passed through", got)
	}
	if got := seen.Values(gateway.ClientHeader); len(got) != 1 || got[0] != "good-key" {
		t.Errorf("%s = %v, want [good-key]", gateway.ClientHeader, got)
	}
}
