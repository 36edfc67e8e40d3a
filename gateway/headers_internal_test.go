package gateway

import (
	"net/http"
	"testing"
)

// TestRateLimitHeaderNames: the daily-limit headers, assigned without
// Header.Set, are stored under the canonical forms of 7digital's names, so
// Header.Get of those names finds them.
func TestRateLimitHeaderNames(t *testing.T) {
	for name, stored := range map[string]string{
		"X-RateLimit-Limit": headerLimit, "X-RateLimit-Current": headerCurrent, "X-RateLimit-Reset": headerReset,
	} {
		if c := http.CanonicalHeaderKey(name); c != stored {
			t.Errorf("%s is stored as %q, net/http's canonical form is %q", name, stored, c)
		}
	}
}
