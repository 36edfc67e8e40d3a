//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRebuildPacing compares ways of pacing a zero-downtime rebuild
// under the same steady traffic (the API straight, Redis hot, 8 clients in
// a closed loop), interleaved round by round so that the machine's other
// load falls on each alike. Each variant of CATALOG_BENCH_PACING
// (label:SETTING=value,...; bin=path runs that catalog binary as the
// projector) restarts the projector with its settings, measures the API at
// rest, then during a rebuild of track-details, CATALOG_BENCH_ROUNDS times
// (default 3) over CATALOG_BENCH_RELEASES releases (default 6000). Besides
// the latencies (at rest: 5 s before the rebuild and 5 s after it) it
// reports where the CPU went in each window: the API, the
// projector, this run's PostgreSQL backends, PostgreSQL's shared
// processes, Redis and the machine, with the machine's I/O wait and the
// API's GC pauses. Run it once: -benchtime=1x.
func BenchmarkRebuildPacing(b *testing.B) {
	spec := os.Getenv("CATALOG_BENCH_PACING")
	if spec == "" {
		spec = "default:"
	}
	type variant struct {
		label, bin string
		env        []string
	}
	var vs []variant
	for _, part := range strings.Split(spec, ";") {
		label, settings, _ := strings.Cut(part, ":")
		v := variant{label: label, bin: catalogBin}
		for _, kv := range strings.Split(settings, ",") {
			switch {
			case kv == "":
			case strings.HasPrefix(kv, "bin="):
				v.bin = strings.TrimPrefix(kv, "bin=")
			default:
				v.env = append(v.env, kv)
			}
		}
		vs = append(vs, v)
	}
	rounds, releases := envInt(b, "CATALOG_BENCH_ROUNDS", 3), envInt(b, "CATALOG_BENCH_RELEASES", 6000)

	s := newStack(b)
	ingestRole := s.start(b, "ingest")
	api := s.start(b, "api")
	waitHTTP(b, "http://"+s.ingest+"/healthz")
	waitHTTP(b, "http://"+s.api+"/healthz")
	loadCatalogue(b, s, 31, releases)
	_ = ingestRole
	startProjector := func(v variant) *exec.Cmd {
		cmd := exec.Command(v.bin, "project")
		cmd.Env = append(slices.Clone(s.env), v.env...)
		log, err := os.Create(filepath.Join(b.TempDir(), "project.log"))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitHTTP(b, "http://"+s.projector+"/healthz")
		return cmd
	}
	stopProjector := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	first := startProjector(vs[0])
	waitCaughtUp(b, s)
	stopProjector(first)

	const tracks, workers = 1500, 8
	l := newLoad(workers, 0)
	req := func(i int) *http.Request { return trackDetails(s.api, int64(1+i%tracks)) }
	dbName := s.pgURL[strings.LastIndex(s.pgURL, "/")+1:]
	if i := strings.IndexByte(dbName, '?'); i >= 0 {
		dbName = dbName[:i]
	}
	type outcome struct{ ratio, rebuild, restP99, duringP99, errs float64 }
	results := map[string][]outcome{}
	for round := 1; round <= rounds; round++ {
		for _, v := range vs {
			proj := startProjector(v)
			waitCaughtUp(b, s)
			l.closed(tracks, nil, false, req) // every entry hot
			cpu := newCPUSampler(api.cmd.Process.Pid, proj.Process.Pid, dbName, "http://"+s.api+"/metrics")
			stop := make(chan struct{})
			go func() { time.Sleep(5 * time.Second); close(stop) }()
			rest, restErrs := latencies(l.closed(-1, stop, false, req))
			restCPU := cpu.sample()

			stop = make(chan struct{})
			var during []float64
			var duringErrs int64
			done := make(chan struct{})
			go func() { during, duringErrs = latencies(l.closed(-1, stop, false, req)); close(done) }()
			duties := make(chan []float64)
			go func() { duties <- sampleDuty("http://"+s.projector+"/metrics", done) }()
			start := time.Now()
			s.run(b, "projections", "rebuild", "track-details")
			wall := time.Since(start)
			close(stop)
			<-done
			duty := <-duties
			duringCPU := cpu.sample()
			// Rest again after the swap, every entry of the new generation
			// hot first: the rest figure is both windows, around the rebuild.
			l.closed(tracks, nil, false, req)
			stop = make(chan struct{})
			go func() { time.Sleep(5 * time.Second); close(stop) }()
			after, afterErrs := latencies(l.closed(-1, stop, false, req))
			rest, restErrs = append(rest, after...), restErrs+afterErrs
			stopProjector(proj)
			o := outcome{restP99: quantile(rest, 0.99), duringP99: quantile(during, 0.99), rebuild: wall.Seconds(), errs: float64(duringErrs + restErrs)}
			o.ratio = o.duringP99 / o.restP99
			results[v.label] = append(results[v.label], o)
			fmt.Fprintf(os.Stderr, "[pacing] round %d %-10s rest p50 %.2f p99 %.2f ms (%d req) | rebuild p50 %.2f p99 %.2f ms (%d req) = %.2fx | rebuild %.1f s | errors %d\n",
				round, v.label, quantile(rest, 0.5), o.restP99, len(rest), quantile(during, 0.5), o.duringP99, len(during), o.ratio, o.rebuild, duringErrs+restErrs)
			fmt.Fprintf(os.Stderr, "[pacing]   cpu at rest: %s\n[pacing]   cpu during:  %s\n", restCPU, duringCPU)
			if len(duty) > 0 {
				fmt.Fprintf(os.Stderr, "[pacing]   duty: mean %.3f, min %.3f, max %.3f over %d scrapes\n", mean(duty), slices.Min(duty), slices.Max(duty), len(duty))
			}
		}
	}
	for _, v := range vs {
		var ratios, walls []float64
		for _, o := range results[v.label] {
			ratios, walls = append(ratios, o.ratio), append(walls, o.rebuild)
		}
		b.ReportMetric(quantile(ratios, 0.5), v.label+"-p99-ratio")
		b.ReportMetric(quantile(walls, 0.5), v.label+"-rebuild-s")
	}
}

