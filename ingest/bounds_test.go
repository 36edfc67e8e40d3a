package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
)

// TestRejectionsClipQuotedInput: a rejection repeats at most
// release.MaxQuoted bytes of any input value (the message id, the sender,
// a bad value, an unknown field or element name), marked as clipped, however
// large the value; the delivery changes nothing.
func TestRejectionsClipQuotedInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	huge := strings.Repeat("A", 1<<20) // 1 MiB
	audio := sample(t, "ern43_1_Audio.xml")
	ern := func(old, repl string) []byte {
		if !strings.Contains(audio, old) {
			t.Fatalf("the sample has no %q; update the test", old)
		}
		return []byte(strings.Replace(audio, old, repl, 1))
	}
	tests := []struct {
		name, contentType string
		body              []byte
	}{
		{"JSON id, sender and UPC", "application/json", []byte(`{"messageId":"` + huge + `","sender":"` + huge + `","upc":"` + huge + `","title":"T","artist":"A",` +
			`"tracks":[{"isrc":"` + huge + `","title":"x","duration":"` + huge + `","disc":1,"number":1}]}`)},
		{"JSON unknown field", "application/json", []byte(`{"messageId":"` + huge + `","` + huge + `":1}`)},
		{"JSON creation time", "application/json", []byte(`{"messageId":"` + huge + `","messageCreated":"` + huge + `"}`)},
		{"ERN id and ISRC", "application/xml", bytes.Replace(ern("<MessageId>Test1.1</MessageId>", "<MessageId>"+huge+"</MessageId>"),
			[]byte("<ISRC>JPTO09404900</ISRC>"), []byte("<ISRC>"+huge+"</ISRC>"), 1)},
		{"ERN namespace", "application/xml", ern("http://ddex.net/xml/ern/43", huge)},
		{"ERN root name", "application/xml", []byte("<" + huge + "/>")},
		{"ERN second root", "application/xml", []byte("<a/><" + huge + "/>")},
		{"ERN creation time", "application/xml", ern("2014-09-24T14:57:25+01:00", huge)},
		{"Content-Type", "text/plain; x=" + strings.Repeat("b", 200_000), []byte("<a/>")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/deliveries", bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode/100 != 4 {
				t.Fatalf("%d, want a 4xx: %.300s", resp.StatusCode, b)
			}
			var body struct {
				Status, Error string
				Message       struct{ Sender, ID string }
				Problems      []struct{ Field, Reason string }
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("not JSON: %.300s", b)
			}
			if len(b) > 4096 {
				t.Fatalf("the rejection is %d bytes long: %.600s", len(b), b)
			}
			if !strings.Contains(string(b), "…[+") {
				t.Errorf("the rejection does not mark what it clipped: %s", b)
			}
			for _, s := range []string{body.Message.ID, body.Message.Sender} {
				if len(s) > release.MaxQuoted+30 {
					t.Errorf("message name part is %d bytes", len(s))
				}
			}
		})
	}
	if n := f.streams(t); n != 0 {
		t.Errorf("%d release streams after rejected deliveries, want 0", n)
	}
}

// TestClip: values up to MaxQuoted bytes are kept whole; longer ones are cut
// at a character boundary and say how many bytes were left out.
func TestClip(t *testing.T) {
	t.Parallel()
	short := strings.Repeat("x", release.MaxQuoted)
	if release.Clip(short) != short || release.Quote(short) != `"`+short+`"` {
		t.Errorf("a %d-byte value was changed", release.MaxQuoted)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	got := release.Quote(long)
	want := `"` + strings.Repeat("é", release.MaxQuoted/2) + `"…[+` + "1872 bytes]"
	if got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
	odd := "x" + long
	if c := release.Clip(odd); c != "x"+strings.Repeat("é", release.MaxQuoted/2-1)+"…[+1874 bytes]" {
		t.Errorf("Clip cut inside a character: %s", c)
	}
}
