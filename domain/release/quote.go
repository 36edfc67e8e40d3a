package release

import (
	"strconv"
	"unicode/utf8"
)

// MaxQuoted is the most bytes of one input value that an error message or
// a rejection repeats. Identifiers (ISRC, UPC, GRid, DPID, message ids)
// are far shorter; a longer value is cut at a character boundary and
// marked with how many bytes were left out, so a 10 MB MessageId is not
// echoed back in full.
const MaxQuoted = 128

// Clip returns s unchanged if it has at most MaxQuoted bytes; otherwise
// its first MaxQuoted bytes (cut at a UTF-8 boundary) followed by the
// marker "…[+N bytes]", N being the bytes left out.
func Clip(s string) string {
	head, rest := clip(s)
	if rest == 0 {
		return s
	}
	return head + marker(rest)
}

// Quote returns s quoted as %q prints it, with a value longer than
// MaxQuoted bytes clipped: its first MaxQuoted bytes quoted, then the
// marker …[+N bytes] outside the quotes.
func Quote(s string) string {
	head, rest := clip(s)
	if rest == 0 {
		return strconv.Quote(s)
	}
	return strconv.Quote(head) + marker(rest)
}

// clip splits s into the part shown and the number of bytes left out.
func clip(s string) (string, int) {
	if len(s) <= MaxQuoted {
		return s, 0
	}
	cut := MaxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], len(s) - cut
}

func marker(n int) string { return "…[+" + strconv.Itoa(n) + " bytes]" }
