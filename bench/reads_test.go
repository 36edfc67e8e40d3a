//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
	"syscall"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// startNginx runs nginx (one worker, keep-alive to the upstream) as a plain
// reverse proxy in front of upstream and returns its address.
func startNginx(t testing.TB, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  upstream api { server %[2]s; keepalive 256; }
  server {
    listen %[3]s;
    location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`, dir, upstream, addr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx config: %v\n%s", err, out)
	}
	nginx := exec.Command("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	if err := nginx.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM (not SIGKILL) so the master takes its workers down with it.
	t.Cleanup(func() { _ = nginx.Process.Signal(syscall.SIGTERM); _ = nginx.Wait() })
	return addr
}

// flushCache deletes every cached track entry of this run.
func (r *benchRun) flushCache() int {
	n := 0
	iter := r.rdb.Scan(r.ctx, 0, r.s.prefix+"td:*", 1000).Iterator()
	var batch []string
	for iter.Next(r.ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			r.rdb.Unlink(r.ctx, batch...)
			n, batch = n+len(batch), nil
		}
	}
	if len(batch) > 0 {
		r.rdb.Unlink(r.ctx, batch...)
		n += len(batch)
	}
	return n
}

func (r *benchRun) cacheKeys() []string {
	var keys []string
	iter := r.rdb.Scan(r.ctx, 0, r.s.prefix+"td:*", 1000).Iterator()
	for iter.Next(r.ctx) {
		keys = append(keys, iter.Val())
	}
	return keys
}

func (r *benchRun) redisUsedMemory() int64 {
	info, err := r.rdb.Info(r.ctx, "memory").Result()
	if err != nil {
		r.b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// fetchAll requests track/details for every id (32 at a time) straight from
// the API and returns the ids that answered 200.
func (r *benchRun) fetchAll(ids []int64) []int64 {
	var ok []int64
	for _, res := range newLoad(32, 0).closed(len(ids), nil, false, func(i int) *http.Request { return trackDetails(r.s.api, ids[i]) }) {
		if res.ok() {
			ok = append(ok, ids[res.i])
		}
	}
	return ok
}

// requestSet samples up to 200,000 tracks, requests each once straight
// from the API, and keeps those that answer 200 for GB as the request set
// of the reads, the freshness run and the rebuild under load.
func (r *benchRun) requestSet() {
	rows, err := r.pg.Query(r.ctx, "select track_id from td.tracks")
	if err != nil {
		r.b.Fatal(err)
	}
	var all []int64
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		all = append(all, id)
	}
	rows.Close()
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if len(all) > 200_000 {
		all = all[:200_000]
	}
	r.valid = r.fetchAll(all)
	r.logf("reads: %d of %d sampled tracks answer 200 for GB", len(r.valid), len(all))
	if len(r.valid) < 1000 {
		r.b.Fatalf("only %d tracks are available in GB", len(r.valid))
	}
}

// reads measures track/details straight to the API, through the gateway and
// through nginx, with Redis hot and empty, at 16 and 64 connections, beside
// redis-benchmark GET of values the size of a cached entry.
func (r *benchRun) reads() {
	const sec, secP99 = "Reads: track/details (wrk, random tracks, country=GB)", "Reads: p99 latency"
	r.requestSet()
	hot := r.valid[:min(10_000, len(r.valid))]

	// Memory per hot entry: the cache emptied, then filled with the hot set.
	r.flushCache()
	before := r.redisUsedMemory()
	r.fetchAll(hot)
	keys := r.cacheKeys()
	perEntry := float64(r.redisUsedMemory()-before) / float64(len(keys))
	var valueBytes int64
	sample := keys[:min(1000, len(keys))]
	for _, k := range sample {
		valueBytes += r.rdb.StrLen(r.ctx, k).Val()
	}
	valueSize := int(valueBytes / int64(len(sample)))
	raw := fig(float64(valueSize))
	r.rep.add(row{Section: "Footprint", Measure: "Redis memory per hot entry", Unit: "B", Value: fig(perEntry),
		Raw: "the entry's value size", RawValue: &raw, Note: fmt.Sprintf("used_memory growth over %d entries", len(keys))})

	hotFile, allFile := filepath.Join(r.work, "ids-hot.txt"), filepath.Join(r.work, "ids-all.txt")
	writeIDs(r.b, hotFile, hot)
	writeIDs(r.b, allFile, r.valid)
	nginx := startNginx(r.b, r.s.api)
	targets := []struct{ name, label, addr string }{
		{"api", "API direct", r.s.api},
		{"gateway", "Gateway (key, quota in Redis, proxy)", r.s.gateway},
		{"nginx", "nginx as plain reverse proxy to the API", nginx},
	}
	redisRPS, redisP99 := map[int]figure{}, map[int]figure{}
	for _, conns := range []int{16, 64} {
		rps, p99 := r.redisBenchmark(valueSize, conns)
		redisRPS[conns], redisP99[conns] = rps, p99
	}
	profiled := false
	for _, cache := range []string{"hot", "empty"} {
		for _, conns := range []int{16, 64} {
			res := map[string][]wrkRun{}
			misses := []float64{}
			for run := 0; run < r.cfg.runs; run++ {
				for _, t := range targets {
					ids := hotFile
					if cache == "empty" {
						r.flushCache()
						ids = allFile
					} else {
						r.fetchAll(hot)
					}
					var prof sync.WaitGroup
					if t.name == "gateway" && conns == 64 && cache == "hot" && !profiled {
						profiled = true
						prof.Add(1)
						go func() { defer prof.Done(); r.profile("gateway-reads", r.gwOps, max(1, r.cfg.secs-2)) }()
					}
					w := runWrk(r.b, r.work, t.addr, ids, r.key, conns, r.cfg.secs)
					prof.Wait()
					if cache == "empty" {
						misses = append(misses, 100*float64(len(r.cacheKeys()))/float64(w.requests))
					}
					res[t.name] = append(res[t.name], w)
					r.logf("reads %s %s c=%d: %.0f req/s p50 %.2f p99 %.2f p99.9 %.2f ms (%d bad)", t.name, cache, conns, w.rps, w.p50, w.p99, w.p999, w.bad)
				}
			}
			get := func(name string, f func(wrkRun) float64) figure {
				var v []float64
				for _, w := range res[name] {
					v = append(v, f(w))
				}
				return fig(v...)
			}
			rps := func(w wrkRun) float64 { return w.rps }
			p99 := func(w wrkRun) float64 { return w.p99 }
			for _, t := range targets {
				var bad int64
				for _, w := range res[t.name] {
					bad += w.bad
				}
				note := fmt.Sprintf("p50 %.2f ms, p99.9 %.2f ms (medians); %d errors", get(t.name, func(w wrkRun) float64 { return w.p50 }).Median,
					get(t.name, func(w wrkRun) float64 { return w.p999 }).Median, bad)
				if cache == "empty" {
					note += fmt.Sprintf("; %.0f%% of requests missed the cache", fig(misses...).Median)
				}
				measure := fmt.Sprintf("%s, Redis %s, %d connections", t.label, cache, conns)
				x := row{Section: sec, Measure: measure, Unit: "req/s", Value: get(t.name, rps), Note: note}
				y := row{Section: secP99, Measure: measure, Unit: "ms", Value: get(t.name, p99)}
				switch t.name {
				case "api":
					rr, rp := redisRPS[conns], redisP99[conns]
					x.Raw, x.RawValue = fmt.Sprintf("redis-benchmark GET, %d clients, %d-byte values", conns, valueSize), &rr
					y.Raw, y.RawValue = x.Raw, &rp
				case "gateway":
					n, np := get("nginx", rps), get("nginx", p99)
					x.Raw, x.RawValue = "nginx as proxy, same run", &n
					y.Raw, y.RawValue = x.Raw, &np
				case "nginx":
					a, ap := get("api", rps), get("api", p99)
					x.Raw, x.RawValue = "API direct, same run", &a
					y.Raw, y.RawValue = x.Raw, &ap
				}
				r.rep.add(x)
				r.rep.add(y)
			}
		}
	}
}

// redisBenchmark runs redis-benchmark SET+GET with values of size bytes and
// returns the GET requests/s and p99 (ms).
func (r *benchRun) redisBenchmark(size, conns int) (figure, figure) {
	host, port, _ := strings.Cut(r.rdb.Options().Addr, ":")
	n := 100_000
	if r.cfg.tracks >= 500_000 {
		n = 300_000
	}
	var rps, p99 []float64
	for i := 0; i < r.cfg.runs; i++ {
		out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "set,get", "-d", strconv.Itoa(size),
			"-c", strconv.Itoa(conns), "-n", strconv.Itoa(n), "--csv").Output()
		if err != nil {
			r.b.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			r.b.Fatalf("redis-benchmark output: %v\n%s", err, out)
		}
		for _, rec := range recs {
			if len(rec) >= 7 && rec[0] == "GET" {
				v, _ := strconv.ParseFloat(rec[1], 64)
				p, _ := strconv.ParseFloat(rec[6], 64)
				rps, p99 = append(rps, v), append(p99, p)
			}
		}
	}
	if len(rps) == 0 {
		r.b.Fatal("redis-benchmark printed no GET row")
	}
	r.rdb.Del(r.ctx, "key:__rand_int__")
	return fig(rps...), fig(p99...)
}

// freshItem is one delivery of the freshness run.
type freshItem struct {
	k        int
	track    int64
	body     []byte
	due      time.Time
	accepted time.Time
	visible  time.Time
	status   int
	seen     string // the last title or status the API answered, for the log
	// The same through the regional API.
	regionVisible time.Time
	regionSeen    string
	// watched: timed by polling; the others are only looked up afterwards,
	// and shown (regionShown) says whether they showed within 2 minutes.
	watched, shown, regionShown bool
}

// freshSection is the central freshness section of BENCHMARKS.md: the
// central stack alone on the machine. freshRegionSection is the central
// side of the run with a region (its Kafka, MirrorMaker 2, projector and
// API) on the same machine, whose cross-region figures are crossSection's.
const (
	freshSection       = "Freshness: delivery accepted → visible through the API"
	freshRegionSection = "Freshness with a region's stack on the same machine: delivery accepted → visible through the central API"
)

var freshTitle = regexp.MustCompile(`Fresh (\d{9})`)

// freshness sends metadata updates (a new title on a release's first track)
// as ERN 4.3 deliveries at a steady rate, then a burst at ten times that
// rate, and measures each one from accepted (202) to visible through the
// API, and, when the run has a region, through the regional API too. Its
// central rows go to section sec.
func (r *benchRun) freshness(sec string) {
	later := map[string]bool{}
	for _, d := range r.cat.deliveries {
		if !strings.HasPrefix(d.Name, "1-") {
			if d.Purge() {
				later[d.Release.Purge.UPC] = true
			} else {
				later[d.Release.UPC] = true
			}
		}
	}
	// A track is a recording on a release: compilations and reissues carry
	// the same ISRCs as other releases, so a track is found by the release's
	// UPC and the ISRC together.
	type onRelease struct{ upc, isrc string }
	ids := map[onRelease]int64{}
	rows, err := r.pg.Query(r.ctx, "select r.upc, t.isrc, t.track_id from td.tracks t join td.releases r on r.release_id = t.release_id")
	if err != nil {
		r.b.Fatal(err)
	}
	for rows.Next() {
		var k onRelease
		var id int64
		_ = rows.Scan(&k.upc, &k.isrc, &id)
		ids[k] = id
	}
	rows.Close()
	valid := map[int64]bool{}
	for _, id := range r.valid {
		valid[id] = true
	}
	type cand struct {
		rel   ingest.JSONRelease
		track int64
	}
	var cands []cand
	for _, d := range r.cat.deliveries {
		if strings.HasPrefix(d.Name, "1-") && !later[d.Release.UPC] {
			if id := ids[onRelease{d.Release.UPC, d.Release.Tracks[0].ISRC}]; valid[id] {
				cands = append(cands, cand{d.Release, id})
			}
		}
	}
	r.logf("freshness: %d releases to update", len(cands))
	k := r.freshK
	defer func() { r.freshK = k }()
	build := func(n int) []*freshItem {
		items := make([]*freshItem, n)
		for i := range items {
			c := cands[k%len(cands)]
			rel := c.rel
			created, _ := time.Parse(time.RFC3339, rel.MessageCreated)
			rel.MessageID = fmt.Sprintf("%s-fresh-%d", rel.MessageID, k)
			rel.MessageCreated = created.AddDate(0, 0, 100).Add(time.Duration(k) * time.Second).Format(time.RFC3339)
			rel.Tracks = slices.Clone(rel.Tracks)
			rel.Tracks[0].Title = fmt.Sprintf("Fresh %09d", k)
			var buf bytes.Buffer
			if err := gen.ERN43(&buf, gen.Delivery{Name: rel.MessageID, Release: rel}); err != nil {
				r.b.Fatal(err)
			}
			items[i] = &freshItem{k: k, track: c.track, body: buf.Bytes()}
			k++
		}
		return items
	}
	steady := build(int(r.cfg.rate) * r.cfg.freshSecs)
	var prof sync.WaitGroup
	if r.cfg.profile && r.region == nil {
		prof.Add(1)
		go func() { defer prof.Done(); r.profile("projector-fresh", r.s.projector, r.cfg.freshSecs) }()
	}
	r.sendAndWatch(steady, r.cfg.rate)
	prof.Wait()
	label := fmt.Sprintf("Steady %s deliveries/s offered for %d s", num(r.cfg.rate), r.cfg.freshSecs)
	r.freshRows(sec, label, steady)
	r.crossRows(label, steady)
	burst := build(min(int(10*r.cfg.rate)*2, len(cands)))
	r.sendAndWatch(burst, 10*r.cfg.rate)
	label = fmt.Sprintf("Burst of %s deliveries offered at %s/s (10x)", num(float64(len(burst))), num(10*r.cfg.rate))
	r.freshRows(sec, label, burst)
	r.crossRows(label, burst)
}

// sendAndWatch posts items at rate (open loop: each is due at its time,
// whatever the answers to earlier ones). Every watchEvery-th accepted one is
// watched: the API is polled for it until its title shows, every tenth of
// its age so far (at least 5 ms apart; 16 polls at a time). With a region,
// the regional API is polled the same way, by watchers of its own (16 more
// polls at a time), so neither API's watch waits for the other's. The
// watched ones are a sample: polling every delivery this way would itself
// take a large share of the machine at 500/s (tens of polls each), and the
// watchers would queue for their poll slots, which would show as freshness.
// Once the watched ones are seen, every other accepted delivery is looked
// up (untimed) until it shows, so none goes unseen uncounted.
func (r *benchRun) sendAndWatch(items []*freshItem, rate float64) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 2 * time.Minute}
	var watch sync.WaitGroup
	var waitMu sync.Mutex
	var slotWaits []float64
	// shows polls api once for it and reports whether its title shows.
	shows := func(it *freshItem, api string, seen *string) bool {
		resp, err := client.Do(trackDetails(api, it.track))
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		*seen = fmt.Sprintf("HTTP %d", resp.StatusCode)
		if m := freshTitle.FindSubmatch(body); m != nil {
			*seen += ", " + string(m[0])
			if n, _ := strconv.Atoi(string(m[1])); n >= it.k {
				return true
			}
		}
		return false
	}
	poll := func(it *freshItem, api string, polls chan struct{}, visible *time.Time, seen *string) {
		defer watch.Done()
		deadline := it.accepted.Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			wait := max(5*time.Millisecond, time.Since(it.accepted)/10)
			time.Sleep(wait)
			queued := time.Now()
			polls <- struct{}{}
			waitMu.Lock()
			slotWaits = append(slotWaits, float64(time.Since(queued).Microseconds())/1000)
			waitMu.Unlock()
			ok := shows(it, api, seen)
			now := time.Now()
			<-polls
			if ok {
				*visible = now
				return
			}
		}
	}
	polls, regionPolls := make(chan struct{}, 16), make(chan struct{}, 16)
	send := newLoad(128, 2*time.Minute)
	var accepted atomic.Int64 // done runs on the sending workers
	cpu, stages := readCPUTicks(), ingestStages(r.s.ingest)
	send.paced(len(items), rate, func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.s.ingest+"/v1/deliveries", bytes.NewReader(items[i].body))
		req.Header.Set("Content-Type", "application/xml")
		return req
	}, func(due time.Time, res result) {
		it := items[res.i]
		it.due, it.status = due, res.status
		if res.status != http.StatusAccepted {
			return
		}
		it.accepted = res.at
		n := accepted.Add(1)
		if it.watched = n%int64(r.cfg.watchEvery) == 1 || r.cfg.watchEvery == 1; !it.watched {
			return
		}
		watch.Add(1)
		go poll(it, r.s.api, polls, &it.visible, &it.seen)
		if r.region != nil {
			watch.Add(1)
			go poll(it, r.region.s.api, regionPolls, &it.regionVisible, &it.regionSeen)
		}
	})
	share, busy := busySince(cpu)
	r.busy = fmt.Sprintf("while the deliveries were posted the machine was %.0f%% busy, %.2f ms of CPU (all processes, the harness's own included) per accepted delivery; %s",
		100*share, 1000*busy/float64(max(accepted.Load(), 1)), stagesSince(stages, ingestStages(r.s.ingest)))
	r.logf("freshness: %s", r.busy)
	watch.Wait()
	// The rest, untimed: each looked up until it shows or 2 minutes have
	// passed since it was accepted.
	sweep := func(api string, shown func(*freshItem) *bool, seen func(*freshItem) *string) {
		work := make(chan *freshItem)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for it := range work {
					for !*shown(it) && time.Now().Before(it.accepted.Add(2*time.Minute)) {
						if *shown(it) = shows(it, api, seen(it)); !*shown(it) {
							time.Sleep(50 * time.Millisecond)
						}
					}
				}
			})
		}
		for _, it := range items {
			if it.status == http.StatusAccepted && !it.watched {
				work <- it
			}
		}
		close(work)
		wg.Wait()
	}
	sweep(r.s.api, func(it *freshItem) *bool { return &it.shown }, func(it *freshItem) *string { return &it.seen })
	if r.region != nil {
		sweep(r.region.s.api, func(it *freshItem) *bool { return &it.regionShown }, func(it *freshItem) *string { return &it.regionSeen })
	}
	r.slotWait = fmt.Sprintf("a watcher waited for a poll slot p50 %s ms, p99 %s ms, over %d polls",
		num(freshQuantile(slotWaits, 0.5)), num(freshQuantile(slotWaits, 0.99)), len(slotWaits))
	r.logf("freshness: %s", r.slotWait)
}

func (r *benchRun) freshRows(sec, label string, items []*freshItem) {
	var fresh, accept []float64
	var first, last time.Time
	notSeen, rejected, watched := 0, 0, 0
	for _, it := range items {
		if it.status != http.StatusAccepted {
			rejected++
			continue
		}
		if first.IsZero() || it.due.Before(first) {
			first = it.due
		}
		if it.accepted.After(last) {
			last = it.accepted
		}
		accept = append(accept, float64(it.accepted.Sub(it.due).Microseconds())/1000)
		if !it.watched {
			if !it.shown {
				notSeen++
			}
			continue
		}
		watched++
		if it.visible.IsZero() {
			notSeen++
			if notSeen <= 5 {
				r.logf("not visible: Fresh %09d on track %d, accepted %s; the API last answered %s",
					it.k, it.track, it.accepted.Format("15:04:05.000"), it.seen)
			}
			continue
		}
		fresh = append(fresh, float64(it.visible.Sub(it.accepted).Microseconds())/1000)
	}
	q := freshQuantile
	rate := float64(len(accept)) / last.Sub(first).Seconds()
	note := fmt.Sprintf("%d deliveries: %d not accepted (non-202), %d not visible within 2 min; accepted at %s/s; offer → 202 p50 %s ms, p99 %s ms; timed: %d accepted deliveries, every %d-th (%s); %s",
		len(items), rejected, notSeen, num(rate), num(q(accept, 0.5)), num(q(accept, 0.99)), watched, r.cfg.watchEvery, r.slotWait, r.busy)
	r.logf("freshness %s: p50 %.1f ms p99 %.1f ms; %s", label, q(fresh, 0.5), q(fresh, 0.99), note)
	r.rep.add(row{Section: sec, Measure: label + ": p50", Unit: "ms", Value: fig(q(fresh, 0.5)), Note: note})
	r.rep.add(row{Section: sec, Measure: label + ": p99", Unit: "ms", Value: fig(q(fresh, 0.99))})
	r.rep.add(row{Section: sec, Measure: label + ": accepted", Unit: "deliveries/s", Value: fig(rate)})
}

// freshQuantile is the p-quantile of v, 0 for none; v is left unsorted.
func freshQuantile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// crossRows adds the cross-region freshness of items, accepted centrally
// and visible through the regional API, each next to the central figure of
// the same deliveries.
func (r *benchRun) crossRows(label string, items []*freshItem) {
	if r.region == nil {
		return
	}
	var central, region []float64
	accepted, notSeen := 0, 0
	for _, it := range items {
		if it.status != http.StatusAccepted {
			continue
		}
		accepted++
		if !it.watched {
			if !it.regionShown {
				notSeen++
			}
			continue
		}
		if !it.visible.IsZero() {
			central = append(central, float64(it.visible.Sub(it.accepted).Microseconds())/1000)
		}
		if it.regionVisible.IsZero() {
			notSeen++
			if notSeen <= 5 {
				r.logf("not visible in the region: Fresh %09d on track %d, accepted %s; the regional API last answered %s",
					it.k, it.track, it.accepted.Format("15:04:05.000"), it.regionSeen)
			}
			continue
		}
		region = append(region, float64(it.regionVisible.Sub(it.accepted).Microseconds())/1000)
	}
	q := freshQuantile
	note := fmt.Sprintf("%d deliveries accepted centrally (the same as the central rows above), %d not visible in the region within 2 min; central API → MirrorMaker 2 → regional projector → regional API; the same deliveries timed, polled as the central API is",
		accepted, notSeen)
	r.logf("cross-region freshness %s: p50 %.1f ms p99 %.1f ms (central %.1f / %.1f ms); %d not visible", label,
		q(region, 0.5), q(region, 0.99), q(central, 0.5), q(central, 0.99), notSeen)
	c50, c99 := fig(q(central, 0.5)), fig(q(central, 0.99))
	r.rep.add(row{Section: crossSection, Measure: label + ": p50", Unit: "ms", Value: fig(q(region, 0.5)),
		Raw: "central freshness p50, same deliveries", RawValue: &c50, Note: note})
	r.rep.add(row{Section: crossSection, Measure: label + ": p99", Unit: "ms", Value: fig(q(region, 0.99)),
		Raw: "central freshness p99, same deliveries", RawValue: &c99})
	r.rep.add(row{Section: crossSection, Measure: label + ": not visible in the region within 2 min", Unit: "deliveries", Value: fig(float64(notSeen))})
}

// rebuildUnderLoad restarts the projector with the default rebuild duty
// cycle and measures the API (8 clients in a closed loop) at rest and during
// a zero-downtime rebuild.
func (r *benchRun) rebuildUnderLoad() {
	r.stopRole("project")
	r.roles["project"] = r.startLogged("project", []string{"CATALOG_REBUILD_DUTY=0.25"})
	r.rss.set(map[string]*proc{"project": r.roles["project"]})
	waitHTTP(r.b, "http://"+r.s.projector+"/healthz")
	r.fetchAll(r.valid)
	const workers = 8
	stop := make(chan struct{})
	go func() { time.Sleep(time.Duration(2*r.cfg.secs) * time.Second); close(stop) }()
	l := newLoad(workers, 0)
	req := func(i int) *http.Request { return trackDetails(r.s.api, r.valid[i%len(r.valid)]) }
	rest, restErrs := latencies(l.closed(-1, stop, false, req))

	stop = make(chan struct{})
	var during []float64
	var duringErrs int64
	done := make(chan struct{})
	go func() { during, duringErrs = latencies(l.closed(-1, stop, false, req)); close(done) }()
	start := time.Now()
	r.s.run(r.b, "projections", "rebuild", "track-details")
	wall := time.Since(start)
	close(stop)
	<-done
	q := quantile
	const sec = "Rebuild under load: API straight, 8 clients in a closed loop"
	restP99, restP50 := fig(q(rest, 0.99)), fig(q(rest, 0.5))
	r.rep.add(row{Section: sec, Measure: "p99 during a zero-downtime rebuild", Unit: "ms", Value: fig(q(during, 0.99)), Raw: "p99 at rest", RawValue: &restP99,
		Note: fmt.Sprintf("%d requests during, %d at rest", len(during), len(rest))})
	r.rep.add(row{Section: sec, Measure: "p50 during a zero-downtime rebuild", Unit: "ms", Value: fig(q(during, 0.5)), Raw: "p50 at rest", RawValue: &restP50})
	r.rep.add(row{Section: sec, Measure: "Errors during the rebuild", Unit: "", Value: fig(float64(duringErrs)), Note: fmt.Sprintf("%d at rest", restErrs)})
	r.rep.add(row{Section: sec, Measure: "Rebuild wall time under load (CATALOG_REBUILD_DUTY=0.25, the default)", Unit: "s", Value: fig(wall.Seconds())})
	r.logf("rebuild under load: %s, p99 %.1f ms (rest %.1f ms), %d errors", wall.Round(time.Second), q(during, 0.99), q(rest, 0.99), duringErrs)
}

// footprint reports the read model's size on disk, the write side's and
// Kafka's per million tracks, and each role's peak RSS.
func (r *benchRun) footprint() {
	perM := func(b int64) float64 { return float64(b) / 1024 / 1024 * 1e6 / float64(r.cat.tracks) }
	size := func(schema string) (total, indexes int64) {
		err := r.pg.QueryRow(r.ctx, `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint, coalesce(sum(pg_indexes_size(c.oid)), 0)::bigint
			from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r'`, schema).Scan(&total, &indexes)
		if err != nil {
			r.b.Fatal(err)
		}
		return total, indexes
	}
	const sec = "Footprint"
	rm, rmIdx := size(fmt.Sprintf("td_g%d", r.liveGeneration()))
	r.rep.add(row{Section: sec, Measure: "Read model on disk per 1M tracks (tables, TOAST and indexes)", Unit: "MiB", Value: fig(perM(rm)),
		Note: fmt.Sprintf("of which indexes %s MiB; %s MiB in all for %s tracks", num(perM(rmIdx)), num(float64(rm)/1024/1024), num(float64(r.cat.tracks)))})
	ws, _ := size("public")
	r.rep.add(row{Section: sec, Measure: "Ingest write side on disk per 1M tracks (release state, identifiers, outbox)", Unit: "MiB", Value: fig(perM(ws))})
	var kafka int64
	dirs, _ := filepath.Glob(filepath.Join(r.libs, "..", "data", r.topic+"-*"))
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				// Blocks in use: Kafka preallocates its index files sparsely.
				if info, err := e.Info(); err == nil {
					kafka += info.Sys().(*syscall.Stat_t).Blocks * 512
				}
			}
			return nil
		})
	}
	r.rep.add(row{Section: sec, Measure: "Kafka log per 1M tracks (releases topic, index files included)", Unit: "MiB", Value: fig(perM(kafka))})
	for _, role := range []struct{ name, load string }{
		{"ingest", "freshness runs"}, {"project", "first projection, rebuilds, freshness"},
		{"api", "wrk reads, freshness polling"}, {"gateway", "wrk reads"}} {
		r.rep.add(row{Section: sec, Measure: fmt.Sprintf("Peak RSS of `catalog %s` (under: %s)", role.name, role.load), Unit: "MiB",
			Value: fig(float64(r.rss.get(role.name)) / 1024)})
	}
}

