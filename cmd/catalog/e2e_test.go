package main_test

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

const dandyRelease = `{
  "messageId": "e2e-1",
  "upc": "00724349501058",
  "title": "...The Dandy Warhols Come Down",
  "artist": "The Dandy Warhols",
  "label": "Capitol",
  "tracks": [
    {"isrc": "USCA29600191", "title": "I Love You", "duration": "PT4M12S", "disc": 1, "number": 5},
    {"isrc": "USCA29600192", "title": "Minnesoter", "duration": "PT3M20S", "disc": 1, "number": 6}
  ],
  "availability": [
    {"territory": "GB", "download": "1997-07-03", "streaming": "1997-07-10"},
    {"territory": "US", "download": "1997-07-03"}
  ]
}`

type xmlResponse struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Version string   `xml:"version,attr"`
	Error   *struct {
		Code    int    `xml:"code,attr"`
		Message string `xml:"errorMessage"`
	} `xml:"error"`
	Track *struct {
		ID     int64  `xml:"id,attr"`
		Title  string `xml:"title"`
		Artist struct {
			ID   int64  `xml:"id,attr"`
			Name string `xml:"name"`
			Slug string `xml:"slug"`
		} `xml:"artist"`
		Duration int    `xml:"duration"`
		ISRC     string `xml:"isrc"`
		Release  struct {
			ID      int64  `xml:"id,attr"`
			Title   string `xml:"title"`
			Barcode string `xml:"barcode"`
			Label   string `xml:"label>name"`
		} `xml:"release"`
		DiscNumber            int     `xml:"discNumber"`
		Number                int     `xml:"number"`
		Download              *string `xml:"download>releaseDate"`
		SubscriptionStreaming *string `xml:"subscriptionStreaming>releaseDate"`
		AdSupportedStreaming  *string `xml:"adSupportedStreaming>releaseDate"`
		Price                 *string `xml:"download>packages>package>price>sevendigitalPrice"`
	} `xml:"track"`
}

