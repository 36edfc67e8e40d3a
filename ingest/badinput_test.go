package ingest_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

const samples = "../../shared/reference/ddex/samples/"

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(samples + name)
	if os.IsNotExist(err) {
		t.Skipf("DDEX samples not found at %s (../shared is absent); skipping", samples)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBadDeliveriesAreRejectedPrecisely: every kind of bad input gets a 4xx
// naming the message, the place and the reason, never a 5xx, and leaves no
// trace: no release stream, no event.
func TestBadDeliveriesAreRejectedPrecisely(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	audio := sample(t, "ern43_1_Audio.xml")
	random := make([]byte, 10_000_000)
	_, _ = rand.Read(random)

	tests := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		field       string // a problem must name this place (substring)
		reason      string // ... with this in its reason
		message     string // the rejection names this message id
	}{
		{"malformed XML", "application/xml", []byte(audio[:len(audio)/2]), 400, "/", "XML", ""},
		{"unknown namespace", "application/xml", []byte(strings.Replace(audio, "http://ddex.net/xml/ern/43", "http://ddex.net/xml/ern/99", 1)),
			400, "NewReleaseMessage", "namespace", ""},
		{"missing ISRC", "application/xml", []byte(strings.Replace(audio, "<ISRC>JPTO09404900</ISRC>", "", 1)), 400, "SoundRecording", "ISRC", "Test1.1"},
		{"bad ISRC", "application/xml", []byte(strings.Replace(audio, "<ISRC>JPTO09404900</ISRC>", "<ISRC>JPTO0940490X</ISRC>", 1)),
			400, "ISRC", "invalid ISRC", "Test1.1"},
		{"bad UPC checksum", "application/xml", []byte(strings.Replace(audio, "<ICPN>00094631432057</ICPN>", "<ICPN>00094631432058</ICPN>", 1)),
			400, "ICPN", "check digit", "Test1.1"},
		{"invalid duration", "application/xml", []byte(strings.Replace(audio, "<Duration>PT2M28S</Duration>", "<Duration>2:28</Duration>", 1)),
			400, "Duration", "ISO 8601", "Test1.1"},
		{"creation time without zone", "application/xml", []byte(strings.Replace(audio, "2014-09-24T14:57:25+01:00", "2014-09-24T14:57:25", 1)),
			400, "MessageCreatedDateTime", "time zone", "Test1.1"},
		{"JSON time without zone", "application/json", []byte(`{"messageId":"j1","messageCreated":"2024-01-01T10:00:00","upc":"00724349501058"}`),
			400, "messageCreated", "time zone", "j1"},
		{"10 MB of random bytes", "application/xml", random, 400, "/", "XML", ""},
		{"50 MB body", "application/xml", bytes.Repeat([]byte("<a>"), 50_000_000/3), 413, "", "", ""},
	}
	if !strings.Contains(audio, "2014-09-24T14:57:25+01:00") {
		t.Fatal("the sample's MessageCreatedDateTime changed; update the test")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(f.srv.URL+"/v1/deliveries", tc.contentType, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body struct {
				Status  string `json:"status"`
				Error   string `json:"error"`
				Message struct {
					ID string `json:"id"`
				} `json:"message"`
				Problems []struct{ Field, Reason string } `json:"problems"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("%d, not JSON: %s", resp.StatusCode, b)
			}
			if resp.StatusCode != tc.status || body.Status != "rejected" || body.Error == "" {
				t.Fatalf("%d %s, want %d rejected", resp.StatusCode, b, tc.status)
			}
			if tc.message != "" && body.Message.ID != tc.message {
				t.Errorf("rejection names message %q, want %q", body.Message.ID, tc.message)
			}
			if tc.field == "" {
				return
			}
			for _, p := range body.Problems {
				if strings.Contains(p.Field, tc.field) && strings.Contains(p.Reason, tc.reason) {
					return
				}
			}
			t.Errorf("no problem at %q about %q in %s", tc.field, tc.reason, b)
		})
	}
	if n := f.streams(t); n != 0 {
		t.Errorf("%d release streams after rejected deliveries, want 0", n)
	}
	if n := f.logSize(t); n != 0 {
		t.Errorf("%d records in Kafka after rejected deliveries, want 0", n)
	}
}
