package main_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

// metricValue is the value of the series whose text form starts with
// series in a Prometheus scrape (0 when absent).
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// promtoolCheck runs `promtool check metrics` (make tools installs it) on
// a scrape: names, help texts, units and label use as Prometheus lints them.
func promtoolCheck(t *testing.T, what, scrape string) {
	t.Helper()
	bin, _ := filepath.Abs("../../bin/promtool")
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s", what, err, out)
	}
}

// TestAPIMetrics: the API's /metrics counts requests by route and status,
// their latency, and how the Redis cache answered the look-ups; ingest's
// counts deliveries by outcome and the relay's events; every scrape (API,
// ingest, projector) passes promtool's lint.
func TestAPIMetrics(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	id := deliver(t, s.ingest, restartRelease(51, 1)).TrackIDs["GBRST0000102"]
	url := fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, id)
	testenv.Eventually(t, 60*time.Second, func() error {
		if status, _, _ := get(t, url); status != http.StatusOK {
			return fmt.Errorf("status %d", status)
		}
		return nil
	})
	for range 5 {
		get(t, url)
	}
	get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=999999999&country=GB", s.api))
	get(t, "http://"+s.api+"/no/such/route")

	_, _, scrape := get(t, "http://"+s.api+"/metrics")
	if n := metricValue(t, scrape, `catalog_api_requests_total{route="/1.2/track/details",status="200"}`); n < 6 {
		t.Errorf("track/details 200s counted %v, want at least 6\n%s", n, scrape)
	}
	if n := metricValue(t, scrape, `catalog_api_requests_total{route="/1.2/track/details",status="404"}`); n < 1 {
		t.Errorf("track/details 404s counted %v, want at least the unknown track's", n)
	}
	if n := metricValue(t, scrape, `catalog_api_requests_total{route="other",status="404"}`); n != 1 {
		t.Errorf("unrouted requests counted %v, want 1 under route=other", n)
	}
	if n := metricValue(t, scrape, `catalog_api_request_seconds_count{route="/1.2/track/details"}`); n < 7 {
		t.Errorf("latency observations %v, want at least 7", n)
	}
	if hits := metricValue(t, scrape, `catalog_api_cache_reads_total{result="hit"}`); hits < 4 {
		t.Errorf("cache hits %v after repeated reads of one track, want at least 4", hits)
	}
	if misses := metricValue(t, scrape, `catalog_api_cache_reads_total{result="miss"}`); misses < 1 {
		t.Errorf("cache misses %v, want the first read's", misses)
	}
	promtoolCheck(t, "the API's /metrics", scrape)
	_, _, ingestScrape := get(t, "http://"+s.ingest+"/metrics")
	if n := metricValue(t, ingestScrape, `catalog_ingest_deliveries_total{outcome="accepted"}`); n != 1 {
		t.Errorf("accepted deliveries counted %v, want 1", n)
	}
	deliverStatus := func(body string) {
		resp, err := http.Post("http://"+s.ingest+"/v1/deliveries", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	deliverStatus(restartRelease(51, 1)) // the same again: unchanged
	deliverStatus(`{"messageId":"bad"}`) // rejected
	_, _, ingestScrape = get(t, "http://"+s.ingest+"/metrics")
	for outcome, want := range map[string]float64{"accepted": 1, "unchanged": 1, "rejected": 1, "stale": 0, "unavailable": 0} {
		if n := metricValue(t, ingestScrape, `catalog_ingest_deliveries_total{outcome="`+outcome+`"}`); n != want {
			t.Errorf("%s deliveries counted %v, want %v", outcome, n, want)
		}
	}
	if n := metricValue(t, ingestScrape, `catalog_outbox_relayed_events_total`); n < 1 {
		t.Errorf("relayed events counted %v, want the accepted delivery's", n)
	}
	for _, stage := range []string{"store", "confirm"} {
		// The accepted delivery and the unchanged one; not the rejected one.
		if n := metricValue(t, ingestScrape, `catalog_ingest_stage_seconds_count{stage="`+stage+`"}`); n != 2 {
			t.Errorf("%s stage observations %v, want 2", stage, n)
		}
	}
	for what, addr := range map[string]string{"ingest": s.ingest, "the projector": s.projector} {
		_, _, sc := get(t, "http://"+addr+"/metrics")
		if !bytes.Contains([]byte(sc), []byte("catalog_")) {
			t.Errorf("%s's /metrics has no catalog metric", what)
		}
		promtoolCheck(t, what+"'s /metrics", sc)
	}
}
