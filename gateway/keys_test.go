package gateway_test

import (
	"testing"

	"github.com/catalog-org/catalog/gateway"
)

// TestConflictingKeys: a request that names two different consumer keys,
// wherever they are, is refused with 401 and says why; the same key in
// both places is one key.
func TestConflictingKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{}, nil)
	const prefix = "OAuth authentication error: Access to resource denied: "
	for name, tc := range map[string]struct {
		query string
		auth  string
		want  int
		body  string
	}{
		"query and plain header differ": {"oauth_consumer_key=good-key", "oauth_consumer_key=ops-key", 401,
			prefix + "the oauth_consumer_key query parameter and the Authorization header carry different consumer keys"},
		"query and OAuth header differ": {"oauth_consumer_key=good-key", `OAuth oauth_consumer_key="ops-key",oauth_nonce="1"`, 401,
			prefix + "the oauth_consumer_key query parameter and the Authorization header carry different consumer keys"},
		"unknown header key beside a good query key": {"oauth_consumer_key=good-key", "oauth_consumer_key=nobody", 401,
			prefix + "the oauth_consumer_key query parameter and the Authorization header carry different consumer keys"},
		"two query keys": {"oauth_consumer_key=good-key&OAUTH_CONSUMER_KEY=ops-key", "", 401,
			prefix + "the query string carries different oauth_consumer_key values"},
		"two header keys": {"", `OAuth oauth_consumer_key="good-key",oauth_consumer_key="ops-key"`, 401,
			prefix + "the Authorization header carries different consumer keys"},
		"same key in both":            {"oauth_consumer_key=good-key", "oauth_consumer_key=good-key", 200, ""},
		"same key, OAuth-encoded":     {"oauth_consumer_key=good-key", `OAuth oauth_consumer_key="good%2Dkey"`, 200, ""},
		"same key twice in the query": {"oauth_consumer_key=good-key&oauth_consumer_key=good-key", "", 200, ""},
	} {
		f.seenURL.Store(new(string))
		hdr := map[string]string{}
		if tc.auth != "" {
			hdr["Authorization"] = tc.auth
		}
		resp, body := do(t, gw.URL, "/1.2/track/details?trackId=1&"+tc.query, hdr)
		if resp.StatusCode != tc.want || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", name, resp.StatusCode, body, tc.want, tc.body)
		}
		if tc.want != 200 && *f.seenURL.Load() != "" {
			t.Errorf("%s: refused, but the upstream saw %q", name, *f.seenURL.Load())
		}
		if tc.want == 401 && resp.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
			t.Errorf("%s: Content-Type %q, want 7digital's plain text", name, resp.Header.Get("Content-Type"))
		}
	}
}
