package gateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewayredis"
	"github.com/catalog-org/catalog/testenv"
)

// noFollow sends requests without following redirects.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func sendNoFollow(t *testing.T, method, rawURL string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// regionPair is a central and an india gateway over the fixture's clients,
// each knowing the other's URL, each counting in its own quota store.
type regionPair struct {
	central, india *httptest.Server
}

func (f *fixture) regions(t *testing.T, centralQuota, indiaQuota gateway.Quota) regionPair {
	t.Helper()
	var hc, hi atomic.Pointer[http.Handler]
	p := regionPair{
		central: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*hc.Load()).ServeHTTP(w, r) })),
		india:   httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*hi.Load()).ServeHTTP(w, r) })),
	}
	t.Cleanup(p.central.Close)
	t.Cleanup(p.india.Close)
	cu, _ := url.Parse(p.central.URL)
	iu, _ := url.Parse(p.india.URL)
	up, _ := url.Parse(f.up.URL)
	urls := map[string]*url.URL{gateway.Central: cu, "india": iu}
	for _, g := range []struct {
		self  string
		quota gateway.Quota
		h     *atomic.Pointer[http.Handler]
	}{{gateway.Central, centralQuota, &hc}, {"india", indiaQuota, &hi}} {
		h, err := gateway.NewHandler(gateway.Config{
			Upstreams: gateway.Upstreams{API: up, Ingest: up, Admin: up},
			Regions:   gateway.Regions{Self: g.self, URLs: urls},
			Now:       func() time.Time { return *f.now.Load() },
		}, f.clients, g.quota, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		g.h.Store(&h)
	}
	return p
}

// TestRegionalGatewayIsReadOnly: outside the central region, ingest and
// admin answer 421 naming the region, that it is read-only and the central
// gateway's URL (also as a Link to the same path there), before any key is
// looked at and without reaching an upstream; without the central URL the
// answer says which setting lacks it.
func TestRegionalGatewayIsReadOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.clients.Grant(ctx, "ops-key", gateway.ServiceIngest); err != nil {
		t.Fatal(err)
	}
	if err := f.clients.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	central, _ := url.Parse("https://api.example.com/v")
	gw := f.gateway(t, gateway.Config{Regions: gateway.Regions{Self: "india", URLs: map[string]*url.URL{gateway.Central: central}}}, nil)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/ingest/v1/releases?oauth_consumer_key=ops-key"},
		{http.MethodGet, "/admin/projections?oauth_consumer_key=ops-key"},
		{http.MethodDelete, "/admin/projections/track-details"},
	} {
		resp, body := sendNoFollow(t, c.method, gw.URL+c.path)
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s %s: %d %q, want 421", c.method, c.path, resp.StatusCode, body)
		}
		for _, want := range []string{"india region", "read-only", "central region", "https://api.example.com/v"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s %s: %q does not say %q", c.method, c.path, body, want)
			}
		}
		if got, want := resp.Header.Get("Link"), "<https://api.example.com/v"+c.path+`>; rel="alternate"`; got != want {
			t.Errorf("%s %s: Link %q, want %q", c.method, c.path, got, want)
		}
		if got := resp.Header.Get(gateway.RegionHeader); got != "india" {
			t.Errorf("%s %s: %s %q", c.method, c.path, gateway.RegionHeader, got)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s %s: Content-Type %q, want the gateway's plain text", c.method, c.path, resp.Header.Get("Content-Type"))
		}
	}
	if f.seenURL.Load() != nil {
		t.Errorf("an upstream saw %q", *f.seenURL.Load())
	}
	// The catalogue is served there all the same, for a key homed there.
	if err := f.clients.Pin(ctx, "good-key", "india", nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.clients.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, body := sendNoFollow(t, http.MethodGet, gw.URL+"/1.2/track/details?trackId=1&oauth_consumer_key=good-key"); resp.StatusCode != 200 {
		t.Errorf("track/details in india: %d %q", resp.StatusCode, body)
	}

	unknown := f.gateway(t, gateway.Config{Regions: gateway.Regions{Self: "india"}}, nil)
	resp, body := sendNoFollow(t, http.MethodPost, unknown.URL+"/ingest/v1/releases")
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "CATALOG_REGION_URLS") || resp.Header.Get("Link") != "" {
		t.Errorf("without the central URL: %d %q Link %q", resp.StatusCode, body, resp.Header.Get("Link"))
	}
}

