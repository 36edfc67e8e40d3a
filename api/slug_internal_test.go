package api

import (
	"regexp"
	"strings"
	"testing"
)

// slugByRegexp is the definition slug implements: runs of characters that
// are neither letters nor numbers become one hyphen, trimmed at the ends.
func slugByRegexp(s string) string {
	return strings.Trim(regexp.MustCompile(`[^\p{L}\p{N}]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{"", "-", "...The Dandy Warhols Come Down", "I Love You (Remastered 2014)", "Sigur Rós – Ágætis byrjun",
		"AC/DC", "  a  b  ", "Ⅻ ½ ²", "İstanbul", "\xff\xfeabc\x80", "東京 事変", "a\u0301b", "--a--", "Ǆ ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := slug(s), slugByRegexp(s); got != want {
			t.Fatalf("slug(%q) = %q, want %q", s, got, want)
		}
	})
}