// targets checks the figures against the aims catalog is built for.
func (r *benchRun) targets() {
	const proj = "Projection and rebuild"
	rb := r.rep.find(proj, "Zero-downtime rebuild from offset zero (against the raw CopyFrom)")
	wall := r.rep.find(proj, "Zero-downtime rebuild from offset zero: wall time")
	gw := r.rep.find("Reads: track/details (wrk, random tracks, country=GB)", "Gateway (key, quota in Redis, proxy), Redis hot, 64 connections")
	gwP99 := r.rep.find("Reads: p99 latency", "Gateway (key, quota in Redis, proxy), Redis hot, 64 connections")
	var freshP99, freshRate row
	for _, x := range r.rep.Rows {
		if x.Section != freshSection {
			continue
		}
		if strings.HasPrefix(x.Measure, "Steady") && strings.HasSuffix(x.Measure, ": p99") {
			freshP99 = x
		}
		if strings.HasPrefix(x.Measure, "Steady") && strings.HasSuffix(x.Measure, ": accepted") {
			freshRate = x
		}
	}
	var ing row
	for _, x := range r.rep.Rows {
		if strings.HasPrefix(x.Section, "Ingest") && x.Unit == "events/s" {
			ing = x
		}
	}
	const load = "Rebuild under load: API straight, 8 clients in a closed loop"
	p99 := r.rep.find(load, "p99 during a zero-downtime rebuild")
	errs := r.rep.find(load, "Errors during the rebuild")
	scaled := wall.Value.Median * 1e6 / float64(r.cat.tracks)
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	r.rep.Targets = []target{
		{"Rebuild at ≥ 50% of the raw CopyFrom rate", pct(rb.Ratio), rb.Ratio >= 0.5},
		{"A 1M-track rebuild in under 60 s", fmt.Sprintf("%.0f s for %s tracks (%.0f s per 1M)", wall.Value.Median, num(float64(r.cat.tracks)), scaled), scaled < 60},
		{"Gateway ≥ 80% of nginx-as-proxy throughput (Redis hot, 64 connections)", pct(gw.Ratio), gw.Ratio >= 0.8},
		{"Gateway p99 under 5 ms at 64 connections (Redis hot)", fmt.Sprintf("%.1f ms", gwP99.Value.Median), gwP99.Value.Median < 5},
		{"Freshness p99 under 1 s at 500 deliveries/s", fmt.Sprintf("%s ms, with %s deliveries/s accepted of %s offered", num(freshP99.Value.Median), num(freshRate.Value.Median), num(r.cfg.rate)),
			freshP99.Value.Median < 1000 && r.cfg.rate >= 500 && freshRate.Value.Median >= 0.95*r.cfg.rate},
		{"Ingest at ≥ 25% of the raw producer rate for the same records", pct(ing.Ratio), ing.Ratio >= 0.25},
		{"Zero errors and p99 within 2x of rest during a rebuild", fmt.Sprintf("%.0f errors, p99 %.1fx rest", errs.Value.Median, p99.Ratio), errs.Value.Median == 0 && p99.Ratio <= 2},
	}
}