// TestPinsRedirectToTheHomeRegion: a gateway serves a (client, route) only
// where it is homed — the region of the most specific pin covering the
// route, else central — and answers the others 307 to the same path and
// query at the home region's gateway, uncached and uncounted; a home whose
// URL is unknown is 421.
func TestPinsRedirectToTheHomeRegion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.clients.Add(ctx, "pinned-key", "indian-store"))
	must(f.clients.Add(ctx, "route-key", "split-store"))
	must(f.clients.Add(ctx, "mars-key", "far-store"))
	must(f.clients.Grant(ctx, "route-key", gateway.ServiceIdentifiers))
	must(f.clients.Grant(ctx, "pinned-key", gateway.ServiceIdentifiers))
	must(f.clients.Pin(ctx, "pinned-key", "india", nil, 0))
	// Everything in india but the ISRC look-up, which stays central.
	must(f.clients.Pin(ctx, "pinned-key", gateway.Central, []string{"/1.2/track/details/isrc"}, 0))
	must(f.clients.Pin(ctx, "route-key", "india", []string{"/track/details"}, 0))
	must(f.clients.Pin(ctx, "mars-key", "mars", nil, 0))
	must(f.clients.Reload(ctx))
	p := f.regions(t, f.quota, f.quota)

	cases := []struct {
		name, key, path string
		at              *httptest.Server
		home            *httptest.Server // nil: served where it is asked
	}{
		{"unpinned at central", "good-key", "/1.2/track/details?trackId=1", p.central, nil},
		{"unpinned at india", "good-key", "/1.2/track/details?trackId=1", p.india, p.central},
		{"pinned at central", "pinned-key", "/1.2/track/details?trackId=2&country=IN", p.central, p.india},
		{"pinned, unversioned", "pinned-key", "/release/details/upc?upc=123", p.central, p.india},
		{"pinned at india", "pinned-key", "/1.2/track/details?trackId=2", p.india, nil},
		{"pinned, its central route at india", "pinned-key", "/track/details/isrc?isrc=GBAAA0000001", p.india, p.central},
		{"pinned, its central route at central", "pinned-key", "/track/details/isrc?isrc=GBAAA0000001", p.central, nil},
		{"route pin at central", "route-key", "/1.2/track/details?trackId=3", p.central, p.india},
		{"route pin covers the route below", "route-key", "/1.2/track/details/isrc?isrc=GBAAA0000001", p.central, p.india},
		{"route pin, another route at central", "route-key", "/1.2/release/details/upc?upc=1", p.central, nil},
		{"route pin, another route at india", "route-key", "/1.2/release/details/upc?upc=1", p.india, p.central},
	}
	for _, c := range cases {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			u := c.at.URL + c.path + "&oauth_consumer_key=" + c.key
			resp, body := sendNoFollow(t, method, u)
			if c.home == nil {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %s: %d %q, want 200", c.name, method, resp.StatusCode, body)
				}
				continue
			}
			want := c.home.URL + c.path + "&oauth_consumer_key=" + c.key
			if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
				t.Errorf("%s: %s: %d Location %q, want 307 to %s (%q)", c.name, method, resp.StatusCode, resp.Header.Get("Location"), want, body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("%s: Cache-Control %q", c.name, cc)
			}
			if home := map[*httptest.Server]string{p.central: gateway.Central, p.india: "india"}[c.home]; resp.Header.Get(gateway.HomeHeader) != home {
				t.Errorf("%s: %s %q, want %q", c.name, gateway.HomeHeader, resp.Header.Get(gateway.HomeHeader), home)
			}
			if resp.Header.Get("X-RateLimit-Current") != "" {
				t.Errorf("%s: a redirect was counted (X-RateLimit-Current %s)", c.name, resp.Header.Get("X-RateLimit-Current"))
			}
		}
	}

	// An HTTP client that follows redirects ends where the key is homed.
	resp, err := http.Get(p.central.URL + "/1.2/track/details?trackId=9&oauth_consumer_key=pinned-key")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(gateway.RegionHeader) != "india" {
		t.Errorf("followed: %d from region %q, want 200 from india", resp.StatusCode, resp.Header.Get(gateway.RegionHeader))
	}
	// Only served requests count: four GET/HEAD were served in india for
	// pinned-key (two cases), and the followed one is the fifth.
	if got := resp.Header.Get("X-RateLimit-Current"); got != "5" {
		t.Errorf("pinned-key's count in india: %s, want 5 (redirects are not counted)", got)
	}

	resp, body := sendNoFollow(t, http.MethodGet, p.central.URL+"/1.2/track/details?trackId=1&oauth_consumer_key=mars-key")
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "mars region") || !strings.Contains(body, "CATALOG_REGION_URLS") {
		t.Errorf("home without a URL: %d %q, want 421 naming mars and the setting", resp.StatusCode, body)
	}
	// Unknown keys learn nothing about homes.
	if resp, _ := sendNoFollow(t, http.MethodGet, p.india.URL+"/1.2/track/details?trackId=1&oauth_consumer_key=nobody"); resp.StatusCode != 401 {
		t.Errorf("unknown key at india: %d, want 401", resp.StatusCode)
	}
}

