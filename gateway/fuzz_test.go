package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzKeyAndPath: whatever the query, Authorization header and path, the
// key found is empty or valid, and a path the cleaner lets through has no
// dot segment, empty segment or encoded separator.
func FuzzKeyAndPath(f *testing.F) {
	f.Add("oauth_consumer_key=good-key", `OAuth oauth_consumer_key="k"`, "/1.2/track/details")
	f.Add("oauth_consumer_key=a&oauth_consumer_key=b", "oauth_consumer_key=c", "/1.2/../admin")
	f.Add("OAUTH_CONSUMER_KEY=%00", "", "//admin;x")
	f.Add("", "oauth_consumer_key=%zz", "/1.2/%2e%2e/admin")
	f.Fuzz(func(t *testing.T, query, auth, path string) {
		r := &http.Request{Method: http.MethodGet, Header: http.Header{}, URL: &url.URL{RawQuery: query}}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		k, conflict := identify(r)
		if k != "" && (ValidKey(k) != nil || conflict != "") {
			t.Fatalf("identify returned an invalid key %q (conflict %q)", k, conflict)
		}
		u, err := url.Parse("http://x" + path)
		if err != nil || !strings.HasPrefix(u.Path, "/") {
			return
		}
		passed := false
		h := cleanPaths(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true }))
		h.ServeHTTP(httptest.NewRecorder(), &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		if passed {
			segs := strings.Split(u.Path[1:], "/")
			for i, s := range segs {
				if s == "." || s == ".." || (s == "" && i != len(segs)-1) {
					t.Fatalf("path %q (%q) passed the cleaner", path, u.Path)
				}
			}
			if low := strings.ToLower(u.EscapedPath()); strings.Contains(low, "%2f") || strings.Contains(low, "%2e") {
				t.Fatalf("encoded separator in %q passed", path)
			}
		}
	})
}
