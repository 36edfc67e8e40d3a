//go:build bench

package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load is the harness's one load generator: every request the benchmarks
// send from Go goes through it, closed loop (each worker sends its next
// request when the last one is answered) or paced (open loop: each request
// is due at its time, whatever the answers to earlier ones). wrk, beside
// it, measures the read paths at higher rates.
type load struct {
	client  *http.Client
	workers int
}

// newLoad returns a generator of workers concurrent requests, each
// answer given up after timeout (none when 0).
func newLoad(workers int, timeout time.Duration) *load {
	return &load{workers: workers,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: timeout}}
}

// result is one request's outcome.
type result struct {
	i      int           // the request's number
	status int           // 0 when no answer came
	took   time.Duration // from sending to the whole answer read
	at     time.Time     // when the answer was read
	body   []byte        // kept only when asked for
}

// ok reports a 200.
func (r result) ok() bool { return r.status == http.StatusOK }

// closed sends requests req(0), req(1), ... with l.workers workers in a
// closed loop until n have been sent (n < 0: no end) or stop is closed (nil:
// never), and returns every result. Worker w sends w, w+workers, ...
func (l *load) closed(n int, stop <-chan struct{}, keepBody bool, req func(i int) *http.Request) []result {
	var mu sync.Mutex
	var all []result
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < l.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []result
			defer func() { mu.Lock(); all = append(all, mine...); mu.Unlock() }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1) - 1)
				if n >= 0 && i >= n {
					return
				}
				mine = append(mine, l.do(i, req(i), keepBody))
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(all, func(a, b result) int { return a.i - b.i })
	return all
}

// paced sends req(i) at start + i/rate for i < n, whatever the answers to
// earlier ones, with up to l.workers requests in flight, and calls done with
// each result as it comes.
func (l *load) paced(n int, rate float64, req func(i int) *http.Request, done func(due time.Time, r result)) {
	type item struct {
		i   int
		due time.Time
	}
	queue := make(chan item, n)
	var wg sync.WaitGroup
	for w := 0; w < l.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range queue {
				time.Sleep(time.Until(it.due))
				done(it.due, l.do(it.i, req(it.i), false))
			}
		}()
	}
	start := time.Now().Add(100 * time.Millisecond)
	for i := 0; i < n; i++ {
		queue <- item{i, start.Add(time.Duration(float64(i) / rate * float64(time.Second)))}
	}
	close(queue)
	wg.Wait()
}

func (l *load) do(i int, req *http.Request, keepBody bool) result {
	start := time.Now()
	r := result{i: i}
	resp, err := l.client.Do(req)
	if err == nil {
		if keepBody {
			r.body, err = io.ReadAll(resp.Body)
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
		if err == nil {
			r.status = resp.StatusCode
		}
	}
	r.at = time.Now()
	r.took = r.at.Sub(start)
	return r
}

// trackDetails is a request for a track's details in GB, straight to addr.
func trackDetails(addr string, id int64) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", addr, id), nil)
	return req
}

// latencies is the latency (ms) of each result, and the count of those
// that were not a 200.
func latencies(rs []result) ([]float64, int64) {
	ms := make([]float64, 0, len(rs))
	var bad int64
	for _, r := range rs {
		ms = append(ms, float64(r.took.Microseconds())/1000)
		if !r.ok() {
			bad++
		}
	}
	return ms, bad
}

// quantile is the q-quantile of v (sorted in place); 0 when v is empty.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[int(q*float64(len(v)-1))]
}

// wrkScript requests track/details for ids drawn at random from the file
// in BENCH_IDS, and prints the figures wrk's summary does not (p99.9, error
// counts) on one line.
const wrkScript = `
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("BENCH_PREFIX")
math.randomseed(tonumber(tostring({}):match("0x(%x+)") or "1", 16) % 2147483647)
request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d errors=%d p50=%d p99=%d p999=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`

// wrkRun is one wrk run's figures.
type wrkRun struct {
	rps, p50, p99, p999 float64 // latencies in ms
	requests, bad       int64
}

var wrkLine = regexp.MustCompile(`BENCH requests=(\d+) duration_us=(\d+) non2xx=(\d+) errors=(\d+) p50=(\d+) p99=(\d+) p999=(\d+)`)

// runWrk runs wrk (2 threads) for secs against addr, requesting
// track/details (country=GB, the client key) for ids drawn from the file ids.
func runWrk(t testing.TB, dir, addr, ids, key string, conns, secs int) wrkRun {
	t.Helper()
	script := filepath.Join(dir, "track-details.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs), "-s", script, "http://"+addr)
	cmd.Env = append(os.Environ(), "BENCH_IDS="+ids,
		"BENCH_PREFIX=/1.2/track/details?country=GB&oauth_consumer_key="+key+"&trackId=")
	out, err := cmd.CombinedOutput()
	m := wrkLine.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	n := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
	return wrkRun{rps: n(1) / (n(2) / 1e6), p50: n(5) / 1000, p99: n(6) / 1000, p999: n(7) / 1000,
		requests: int64(n(1)), bad: int64(n(3) + n(4))}
}

// writeIDs writes ids one a line, for wrk.
func writeIDs(t testing.TB, path string, ids []int64) {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
