//go:build bench

package bench

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkAPIDuringRebuild measures the API (straight, Redis hot) at rest
// and during a zero-downtime rebuild of the read model from offset zero,
// under the same steady traffic (8 concurrent clients). Run it once:
// -benchtime=1x.
func BenchmarkAPIDuringRebuild(b *testing.B) {
	s := newStack(b)
	s.start(b, "dev")
	waitHTTP(b, "http://"+s.ingest+"/healthz")
	loadCatalogue(b, s, 31, 2000)
	waitCaughtUp(b, s)
	const tracks, workers = 1500, 8
	l := newLoad(workers, 0)
	req := func(i int) *http.Request { return trackDetails(s.api, int64(1+i%tracks)) }

	stop := make(chan struct{})
	go func() { time.Sleep(10 * time.Second); close(stop) }()
	rest, restErrs := latencies(l.closed(-1, stop, false, req))

	stop = make(chan struct{})
	var during []float64
	var duringErrs int64
	done := make(chan struct{})
	go func() { during, duringErrs = latencies(l.closed(-1, stop, false, req)); close(done) }()
	start := time.Now()
	s.run(b, "projections", "rebuild", "track-details")
	rebuild := time.Since(start)
	close(stop)
	<-done

	b.ReportMetric(1000*quantile(rest, 0.50), "rest-p50-µs")
	b.ReportMetric(1000*quantile(rest, 0.99), "rest-p99-µs")
	b.ReportMetric(float64(restErrs), "rest-errors")
	b.ReportMetric(1000*quantile(during, 0.50), "rebuild-p50-µs")
	b.ReportMetric(1000*quantile(during, 0.99), "rebuild-p99-µs")
	b.ReportMetric(float64(duringErrs), "rebuild-errors")
	b.ReportMetric(float64(len(during)), "rebuild-requests")
	b.ReportMetric(rebuild.Seconds(), "rebuild-s")
}

// BenchmarkProxies measures track/details straight to the API, through the
// gateway (identity, quota in Redis, proxy), and through nginx as a plain
// reverse proxy in front of the API, with wrk (64 connections, 10 s each).
// Run it once: -benchtime=1x.
func BenchmarkProxies(b *testing.B) {
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is not installed (make bench installs it): %v", tool, err)
		}
	}
	s := newStack(b)
	// Logs as in production: JSON lines, info level (the tests' debug level
	// logs every batch).
	s.env = append(s.env, "CATALOG_LOG_LEVEL=info", "CATALOG_LOG_FORMAT=json")
	key := strings.TrimSpace(s.run(b, "clients", "add", "bench"))
	s.run(b, "clients", "set-limit", key, "1000000000")
	s.start(b, "dev")
	waitHTTP(b, "http://"+s.ingest+"/healthz")
	res := deliver(b, s.ingest, dandyRelease)
	id := res.TrackIDs["USCA29600191"]
	path := fmt.Sprintf("/1.2/track/details?trackId=%d&country=GB&oauth_consumer_key=%s", id, key)
	waitHTTP(b, "http://"+s.gateway+path)

	nginxAddr := startNginx(b, s.api)
	waitHTTP(b, "http://"+nginxAddr+path)

	dir := b.TempDir()
	ids := filepath.Join(dir, "ids.txt")
	writeIDs(b, ids, []int64{id})
	for _, target := range []struct{ name, addr string }{{"api", s.api}, {"gateway", s.gateway}, {"nginx", nginxAddr}} {
		w := runWrk(b, dir, target.addr, ids, key, 64, 10)
		if w.bad > 0 {
			b.Fatalf("wrk saw %d errors against %s", w.bad, target.name)
		}
		b.ReportMetric(w.rps, target.name+"-req/s")
		b.ReportMetric(w.p50, target.name+"-p50-ms")
		b.ReportMetric(w.p99, target.name+"-p99-ms")
	}
}