// sampleDuty scrapes the rebuild's duty from the projector's metrics every
// 500 ms until done.
func sampleDuty(url string, done <-chan struct{}) []float64 {
	var out []float64
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return out
		case <-t.C:
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "catalog_projection_rebuild_duty_ratio{") {
				if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
					out = append(out, v)
				}
			}
		}
		resp.Body.Close()
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

func envInt(b *testing.B, k string, def int) int {
	if v := os.Getenv(k); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", k, v)
		}
		return n
	}
	return def
}

// cpuSampler reads where the CPU went since its last sample, from /proc.
type cpuSampler struct {
	api, proj  int
	db, apiURL string
	at         time.Time
	last       cpuTimes
}

type cpuTimes struct {
	api, proj, pgRun, pgShared, redis, busy, iowait, total float64 // clock ticks
	gcPause                                                float64 // seconds of the API's GC pauses
	apiWait                                                float64 // nanoseconds the API's threads waited for a CPU
}

func newCPUSampler(api, proj int, db, apiURL string) *cpuSampler {
	c := &cpuSampler{api: api, proj: proj, db: db, apiURL: apiURL}
	c.last, c.at = c.read(), time.Now()
	return c
}

func (c *cpuSampler) sample() string {
	now, at := c.read(), time.Now()
	d := func(a, b float64) float64 { return a - b }
	secs := at.Sub(c.at).Seconds()
	cores := func(ticks float64) float64 { return ticks / 100 / secs }
	tot := d(now.total, c.last.total)
	out := fmt.Sprintf("api %.2f, projector %.2f, pg(run) %.2f, pg(shared) %.2f, redis %.2f cores; machine busy %.0f%%, iowait %.1f%%; API GC pauses %.1f ms/s, API threads waiting for a CPU %.0f ms/s",
		cores(d(now.api, c.last.api)), cores(d(now.proj, c.last.proj)), cores(d(now.pgRun, c.last.pgRun)), cores(d(now.pgShared, c.last.pgShared)),
		cores(d(now.redis, c.last.redis)), 100*d(now.busy, c.last.busy)/tot, 100*d(now.iowait, c.last.iowait)/tot, 1000*d(now.gcPause, c.last.gcPause)/secs, d(now.apiWait, c.last.apiWait)/1e6/secs)
	c.last, c.at = now, at
	return out
}

func (c *cpuSampler) read() cpuTimes {
	var t cpuTimes
	t.api, t.proj = procTicks(c.api), procTicks(c.proj)
	t.apiWait = runQueueWait(c.api)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cl := string(cmdline)
		switch {
		case strings.HasPrefix(cl, "postgres: ") && strings.Contains(cl, " "+c.db+" "):
			t.pgRun += procTicks(pid)
		case strings.HasPrefix(cl, "postgres: ") && !strings.Contains(cl, "catalog"):
			t.pgShared += procTicks(pid)
		case strings.Contains(cl, "redis-server"):
			t.redis += procTicks(pid)
		}
	}
	if f, err := os.Open("/proc/stat"); err == nil {
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			fs := strings.Fields(sc.Text())[1:]
			for i, v := range fs {
				n, _ := strconv.ParseFloat(v, 64)
				t.total += n
				switch i {
				case 3: // idle
				case 4:
					t.iowait += n
				default:
					t.busy += n
				}
			}
		}
		f.Close()
	}
	if resp, err := http.Get(c.apiURL); err == nil {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_gc_duration_seconds_sum "); ok {
				t.gcPause, _ = strconv.ParseFloat(v, 64)
			}
		}
		resp.Body.Close()
	}
	return t
}

// runQueueWait is how long the threads of a process have waited on a run
// queue for a CPU, in nanoseconds (schedstat's second field, per thread).
func runQueueWait(pid int) float64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum float64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if fs := strings.Fields(string(b)); len(fs) >= 2 {
			n, _ := strconv.ParseFloat(fs[1], 64)
			sum += n
		}
	}
	return sum
}

// procTicks is a process's user and system CPU time, in clock ticks.
func procTicks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(fs[11], 64)
	st, _ := strconv.ParseFloat(fs[12], 64)
	return u + st
}
