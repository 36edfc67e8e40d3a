package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/testenv"
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

// TestBodyBudgetRefusesBeyondTheBound: while deliveries hold the whole body
// budget, another delivery waits at most BodyWait and is then refused with
// 503 and Retry-After, changing nothing; once the budget frees up the same
// delivery is accepted.
func TestBodyBudgetRefusesBeyondTheBound(t *testing.T) {
	t.Parallel()
	f := newFixtureConfig(t, ingest.Config{BodyBudget: ingest.MaxBodyBytes, BodyWait: 100 * time.Millisecond})

	// A 10 MiB delivery whose body arrives slowly holds the whole budget.
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.CloseWithError(errors.New("test over")) }) // before the server closes
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/deliveries", pr)
	req.Header.Set("Content-Type", "application/xml")
	req.ContentLength = ingest.MaxBodyBytes
	slow := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("<NewReleaseMessage>")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := f.svc.BodyBytesInFlight(); n != ingest.MaxBodyBytes {
			return fmt.Errorf("%d body bytes in flight, want %d", n, ingest.MaxBodyBytes)
		}
		return nil
	})

	post := func() (*http.Response, []byte) {
		resp, err := http.Post(f.srv.URL+"/v1/deliveries", "application/json", strings.NewReader(validRelease))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for range 3 {
		resp, b := post()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "retry") {
			t.Fatalf("a delivery beyond the budget: %d Retry-After=%q %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	if n := f.streams(t); n != 0 {
		t.Fatalf("%d release streams after refused deliveries, want 0", n)
	}

	_ = pw.CloseWithError(errors.New("client gave up"))
	<-slow
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := f.svc.BodyBytesInFlight(); n != 0 {
			return fmt.Errorf("%d body bytes still in flight", n)
		}
		return nil
	})
	if resp, b := post(); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after the budget freed up: %d %s, want 202", resp.StatusCode, b)
	}
}

// TestBodyBudgetHoldsConcurrentBodies: 30 concurrent deliveries of 1 MiB
// under a budget of 10 MiB never hold more than the budget; each is either
// read (and rejected as malformed) or refused with 503, none is lost.
func TestBodyBudgetHoldsConcurrentBodies(t *testing.T) {
	t.Parallel()
	f := newFixtureConfig(t, ingest.Config{BodyBudget: ingest.MaxBodyBytes, BodyWait: 30 * time.Second})
	body := bytes.Repeat([]byte("<a>"), (1<<20)/3)
	var peak atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := f.svc.BodyBytesInFlight(); n > peak.Load() {
				peak.Store(n)
			}
			runtime.Gosched()
		}
	}()
	codes := make(chan int, 30)
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(f.srv.URL+"/v1/deliveries", "application/xml", bytes.NewReader(body))
			if err != nil {
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(stop)
	<-watched
	close(codes)
	for c := range codes {
		if c != http.StatusBadRequest {
			t.Errorf("status %d, want 400 (malformed, read within the budget)", c)
		}
	}
	if p := peak.Load(); p > ingest.MaxBodyBytes || p == 0 {
		t.Errorf("peak body bytes in flight %d, want between 1 and %d", p, ingest.MaxBodyBytes)
	}
}

// A message id, sender or SentOnBehalfOf over MaxHeaderValueBytes is
// rejected even when the rest of the delivery is valid (each travels with
// every event and is kept in the write-side state), and nothing is stored.
func TestOverlongHeaderValuesAreRejected(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("M", ingest.MaxHeaderValueBytes+1)
	cases := []struct{ name, old, repl, field string }{
		{"message id", `"msg-1"`, `"` + long + `"`, "messageId"},
		{"sender", `"messageId": "msg-1",`, `"messageId": "msg-1", "sender": "` + long + `",`, "sender"},
		{"on behalf of", `"messageId": "msg-1",`, `"messageId": "msg-1", "sentOnBehalfOf": "` + long + `",`, "sentOnBehalfOf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(validRelease, c.old) {
				t.Fatalf("validRelease has no %q; update the test", c.old)
			}
			status, out := f.post(t, "application/json", strings.Replace(validRelease, c.old, c.repl, 1))
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, body %.300v; want 400", status, out)
			}
			probs, _ := out["problems"].([]any)
			if len(probs) != 1 {
				t.Fatalf("problems %.300v; want one", out["problems"])
			}
			p, _ := probs[0].(map[string]any)
			if p["field"] != c.field || !strings.Contains(fmt.Sprint(p["reason"]), fmt.Sprintf("at most %d", ingest.MaxHeaderValueBytes)) {
				t.Fatalf("problem %v; want field %s and the bound", p, c.field)
			}
		})
	}
	if n := f.streams(t); n != 0 {
		t.Fatalf("%d release streams after the rejections, want 0", n)
	}
}
