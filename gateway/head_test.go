package gateway_test

import (
	"net/http"
	"testing"

	"github.com/catalog-org/catalog/gateway"
)

// TestHead: HEAD of a GET route answers as GET does, without a body; it
// is a request like any other, counted against the daily limit, and
// reaches the upstream as a GET (the API serves GET only).
func TestHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{OpenAPI: []byte("openapi: 3.1.0\n")}, nil)
	path := "/1.2/track/details?trackId=1&oauth_consumer_key=small-key"
	steps := []struct {
		method string
		status int
		count  string
	}{
		{http.MethodGet, 200, "1"}, {http.MethodHead, 200, "2"}, {http.MethodGet, 200, "3"},
		{http.MethodHead, 429, "3"}, {http.MethodGet, 429, "3"},
	}
	var get *http.Response
	for i, s := range steps {
		f.seenMth.Store(new(string))
		resp, body := doMethod(t, s.method, gw.URL, path, nil)
		if resp.StatusCode != s.status || resp.Header.Get("X-RateLimit-Current") != s.count {
			t.Fatalf("step %d, %s: %d, X-RateLimit-Current %q; want %d, %s", i+1, s.method, resp.StatusCode,
				resp.Header.Get("X-RateLimit-Current"), s.status, s.count)
		}
		switch {
		case s.method == http.MethodGet && s.status == 200:
			get = resp
		case s.method == http.MethodHead && body != "":
			t.Errorf("step %d: HEAD answered with a body %q", i+1, body)
		}
		if s.method == http.MethodHead && s.status == 200 {
			if m := *f.seenMth.Load(); m != http.MethodGet {
				t.Errorf("step %d: the upstream saw %q, want GET", i+1, m)
			}
			for _, h := range []string{"Content-Type", "Content-Length"} {
				if resp.Header.Get(h) != get.Header.Get(h) || get.Header.Get(h) == "" {
					t.Errorf("step %d: HEAD %s %q, GET %q", i+1, h, resp.Header.Get(h), get.Header.Get(h))
				}
			}
		}
		if s.status == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("step %d: over the limit without Retry-After", i+1)
		}
	}
	// Every other GET route, and the gateway's own refusals (echo answers
	// a HEAD of a path no route serves with a bare 404).
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/healthz", 200},
		{"/openapi.yaml", 200},
		{"/track/details?trackId=1&oauth_consumer_key=good-key", 200},
		{"/1.2/track/details/isrc?isrc=X&oauth_consumer_key=ops-key", 200},
		{"/1.2/release/details/upc?upc=X&oauth_consumer_key=ops-key", 200},
		{"/admin/rebuilds/track-details?oauth_consumer_key=ops-key", 200},
		{"/1.2/track/details?trackId=1", 401},
		{"/1.2/track/details/isrc?isrc=X&oauth_consumer_key=good-key", 403},
		{"/1.2/artist/details?oauth_consumer_key=good-key", 404},
	} {
		get, _ := do(t, gw.URL, tc.path, nil)
		head, body := doMethod(t, http.MethodHead, gw.URL, tc.path, nil)
		if head.StatusCode != tc.status || get.StatusCode != tc.status || body != "" {
			t.Errorf("HEAD %s: %d %q, GET %d; want %d without a body", tc.path, head.StatusCode, body, get.StatusCode, tc.status)
		}
		if tc.status == 404 {
			continue
		}
		if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || head.Header.Get("Content-Length") != get.Header.Get("Content-Length") {
			t.Errorf("HEAD %s: %q %q, GET %q %q", tc.path, head.Header.Get("Content-Type"), head.Header.Get("Content-Length"),
				get.Header.Get("Content-Type"), get.Header.Get("Content-Length"))
		}
	}
}
