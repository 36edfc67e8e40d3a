package main_test

import (
	"fmt"
	"net/http"
	"slices"
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
	waitCaughtUp(b, s)
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