func get(t testing.TB, rawURL string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// send makes one request with the given method and headers and returns the
// response with its body read.
func send(t testing.TB, method, rawURL string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hdr != nil {
		req.Header = hdr
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func parse(t testing.TB, body string) xmlResponse {
	t.Helper()
	var r xmlResponse
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not XML: %v\n%s", err, body)
	}
	return r
}

// TestEndToEnd: a release goes ingest -> Kafka -> projector -> Postgres ->
// API -> gateway, all roles in one `catalog dev` process.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	key := strings.TrimSpace(s.run(t, "clients", "add", "e2e"))
	if len(key) != 32 {
		t.Fatalf("clients add printed %q, want a 32-character key", key)
	}
	dev := s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")

	res := deliver(t, s.ingest, dandyRelease)
	trackID := res.TrackIDs["USCA29600191"]
	if res.Status != "accepted" || trackID == 0 {
		t.Fatalf("delivery: %+v", res)
	}

	base := "http://" + s.gateway
	details := func(q string) string {
		return fmt.Sprintf("%s/1.2/track/details?%s&oauth_consumer_key=%s", base, q, url.QueryEscape(key))
	}
	var body string
	testenv.Eventually(t, 30*time.Second, func() error {
		status, _, b := get(t, details(fmt.Sprintf("trackId=%d&country=GB&usageTypes=download,subscriptionstreaming", trackID)))
		if status != http.StatusOK {
			return fmt.Errorf("status %d: %s", status, b)
		}
		body = b
		return nil
	})
	if !strings.HasPrefix(body, `<?xml version="1.0" encoding="utf-8"?>`) || !strings.Contains(body, `<response status="ok" version="1.2">`) {
		t.Errorf("envelope is not 7digital's:\n%s", body)
	}
	r := parse(t, body)
	tr := r.Track
	switch {
	case r.Status != "ok" || r.Version != "1.2" || tr == nil:
		t.Fatalf("response = %+v", r)
	case tr.ID != trackID || tr.Title != "I Love You" || tr.Artist.Name != "The Dandy Warhols" || tr.Artist.Slug != "the-dandy-warhols":
		t.Errorf("track = %+v", tr)
	case tr.Duration != 252 || tr.ISRC != "USCA29600191" || tr.DiscNumber != 1 || tr.Number != 5:
		t.Errorf("track = %+v", tr)
	case tr.Release.Title != "...The Dandy Warhols Come Down" || tr.Release.Barcode != "00724349501058" || tr.Release.Label != "Capitol":
		t.Errorf("release = %+v", tr.Release)
	case tr.Download == nil || *tr.Download != "1997-07-03T00:00:00Z":
		t.Errorf("download = %v", tr.Download)
	case tr.SubscriptionStreaming == nil || *tr.SubscriptionStreaming != "1997-07-10T00:00:00Z":
		t.Errorf("subscriptionStreaming = %v", tr.SubscriptionStreaming)
	}

	// HEAD answers as GET does, without a body, through the gateway and the
	// API, and counts as a request.
	gb := details(fmt.Sprintf("trackId=%d&country=GB&usageTypes=download,subscriptionstreaming", trackID))
	getResp, getBody := send(t, http.MethodGet, gb, nil)
	headResp, headBody := send(t, http.MethodHead, gb, nil)
	if headResp.StatusCode != http.StatusOK || headBody != "" || getBody != body {
		t.Errorf("HEAD: %d with %d bytes of body", headResp.StatusCode, len(headBody))
	}
	for _, h := range []string{"Content-Type", "Content-Length", "ETag", "Cache-Control", "Vary", "Surrogate-Key", "X-RateLimit-Limit"} {
		if headResp.Header.Get(h) != getResp.Header.Get(h) || getResp.Header.Get(h) == "" {
			t.Errorf("HEAD %s: %q, GET %q", h, headResp.Header.Get(h), getResp.Header.Get(h))
		}
	}
	if g, h := getResp.Header.Get("X-RateLimit-Current"), headResp.Header.Get("X-RateLimit-Current"); g == "" || h != fmt.Sprint(atoi(t, g)+1) {
		t.Errorf("X-RateLimit-Current: GET %q, then HEAD %q", g, h)
	}
	if r, b := send(t, http.MethodHead, gb, http.Header{"If-None-Match": {getResp.Header.Get("ETag")}}); r.StatusCode != http.StatusNotModified || b != "" {
		t.Errorf("HEAD with If-None-Match: %d %q", r.StatusCode, b)
	}

	// Per territory: in the US only the download is offered; without
	// usageTypes only the download block is returned.
	_, _, b := get(t, details(fmt.Sprintf("trackid=%d&COUNTRY=us&usageTypes=download,subscriptionstreaming", trackID)))
	if us := parse(t, b).Track; us == nil || us.Download == nil || us.SubscriptionStreaming != nil {
		t.Errorf("US response:\n%s", b)
	}
	_, _, b = get(t, details(fmt.Sprintf("trackId=%d&country=GB", trackID)))
	if gb := parse(t, b).Track; gb == nil || gb.Download == nil || gb.SubscriptionStreaming != nil {
		t.Errorf("GB response without usageTypes:\n%s", b)
	}

	errorCases := []struct {
		name   string
		url    string
		status int
		code   int
	}{
		{"missing trackId", details("country=GB"), 400, 1001},
		{"non-numeric trackId", details("trackId=abc"), 400, 1002},
		{"unknown track", details("trackId=987654321&country=GB"), 404, 2001},
		{"not offered in territory", details(fmt.Sprintf("trackId=%d&country=FR", trackID)), 404, 2002},
		{"bad usage type", details(fmt.Sprintf("trackId=%d&usageTypes=rental", trackID)), 400, 1006},
	}
	for _, tc := range errorCases {
		status, ct, b := get(t, tc.url)
		r := parse(t, b)
		if status != tc.status || r.Status != "error" || r.Error == nil || r.Error.Code != tc.code || r.Error.Message == "" ||
			!strings.HasPrefix(ct, "application/xml") {
			t.Errorf("%s: %d %s\n%s", tc.name, status, ct, b)
		}
	}

	for name, u := range map[string]string{
		"no key":      fmt.Sprintf("%s/1.2/track/details?trackId=%d", base, trackID),
		"unknown key": fmt.Sprintf("%s/1.2/track/details?trackId=%d&oauth_consumer_key=nope", base, trackID),
	} {
		status, ct, b := get(t, u)
		if status != http.StatusUnauthorized || !strings.HasPrefix(ct, "text/plain") || b != "OAuth authentication error: Access to resource denied" {
			t.Errorf("%s: %d %s %q", name, status, ct, b)
		}
	}

	// The API is also reachable directly on its own loopback port (the
	// gateway is the public door; internal roles bind to loopback).
	if status, _, _ := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d", s.api, trackID)); status != http.StatusOK {
		t.Errorf("API direct: %d", status)
	}

	// The OpenAPI document, without a key; identifier look-ups need a grant.
	if status, _, doc := get(t, base+"/openapi.yaml"); status != http.StatusOK || !strings.Contains(doc, "/1.2/track/details/isrc") {
		t.Errorf("openapi.yaml: %d", status)
	}
	byISRC := base + "/1.2/track/details/isrc?isrc=USCA29600191&country=GB&oauth_consumer_key=" + url.QueryEscape(key)
	if status, _, _ := get(t, byISRC); status != http.StatusForbidden {
		t.Errorf("ISRC look-up without the identifiers grant: %d", status)
	}
	s.run(t, "clients", "grant", key, "identifiers")
	testenv.Eventually(t, 10*time.Second, func() error {
		status, _, b := get(t, byISRC)
		if status != http.StatusOK || parse(t, b).Track == nil || parse(t, b).Track.ID != trackID {
			return fmt.Errorf("ISRC look-up with the grant: %d %s", status, b)
		}
		return nil
	})
	// JSON when the client asks for it.
	req, _ := http.NewRequest(http.MethodGet, details(fmt.Sprintf("trackId=%d&country=GB", trackID)), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Status string `json:"status"`
		Track  struct {
			ID    int64  `json:"id"`
			Title string `json:"title"`
		} `json:"track"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&js)
	resp.Body.Close()
	if js.Status != "ok" || js.Track.ID != trackID || js.Track.Title != "I Love You" || resp.Header.Get("X-RateLimit-Limit") == "" {
		t.Errorf("JSON: %+v %v", js, resp.Header)
	}

	// Analysts' view: catalog events tail prints the stream as JSON lines.
	lines := strings.Split(strings.TrimSpace(s.run(t, "events", "tail", "--from-beginning", "--until-end")), "\n")
	if len(lines) != 1 {
		t.Fatalf("events tail printed %d lines, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var ev struct {
		Type     string `json:"type"`
		Subject  string `json:"subject"`
		Sequence int64  `json:"sequence"`
		Data     struct {
			Title  string `json:"title"`
			Tracks []any  `json:"tracks"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "catalog.release.delivered" || ev.Subject != "00724349501058" || ev.Sequence != 1 || len(ev.Data.Tracks) != 2 {
		t.Errorf("events tail: %s", lines[0])
	}
	if out := s.run(t, "events", "tail", "--from-beginning", "--until-end", "--type", "catalog.release.purged"); out != "" {
		t.Errorf("events tail --type filtered nothing: %s", out)
	}

	// Ctrl-C stops every role cleanly.
	if err := dev.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-dev.done:
		dev.done <- err
		if err != nil {
			t.Fatalf("catalog dev exited with %v after SIGINT", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("catalog dev did not stop within 30 s of SIGINT")
	}
}