// TestQuotaCountedPerRegion: each region counts in its own Redis only the
// requests it serves, against its part of the daily limit: the whole limit
// for a client homed in one region; for a client split by a route pin, the
// pin's share in its region and the rest centrally (or equal parts without
// a share), so the client's total never exceeds its limit.
func TestQuotaCountedPerRegion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	own := testenv.StartRedis(t, testenv.FreeAddr(t), t.TempDir())
	indiaQuota, err := gatewayredis.New(own.Addr, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = indiaQuota.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		key    string
		limit  int
		region string
		routes []string
		share  int
	}{
		{"whole-key", 5, "india", nil, 0},
		{"share-key", 10, "india", []string{"/track/details"}, 30},
		{"even-key", 9, "india", []string{"/track/details"}, 0},
	} {
		must(f.clients.Add(ctx, c.key, c.key))
		must(f.clients.Grant(ctx, c.key, gateway.ServiceIdentifiers))
		must(f.clients.SetLimit(ctx, c.key, c.limit))
		must(f.clients.Pin(ctx, c.key, c.region, c.routes, c.share))
	}
	must(f.clients.Reload(ctx))
	p := f.regions(t, f.quota, indiaQuota)

	// passed sends n GETs of path for key to gw and returns how many were
	// served, and the limit the gateway announced.
	passed := func(gw *httptest.Server, key, path string, n int) (served int, limit string) {
		for i := 0; i < n; i++ {
			resp, body := sendNoFollow(t, http.MethodGet, gw.URL+path+"&oauth_consumer_key="+key)
			switch resp.StatusCode {
			case http.StatusOK:
				served++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("%s %s: %d %q", key, path, resp.StatusCode, body)
			}
			limit = resp.Header.Get("X-RateLimit-Limit")
		}
		return served, limit
	}
	const td, upc = "/1.2/track/details?trackId=1", "/1.2/release/details/upc?upc=1"
	for _, c := range []struct {
		name, key, path string
		gw              *httptest.Server
		want            int
	}{
		{"whole pin, india", "whole-key", td, p.india, 5},
		{"whole pin, india, another route: the same count, spent", "whole-key", upc, p.india, 0},
		{"30% share, india", "share-key", td, p.india, 3},
		{"30% share, the rest central", "share-key", upc, p.central, 7},
		{"equal parts, india", "even-key", td, p.india, 4},
		{"equal parts, central", "even-key", upc, p.central, 4},
	} {
		served, limit := passed(c.gw, c.key, c.path, 12)
		if served != c.want {
			t.Errorf("%s: %d served, want %d", c.name, served, c.want)
		}
		if c.want > 0 && limit != strconv.Itoa(c.want) {
			t.Errorf("%s: X-RateLimit-Limit %s, want %d", c.name, limit, c.want)
		}
	}
	// The counts live in each region's own Redis: india's holds only the
	// india-served requests.
	usage, err := indiaQuota.Take(ctx, "share-key", 1000, *f.now.Load())
	if err != nil || usage.Count != 4 {
		t.Errorf("share-key in india's Redis: %d (%v), want 3 counted + this one", usage.Count, err)
	}
	usage, err = f.quota.Take(ctx, "whole-key", 1000, *f.now.Load())
	if err != nil || usage.Count != 1 {
		t.Errorf("whole-key in central's Redis: %d (%v), want nothing counted before this one", usage.Count, err)
	}
}
