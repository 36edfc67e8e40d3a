package main_test

import (
	"fmt"
	"github.com/catalog-org/catalog/projections/trackdetails"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies runs workers that request track details through the API until
// stop is closed, and returns every latency and the error count.
func latencies(api string, tracks, workers int, stop <-chan struct{}) ([]time.Duration, int64) {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			for i := w; ; i += workers {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, mine...)
					mu.Unlock()
					return
				default:
				}
				start := time.Now()
				r, err := client.Get(fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", api, 1+i%tracks))
				if err != nil || r.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				if r != nil {
					r.Body.Close()
				}
				mine = append(mine, time.Since(start))
			}
		}(w)
	}
	wg.Wait()
	return all, errs.Load()
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// BenchmarkAPIDuringRebuild measures the API (straight, Redis hot) at rest
// and during a zero-downtime rebuild of the read model from offset zero,
// under the same steady traffic (8 concurrent clients). Run it once:
// -benchtime=1x.
func BenchmarkAPIDuringRebuild(b *testing.B) {
	s := newStack(b)
	s.start(b, "dev")
	waitHTTP(b, "http://"+s.ingest+"/healthz")
	loadCatalogue(b, s, 31, 2000)
	waitCaughtUp(b, s, trackdetails.Name)
	const tracks, workers = 1500, 8

	stop := make(chan struct{})
	go func() { time.Sleep(10 * time.Second); close(stop) }()
	rest, restErrs := latencies(s.api, tracks, workers, stop)

	stop = make(chan struct{})
	var during []time.Duration
	var duringErrs int64
	done := make(chan struct{})
	go func() { during, duringErrs = latencies(s.api, tracks, workers, stop); close(done) }()
	start := time.Now()
	s.run(b, "projections", "rebuild", "track-details")
	rebuild := time.Since(start)
	close(stop)
	<-done

	b.ReportMetric(float64(quantile(rest, 0.50).Microseconds()), "rest-p50-µs")
	b.ReportMetric(float64(quantile(rest, 0.99).Microseconds()), "rest-p99-µs")
	b.ReportMetric(float64(restErrs), "rest-errors")
	b.ReportMetric(float64(quantile(during, 0.50).Microseconds()), "rebuild-p50-µs")
	b.ReportMetric(float64(quantile(during, 0.99).Microseconds()), "rebuild-p99-µs")
	b.ReportMetric(float64(duringErrs), "rebuild-errors")
	b.ReportMetric(float64(len(during)), "rebuild-requests")
	b.ReportMetric(rebuild.Seconds(), "rebuild-s")
}

// wrkResult runs wrk against url and returns requests/s, p50 and p99.
func wrkResult(b testing.TB, url string, conns int, secs int) (rps float64, p50, p99 string) {
	b.Helper()
	out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), "--latency", url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			p50 = f[1]
		case len(f) == 2 && f[0] == "99%":
			p99 = f[1]
		case strings.Contains(line, "Non-2xx"):
			b.Fatalf("wrk saw errors against %s:\n%s", url, out)
		}
	}
	return rps, p50, p99
}

func ms(s string) float64 {
	for _, u := range []struct {
		suffix string
		factor float64
	}{{"us", 0.001}, {"ms", 1}, {"s", 1000}} {
		if strings.HasSuffix(s, u.suffix) {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			return v * u.factor
		}
	}
	return 0
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

	for _, target := range []struct{ name, addr string }{{"api", s.api}, {"gateway", s.gateway}, {"nginx", nginxAddr}} {
		rps, p50, p99 := wrkResult(b, "http://"+target.addr+path, 64, 10)
		b.ReportMetric(rps, target.name+"-req/s")
		b.ReportMetric(ms(p50), target.name+"-p50-ms")
		b.ReportMetric(ms(p99), target.name+"-p99-ms")
	}
}
