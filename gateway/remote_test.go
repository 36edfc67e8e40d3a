package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/catalog-org/catalog/gateway"
)

// accessLog collects the gateway's access log lines.
type accessLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *accessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lastRemote is the remote address of the last line, emptying the log.
func (l *accessLog) lastRemote(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(l.b.String()), "\n")
	l.b.Reset()
	var rec struct {
		Remote string `json:"remote"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatalf("access log line %q: %v", lines[len(lines)-1], err)
	}
	return rec.Remote
}

// TestSpoofedForwardedFor: without trusted proxies, X-Forwarded-For and
// X-Real-IP are the client's word and are ignored: the log and the
// upstream get the TCP peer.
func TestSpoofedForwardedFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	log := &accessLog{}
	gw := f.gateway(t, gateway.Config{AccessLog: slog.New(slog.NewJSONHandler(log, nil))}, nil)
	for name, hdr := range map[string]map[string]string{
		"X-Forwarded-For":  {"X-Forwarded-For": "6.6.6.6"},
		"a chain":          {"X-Forwarded-For": "6.6.6.6, 7.7.7.7"},
		"X-Real-IP":        {"X-Real-IP": "6.6.6.6"},
		"both":             {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "7.7.7.7"},
		"refused requests": {"X-Forwarded-For": "6.6.6.6", "Authorization": "oauth_consumer_key=nobody"},
	} {
		if _, ok := hdr["Authorization"]; !ok {
			hdr["Authorization"] = "oauth_consumer_key=good-key"
		}
		resp, _ := do(t, gw.URL, "/1.2/track/details?trackId=1", hdr)
		if got := log.lastRemote(t); got != "127.0.0.1" {
			t.Errorf("%s: logged remote %q (status %d), want the TCP peer 127.0.0.1", name, got, resp.StatusCode)
		}
		if resp.StatusCode != 200 {
			continue
		}
		seen := *f.seen.Load()
		if got := seen.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("%s: upstream X-Forwarded-For %q, want [127.0.0.1]", name, got)
		}
		if got := seen.Get("X-Real-IP"); got != "" {
			t.Errorf("%s: upstream X-Real-IP %q", name, got)
		}
	}
}

// TestTrustedProxies: from a configured proxy (here the loopback peer),
// the client is the first untrusted address of X-Forwarded-For read from
// the right, else X-Real-IP; what a client wrote to the left of what the
// proxy appended never reaches the log or the upstream.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cidr := func(s string) *net.IPNet {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	log := &accessLog{}
	gw := f.gateway(t, gateway.Config{
		TrustedProxies: []*net.IPNet{cidr("127.0.0.0/8"), cidr("10.0.0.0/8")},
		AccessLog:      slog.New(slog.NewJSONHandler(log, nil)),
	}, nil)
	for name, tc := range map[string]struct {
		hdr  []string // "Name: value", in order
		want string
	}{
		"one hop":                     {[]string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7"},
		"a client's spoof before it":  {[]string{"X-Forwarded-For: 6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		"two trusted hops":            {[]string{"X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		"two header lines":            {[]string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 203.0.113.7"}, "203.0.113.7"},
		"IPv6":                        {[]string{"X-Forwarded-For: [2001:db8::1]"}, "2001:db8::1"},
		"X-Real-IP":                   {[]string{"X-Real-IP: 198.51.100.9"}, "198.51.100.9"},
		"X-Forwarded-For wins":        {[]string{"X-Forwarded-For: 203.0.113.7", "X-Real-IP: 198.51.100.9"}, "203.0.113.7"},
		"not an address":              {[]string{"X-Forwarded-For: 6.6.6.6, <script>"}, "127.0.0.1"},
		"X-Real-IP not an address":    {[]string{"X-Real-IP: somewhere"}, "127.0.0.1"},
		"no header: the proxy itself": {nil, "127.0.0.1"},
	} {
		req := http.Header{"Authorization": {"oauth_consumer_key=good-key"}}
		for _, h := range tc.hdr {
			k, v, _ := strings.Cut(h, ": ")
			req.Add(k, v)
		}
		resp, _ := doHeaders(t, gw.URL, "/1.2/track/details?trackId=1", req)
		if got := log.lastRemote(t); got != tc.want {
			t.Errorf("%s: logged remote %q, want %q", name, got, tc.want)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
			continue
		}
		seen := *f.seen.Load()
		if got := seen.Values("X-Forwarded-For"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: upstream X-Forwarded-For %q, want [%s]", name, got, tc.want)
		}
		if got := seen.Get("X-Real-IP"); got != "" {
			t.Errorf("%s: upstream X-Real-IP %q", name, got)
		}
	}
	// A peer outside the trusted ranges is not believed.
	other := f.gateway(t, gateway.Config{TrustedProxies: []*net.IPNet{cidr("10.0.0.0/8")}, AccessLog: slog.New(slog.NewJSONHandler(log, nil))}, nil)
	do(t, other.URL, "/1.2/track/details?trackId=1", map[string]string{"Authorization": "oauth_consumer_key=good-key", "X-Forwarded-For": "203.0.113.7"})
	if got := log.lastRemote(t); got != "127.0.0.1" {
		t.Errorf("untrusted peer: logged remote %q, want 127.0.0.1", got)
	}
}