// verify runs `catalog verify` on the run's stack as it ends: the whole
// log folded by the independent oracle against every track row of the
// live generation (the last rebuild's), every hot entry, every identifier
// look-up and a sample of track/details answers through the gateway. It
// reports the divergences per layer (0 is the only good answer), what was
// compared, and the time the check took.
func (r *benchRun) verify() {
	start := time.Now()
	cmd := exec.Command(catalogBin, "verify", "--json", "--wait", "10m", "--key", r.key, "--sample", "1000", "--max-lines", "20")
	cmd.Env = r.s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	wall := time.Since(start)
	var rep struct {
		Layers []struct {
			Layer       string `json:"layer"`
			Skipped     string `json:"skipped"`
			Checks      int    `json:"checks"`
			Entries     int    `json:"entries"`
			Requests    int    `json:"requests"`
			Divergences int    `json:"divergences"`
		} `json:"layers"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil || len(rep.Layers) == 0 {
		r.b.Fatalf("catalog verify: %v (%v)\n%s\n%s", err, jerr, out, stderr.String())
	}
	const sec = "Correctness after the run: catalog verify"
	total := 0
	for _, l := range rep.Layers {
		if l.Skipped != "" {
			r.b.Fatalf("catalog verify skipped the %s layer: %s", l.Layer, l.Skipped)
		}
		total += l.Divergences
		r.rep.add(row{Section: sec, Measure: "Divergences: " + l.Layer, Unit: "", Value: fig(float64(l.Divergences)),
			Note: fmt.Sprintf("%d checks, %d entries, %d requests", l.Checks, l.Entries, l.Requests)})
	}
	if err != nil && total == 0 {
		r.b.Fatalf("catalog verify could not conclude: %v\n%s", err, stderr.String())
	}
	r.rep.add(row{Section: sec, Measure: "Time catalog verify took (the fold of the whole log by the independent oracle, then every comparison)", Unit: "s", Value: fig(wall.Seconds())})
	r.logf("verify: %d divergences in %s", total, wall.Round(time.Second))
}

// stageCounts is the ingest role's catalog_ingest_stage_seconds histogram
// as scraped: per stage, the cumulative count at each bucket's upper bound.
type stageCounts map[string]map[float64]float64

// ingestStages scrapes the ingest role's stage histogram (nil if it cannot).
func ingestStages(addr string) stageCounts {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := stageCounts{}
	line := regexp.MustCompile(`^catalog_ingest_stage_seconds_bucket\{(?:le="([^"]+)",stage="([^"]+)"|stage="([^"]+)",le="([^"]+)")\} (\S+)$`)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		le, stage := m[1], m[2]
		if stage == "" {
			stage, le = m[3], m[4]
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(m[5], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if out[stage] == nil {
			out[stage] = map[float64]float64{}
		}
		out[stage][bound] = n
	}
	return out
}

// stagesSince says where accepted deliveries' time went between two
// scrapes: each stage's p50 and p99, interpolated within the histogram's
// buckets as Prometheus's histogram_quantile does.
func stagesSince(before, after stageCounts) string {
	if after == nil {
		return "ingest stages not scraped"
	}
	var parts []string
	for _, stage := range []string{"store", "confirm"} {
		var bounds []float64
		for b := range after[stage] {
			bounds = append(bounds, b)
		}
		slices.Sort(bounds)
		cum := make([]float64, len(bounds))
		for i, b := range bounds {
			cum[i] = after[stage][b] - before[stage][b]
		}
		q := func(p float64) string {
			if len(cum) == 0 || cum[len(cum)-1] == 0 {
				return "-"
			}
			want := p * cum[len(cum)-1]
			lo, prev := 0.0, 0.0
			for i, b := range bounds {
				if cum[i] >= want {
					if math.IsInf(b, 1) {
						return fmt.Sprintf("> %s", num(1000*lo))
					}
					return num(1000 * (lo + (b-lo)*(want-prev)/max(cum[i]-prev, 1)))
				}
				lo, prev = b, cum[i]
			}
			return "-"
		}
		parts = append(parts, fmt.Sprintf("%s p50 %s ms, p99 %s ms", stage, q(0.5), q(0.99)))
	}
	return "ingest's own stages (catalog_ingest_stage_seconds): " + strings.Join(parts, "; ")
}
