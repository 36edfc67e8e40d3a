//go:build bench

package bench

import (
	"bytes"
	"context"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// benchConfig is read from the environment; `make bench` and
// `make bench-quick` set it.
type benchConfig struct {
	tracks      int     // CATALOG_BENCH_TRACKS: size of the generated catalogue
	runs        int     // CATALOG_BENCH_RUNS: runs behind each median
	secs        int     // CATALOG_BENCH_SECONDS: length of one wrk run
	out         string  // CATALOG_BENCH_OUT: folder for BENCHMARKS.md and docs/benchmarks.json
	concurrency int     // CATALOG_BENCH_INGEST_CONCURRENCY: `catalog ingest --concurrency`
	rate        float64 // CATALOG_BENCH_RATE: steady delivery rate of the freshness run
	freshSecs   int     // CATALOG_BENCH_FRESH_SECONDS: length of the steady freshness run
	watchEvery  int     // CATALOG_BENCH_FRESH_WATCH_EVERY: every how many accepted deliveries one is timed
	phases      phases  // CATALOG_BENCH_PHASES: the phases to run
	profile     bool    // CATALOG_BENCH_CPUPROFILE: CPU-profile the ingest and API roles over their life
}

// phases is the set of phases a run does (CATALOG_BENCH_PHASES), by name.
type phases map[string]bool

// allPhases names the phases of a run in order. The catalogue is always
// generated (or reused); every phase after ingest starts the roles and
// takes the first projection, which it needs.
var allPhases = []string{"ingest", "producer", "rebuild", "reads", "region", "fresh", "load", "footprint", "verify"}

// parsePhases reads a comma list of phase names; empty is every phase.
func parsePhases(v string) (phases, error) {
	p := phases{}
	if strings.TrimSpace(v) == "" {
		for _, n := range allPhases {
			p[n] = true
		}
		return p, nil
	}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(allPhases, n) {
			return nil, fmt.Errorf("unknown phase %q (phases: %s)", n, strings.Join(allPhases, ","))
		}
		p[n] = true
	}
	// Every phase reads what ingest writes: the run's database and topic
	// are its own and start empty.
	if len(p) > 0 && !p["ingest"] {
		return nil, fmt.Errorf("the phases %q need ingest: the run's database and topic start empty", v)
	}
	return p, nil
}

// all reports whether every phase runs.
func (p phases) all() bool { return len(p) == len(allPhases) }

// afterIngest reports whether any phase after ingest runs, and so the
// roles and the first projection.
func (p phases) afterIngest() bool {
	for _, n := range allPhases[2:] {
		if p[n] {
			return true
		}
	}
	return false
}

func loadBenchConfig(b *testing.B, root string) benchConfig {
	num := func(k string, def int) int { return envInt(b, k, def) }
	c := benchConfig{tracks: num("CATALOG_BENCH_TRACKS", 50_000), runs: num("CATALOG_BENCH_RUNS", 3),
		concurrency: num("CATALOG_BENCH_INGEST_CONCURRENCY", 16), out: os.Getenv("CATALOG_BENCH_OUT")}
	big := c.tracks >= 500_000
	c.secs = num("CATALOG_BENCH_SECONDS", map[bool]int{true: 10, false: 5}[big])
	c.freshSecs = num("CATALOG_BENCH_FRESH_SECONDS", map[bool]int{true: 30, false: 10}[big])
	c.rate = float64(num("CATALOG_BENCH_RATE", 500))
	if c.watchEvery = num("CATALOG_BENCH_FRESH_WATCH_EVERY", 10); c.watchEvery < 1 {
		b.Fatalf("CATALOG_BENCH_FRESH_WATCH_EVERY: %d is not a positive count", c.watchEvery)
	}
	var err error
	if c.phases, err = parsePhases(os.Getenv("CATALOG_BENCH_PHASES")); err != nil {
		b.Fatalf("CATALOG_BENCH_PHASES: %v", err)
	}
	c.profile = os.Getenv("CATALOG_BENCH_CPUPROFILE") == "1"
	if c.out == "" {
		c.out = root
	}
	return c
}

// dataDir is where `make up` keeps the services' data (Kafka's jars and
// log among it): CATALOG_DATA_DIR, as deployments/local/env.sh reads it, or
// .data at the repository root. The harness only reads it; its own files
// go under .data/bench at the root.
func dataDir(root string) string {
	if d := os.Getenv("CATALOG_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".data")
}

// benchRun is the state one BenchmarkCatalogue run carries from phase to
// phase.
type benchRun struct {
	b      *testing.B
	cfg    benchConfig
	s      stack
	ctx    context.Context
	pg     *pgxpool.Pool
	rdb    *redis.Client
	topic  string
	libs   string
	work   string
	rep    *benchReport
	cat    catalogue
	roles  map[string]*proc
	rss    *rssSampler
	key    string
	gwOps  string  // the gateway's operations address (metrics, profiles)
	valid  []int64 // track ids that answer 200 for country=GB
	events int64   // records in the releases topic after the load
	// slotWait: the last freshness run's watchers' waits for a poll slot;
	// busy: how busy the machine was while its deliveries were posted.
	slotWait, busy string
	// freshK numbers the freshness updates across runs (their message ids
	// and dates), so a second run's deliveries are new versions too.
	freshK int

	consumerRate figure  // ConsumerPerformance over the releases topic, records/s
	consumerMB   figure  // the same in MB/s (MiB of keys and values)
	topicMB      float64 // the releases topic's keys and values, MiB, as ConsumerPerformance counts them
	region       *benchRegion
}

func (r *benchRun) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// BenchmarkCatalogue measures catalog at catalogue scale, every figure next
// to the raw limit of the part underneath, measured in the same run, and
// writes BENCHMARKS.md and docs/benchmarks.json. It generates a catalogue of
// CATALOG_BENCH_TRACKS tracks (ERN 4.3 files, kept under .data/bench for
// later runs), then measures ingest, the first projection and zero-downtime
// rebuilds, reads (wrk), freshness, a rebuild under load and the footprint.
// `make bench` runs it at 1M tracks, `make bench-quick` at 50k. Run it once:
// -benchtime=1x.
func BenchmarkCatalogue(b *testing.B) {
	for _, tool := range []string{"wrk", "nginx", "redis-benchmark", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is not installed (make bench installs it): %v", tool, err)
		}
	}
	root, _ := filepath.Abs("..")
	cfg := loadBenchConfig(b, root)
	s := newStack(b)
	s.env = append(s.env, "CATALOG_LOG_LEVEL=info", "CATALOG_LOG_FORMAT=json", "CATALOG_TOPIC_PARTITIONS=6",
		"CATALOG_REDIS_PREFIX="+s.prefix+"td:", "CATALOG_REBUILD_DUTY=1")
	gwOps := testenv.FreeAddr(b)
	s.env = append(s.env, "CATALOG_GATEWAY_METRICS_ADDR="+gwOps)
	pool, err := pgxpool.New(context.Background(), s.pgURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	r := &benchRun{b: b, cfg: cfg, s: s, ctx: context.Background(), pg: pool,
		rdb:   redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b)}),
		topic: s.prefix + "releases", libs: filepath.Join(dataDir(root), "kafka", "libs"),
		work: filepath.Join(root, ".data", "bench"), roles: map[string]*proc{}, gwOps: gwOps,
		rep: &benchReport{Started: time.Now(), Scale: map[string]int64{}, Settings: map[string]string{}}}
	defer r.rdb.Close()
	conn, err := pool.Acquire(r.ctx)
	if err != nil {
		b.Fatal(err)
	}
	r.rep.Machine = machine(r.ctx, conn.Conn(), r.rdb, r.libs)
	conn.Release()
	stealStart, cpuStart := cpuSteal()
	r.rep.Settings["topic partitions"] = "6"
	r.rep.Settings["ingest concurrency"] = strconv.Itoa(cfg.concurrency)
	r.rep.Settings["runs per median"] = strconv.Itoa(cfg.runs)
	r.rep.Settings["wrk run"] = fmt.Sprintf("%d s, 2 threads", cfg.secs)

	ph := cfg.phases
	if !ph.all() {
		r.rep.Settings["phases"] = strings.Join(slices.DeleteFunc(slices.Clone(allPhases), func(n string) bool { return !ph[n] }), ",")
	}
	r.generate()
	r.ingest()
	if ph["producer"] {
		r.producerPerf()
	}
	if ph.afterIngest() {
		r.startRoles()
		r.firstProjection()
	}
	if ph["rebuild"] {
		r.rebuilds()
		r.consumerPerf()
		r.rawCopy()
	}
	if ph["reads"] {
		r.reads()
	} else if ph["fresh"] || ph["load"] {
		r.requestSet()
	}
	// Central freshness first, with no region on the machine (a region is
	// a stack of its own elsewhere); then, once the region's stack is up
	// on the same two cores, again for the cross-region figures.
	if ph["fresh"] {
		r.freshness(freshSection)
	}
	if ph["region"] {
		r.mirror()
		if ph["fresh"] {
			r.freshness(freshRegionSection)
		}
	}
	r.stopRegion()
	if ph["load"] {
		r.rebuildUnderLoad()
	}
	if ph["footprint"] {
		r.footprint()
	}
	if ph["verify"] {
		r.verify()
	}
	if ph.afterIngest() && cfg.profile {
		r.stopProfiled()
	}
	if ph.all() {
		r.targets()
	}

	r.rep.Seconds = time.Since(r.rep.Started).Seconds()
	if stealEnd, cpuEnd := cpuSteal(); cpuEnd > cpuStart {
		r.rep.Machine = append(r.rep.Machine, [2]string{"CPU time taken by the hypervisor (steal) during the run",
			fmt.Sprintf("%.1f%%", 100*float64(stealEnd-stealStart)/float64(cpuEnd-cpuStart))})
	}
	if err := os.MkdirAll(filepath.Join(cfg.out, "docs"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := r.rep.writeJSON(filepath.Join(cfg.out, "docs", "benchmarks.json")); err != nil {
		b.Fatal(err)
	}
	if err := r.rep.writeMarkdown(filepath.Join(cfg.out, "BENCHMARKS.md"), "docs/benchmarks.json"); err != nil {
		b.Fatal(err)
	}
	r.logf("wrote %s", filepath.Join(cfg.out, "BENCHMARKS.md"))
}

// catalogue is the generated catalogue on disk.
type catalogue struct {
	deliveries []gen.Delivery
	chunks     []string // folders of first deliveries, one ingest run each
	later      string   // folder of later deliveries
	chunkN     []int    // deliveries per chunk
	chunkT     []int    // tracks per chunk
	laterN     int
	tracks     int
	releases   int
}

// generate writes the catalogue as ERN 4.3 files, unless an earlier run
// left it complete under .data/bench.
func (r *benchRun) generate() {
	const seed, chunks = 1, 5
	// Enough releases for the tracks asked for: a release's content depends
	// only on the seed and its number, so adding releases keeps the others.
	n := int(math.Ceil(float64(r.cfg.tracks) / 9.6))
	for {
		r.cat.deliveries = gen.Catalogue(seed, n, gen.DefaultReuse)
		r.cat.tracks = 0
		for _, d := range r.cat.deliveries {
			if strings.HasPrefix(d.Name, "1-") {
				r.cat.tracks += len(d.Release.Tracks)
			}
		}
		if r.cat.tracks >= r.cfg.tracks {
			break
		}
		n += (r.cfg.tracks-r.cat.tracks)/8 + 1
	}
	// The share of compilations and reissues is in the name: a catalogue
	// written before they existed (or with another share) is not reused.
	dir := filepath.Join(r.work, fmt.Sprintf("catalogue-s%d-r%d-reuse%g", seed, n, gen.DefaultReuse))
	r.cat.releases = n
	first := n
	per := (first + chunks - 1) / chunks
	r.cat.later = filepath.Join(dir, "later")
	for c := 0; c < chunks; c++ {
		r.cat.chunks = append(r.cat.chunks, filepath.Join(dir, fmt.Sprintf("first-%d", c+1)))
		r.cat.chunkN, r.cat.chunkT = append(r.cat.chunkN, 0), append(r.cat.chunkT, 0)
	}
	folder := func(i int, d gen.Delivery) string {
		if strings.HasPrefix(d.Name, "1-") {
			return r.cat.chunks[i/per]
		}
		return r.cat.later
	}
	for i, d := range r.cat.deliveries {
		if strings.HasPrefix(d.Name, "1-") {
			r.cat.chunkN[i/per]++
			r.cat.chunkT[i/per] += len(d.Release.Tracks)
		} else {
			r.cat.laterN++
		}
	}
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		r.logf("writing %d deliveries (%d releases, %d tracks) to %s", len(r.cat.deliveries), n, r.cat.tracks, dir)
		_ = os.RemoveAll(dir)
		for _, d := range append(slices.Clone(r.cat.chunks), r.cat.later) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				r.b.Fatal(err)
			}
		}
		var buf bytes.Buffer
		for i, d := range r.cat.deliveries {
			buf.Reset()
			if err := gen.ERN43(&buf, d); err != nil {
				r.b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(folder(i, d), d.Name+".xml"), buf.Bytes(), 0o644); err != nil {
				r.b.Fatal(err)
			}
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			r.b.Fatal(err)
		}
	}
	var bytes int64
	_ = filepath.WalkDir(dir, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				bytes += info.Size()
			}
		}
		return nil
	})
	r.rep.Scale["tracks"] = int64(r.cat.tracks)
	r.rep.Scale["releases"] = int64(n)
	r.rep.Scale["deliveries"] = int64(len(r.cat.deliveries))
	r.rep.Scale["ernBytes"] = bytes
}

func (r *benchRun) endOffsets() int64 {
	hw, err := endOffsets(r.s.brokers, r.topic)
	if err != nil {
		r.b.Fatal(err)
	}
	var n int64
	for _, v := range hw {
		n += v
	}
	return n
}

// ingestFolder runs `catalog ingest DIR` and returns its wall time and peak
// RSS (KiB).
func (r *benchRun) ingestFolder(dir string) (time.Duration, int64) {
	cmd := exec.Command(catalogBin, "ingest", "--quiet", "--concurrency", strconv.Itoa(r.cfg.concurrency), dir)
	cmd.Env = r.s.env
	var out, logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	start := time.Now()
	if err := cmd.Run(); err != nil {
		r.b.Fatalf("catalog ingest %s: %v\n%s\n%s", dir, err, out.String(), logs.String())
	}
	d := time.Since(start)
	r.logf("ingest %s: %s in %s", filepath.Base(dir), strings.SplitN(out.String(), "\n", 2)[0], d.Round(time.Millisecond))
	return d, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// ingest loads the catalogue from its files, one timed run per chunk of
// first deliveries, then the later deliveries. The projector is not running
// yet: ingest is measured alone, as the raw producer is.
func (r *benchRun) ingest() {
	r.logf("ingest: %d chunks of first deliveries, then %d later deliveries", len(r.cat.chunks), r.cat.laterN)
	// The first run creates the topics; its chunk is timed like the others.
	var perDelivery, perTrack, perEvent []float64
	var peak int64
	for i, dir := range r.cat.chunks {
		before := int64(0)
		if i > 0 {
			before = r.endOffsets()
		}
		d, rss := r.ingestFolder(dir)
		events := r.endOffsets() - before
		perDelivery = append(perDelivery, float64(r.cat.chunkN[i])/d.Seconds())
		perTrack = append(perTrack, float64(r.cat.chunkT[i])/d.Seconds())
		perEvent = append(perEvent, float64(events)/d.Seconds())
		peak = max(peak, rss)
	}
	before := r.endOffsets()
	d, rss := r.ingestFolder(r.cat.later)
	laterEvents := r.endOffsets() - before
	peak = max(peak, rss)
	r.events = r.endOffsets()
	r.rep.Scale["events"] = r.events
	const sec = "Ingest: ERN 4.3 files to durable events in Kafka"
	note := fmt.Sprintf("`catalog ingest --concurrency %d` per folder of about %d first deliveries; one run per folder", r.cfg.concurrency, r.cat.chunkN[0])
	r.rep.add(row{Section: sec, Measure: "First deliveries", Unit: "deliveries/s", Value: fig(perDelivery...), Note: note})
	r.rep.add(row{Section: sec, Measure: "First deliveries", Unit: "tracks/s", Value: fig(perTrack...)})
	r.rep.add(row{Section: sec, Measure: "First deliveries", Unit: "events/s", Value: fig(perEvent...)})
	r.rep.add(row{Section: sec, Measure: "Later deliveries (updates, deal changes, takedowns, purges)", Unit: "deliveries/s",
		Value: fig(float64(r.cat.laterN) / d.Seconds()), Note: fmt.Sprintf("%d deliveries, %d events, one run", r.cat.laterN, laterEvents)})
	r.rep.add(row{Section: "Footprint", Measure: "Peak RSS of `catalog ingest` (files)", Unit: "MiB", Value: fig(float64(peak) / 1024)})
}

// producerPerf runs Kafka's ProducerPerformance with the same number of
// records as the releases topic holds, with payloads sampled from it.
func (r *benchRun) producerPerf() {
	payloads, total, count := r.samplePayloads(20_000)
	r.rep.Scale["eventBytes"] = total
	file := filepath.Join(r.b.TempDir(), "payloads.txt")
	if err := os.WriteFile(file, bytes.Join(payloads, []byte("\n")), 0o644); err != nil {
		r.b.Fatal(err)
	}
	perf := r.s.prefix + "perf.producer"
	if err := createTopic(r.s.brokers, perf, 6); err != nil {
		r.b.Fatal(err)
	}
	re := regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th`)
	var rates []float64
	for i := 0; i < r.cfg.runs; i++ {
		out, err := exec.Command("java", "-Xmx2g", "-cp", filepath.Join(r.libs, "*"), "org.apache.kafka.tools.ProducerPerformance",
			"--topic", perf, "--num-records", strconv.FormatInt(count, 10), "--throughput", "-1", "--payload-file", file,
			"--producer-props", "bootstrap.servers="+strings.Join(r.s.brokers, ","), "acks=all", "enable.idempotence=true").CombinedOutput()
		m := re.FindAllStringSubmatch(string(out), -1)
		if err != nil || len(m) == 0 {
			r.b.Fatalf("ProducerPerformance: %v\n%s", err, out)
		}
		v, _ := strconv.ParseFloat(m[len(m)-1][2], 64)
		rates = append(rates, v)
		r.logf("ProducerPerformance: %s", m[len(m)-1][0])
	}
	// The tool's topic goes: MirrorMaker copies every topic of the prefix,
	// and its copy of the releases topic is measured alone.
	if err := deleteTopic(r.s.brokers, perf); err != nil {
		r.b.Fatal(err)
	}
	raw := fig(rates...)
	ev := r.rep.find("Ingest: ERN 4.3 files to durable events in Kafka", "First deliveries")
	for i, x := range r.rep.Rows {
		if x.Section == ev.Section && x.Unit == "events/s" {
			x.Raw = fmt.Sprintf("Kafka ProducerPerformance: %s records of the topic's payloads (avg %s B), acks=all, idempotent", num(float64(count)), num(float64(total)/float64(count)))
			x.RawValue = &raw
			x.Ratio = x.Value.Median / raw.Median
			r.rep.Rows[i] = x
		}
	}
}

// samplePayloads reads the whole releases topic and returns up to n of its
// values (a uniform sample), their total size and the record count.
func (r *benchRun) samplePayloads(n int) ([][]byte, int64, int64) {
	cfg := sarama.NewConfig()
	cfg.Consumer.Fetch.Default = 8 << 20
	c, err := sarama.NewConsumer(r.s.brokers, cfg)
	if err != nil {
		r.b.Fatal(err)
	}
	defer c.Close()
	hw, err := endOffsets(r.s.brokers, r.topic)
	if err != nil {
		r.b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var sample [][]byte
	var total, seen int64
	for p, end := range hw {
		if end == 0 {
			continue
		}
		pc, err := c.ConsumePartition(r.topic, p, sarama.OffsetOldest)
		if err != nil {
			r.b.Fatal(err)
		}
		for m := range pc.Messages() {
			total += int64(len(m.Value))
			seen++
			switch {
			case len(sample) < n:
				sample = append(sample, m.Value)
			case rng.Int64N(seen) < int64(n):
				sample[rng.IntN(n)] = m.Value
			}
			if m.Offset+1 >= end {
				break
			}
		}
		pc.Close()
	}
	for _, v := range sample {
		if bytes.ContainsRune(v, '\n') {
			r.b.Fatal("an event payload holds a newline; ProducerPerformance's payload file cannot carry it")
		}
	}
	return sample, total, seen
}

// startRoles starts every role as its own process, logging to files under
// .data/bench/logs, and a sampler of their memory.
func (r *benchRun) startRoles() {
	key := strings.TrimSpace(r.s.run(r.b, "clients", "add", "bench"))
	r.s.run(r.b, "clients", "set-limit", key, "1000000000")
	r.key = key
	// Each role's log covers the run: cleared once here, then appended to
	// by every start (the projector starts again for the rebuild under load).
	if err := os.RemoveAll(filepath.Join(r.work, "logs")); err != nil {
		r.b.Fatal(err)
	}
	for _, role := range []string{"ingest", "api", "gateway"} {
		r.roles[role] = r.startLogged(role, nil)
	}
	waitHTTP(r.b, "http://"+r.s.ingest+"/healthz")
	r.rss = newRSSSampler(r.roles)
}

func (r *benchRun) startLogged(role string, env []string) *proc {
	return r.startIn(r.s, role, role, env)
}

// stopRole stops a role with SIGTERM and waits for it.
func (r *benchRun) stopRole(role string) {
	p := r.roles[role]
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	p.done <- nil // for the cleanup
}

// rssSampler keeps the peak resident set of each role, sampled every 200 ms.
type rssSampler struct {
	mu    sync.Mutex
	peak  map[string]int64 // KiB
	procs map[string]*proc
	stop  chan struct{}
}

func newRSSSampler(procs map[string]*proc) *rssSampler {
	s := &rssSampler{peak: map[string]int64{}, procs: map[string]*proc{}, stop: make(chan struct{})}
	s.set(procs)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				for role, p := range s.procs {
					s.peak[role] = max(s.peak[role], procStatus(p.cmd.Process.Pid, "VmRSS"))
				}
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *rssSampler) set(procs map[string]*proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range procs {
		s.procs[k] = v
	}
}

func (s *rssSampler) get(role string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[role]
}

// procStatus reads a KiB field (VmRSS, VmHWM) of /proc/PID/status.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// resetPeak resets a process's VmHWM (Linux clear_refs).
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200)
}

func (r *benchRun) liveGeneration() int {
	for _, g := range r.s.status(r.b).Generations {
		if g.State == "live" {
			return g.Generation
		}
	}
	r.b.Fatal("no live generation")
	return 0
}

// firstProjection starts the projector on the loaded log: the live
// generation projects every event from offset zero.
func (r *benchRun) firstProjection() {
	start := time.Now()
	r.roles["project"] = r.startLogged("project", nil)
	r.rss.set(map[string]*proc{"project": r.roles["project"]})
	testenv.Eventually(r.b, 2*time.Hour, func() error { return r.s.status(r.b).caughtUp() })
	d := time.Since(start)
	r.logf("first projection: %d events in %s", r.events, d.Round(time.Millisecond))
	r.rep.add(row{Section: "Projection and rebuild", Measure: "First projection of the whole log (live generation, from offset zero)",
		Unit: "events/s", Value: fig(float64(r.events) / d.Seconds()), Note: fmt.Sprintf("%s s wall, one run, polled once a second", num(d.Seconds()))})
}

// rebuilds runs zero-downtime rebuilds from offset zero, nothing else
// running, with the building generation at full speed
// (CATALOG_REBUILD_DUTY=1), and profiles the projector during the first.
func (r *benchRun) rebuilds() {
	var walls, rates, peaks []float64
	pid := r.roles["project"].cmd.Process.Pid
	for i := 0; i < r.cfg.runs; i++ {
		resetPeak(pid)
		var prof sync.WaitGroup
		if i == 0 {
			prof.Add(1)
			go func() { defer prof.Done(); r.profile("projector-rebuild", r.s.projector, 30) }()
		}
		start := time.Now()
		r.s.run(r.b, "projections", "rebuild", "track-details")
		d := time.Since(start)
		prof.Wait()
		walls = append(walls, d.Seconds())
		rates = append(rates, float64(r.events)/d.Seconds())
		peaks = append(peaks, float64(procStatus(pid, "VmHWM"))/1024)
		r.logf("rebuild %d: %s", i+1, d.Round(time.Millisecond))
	}
	const sec = "Projection and rebuild"
	r.rep.add(row{Section: sec, Measure: "Zero-downtime rebuild from offset zero: wall time", Unit: "s", Value: fig(walls...),
		Note: "`catalog projections rebuild track-details`: shadow generation, indexes after the load, swap; CATALOG_REBUILD_DUTY=1, no other load"})
	r.rep.add(row{Section: sec, Measure: "Zero-downtime rebuild from offset zero", Unit: "events/s", Value: fig(rates...)})
	r.rep.add(row{Section: sec, Measure: "Peak RSS of the projector during a rebuild", Unit: "MiB", Value: fig(peaks...)})
}

// profile saves a CPU profile of a role's ops address under
// .data/bench/profiles and its top functions next to it.
func (r *benchRun) profile(name, addr string, secs int) {
	dir := filepath.Join(r.work, "profiles")
	_ = os.MkdirAll(dir, 0o755)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		r.logf("profile %s: %v", name, err)
		return
	}
	defer resp.Body.Close()
	file := filepath.Join(dir, name+".pprof")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || os.WriteFile(file, body, 0o644) != nil {
		r.logf("profile %s: %s", name, resp.Status)
		return
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", catalogBin, file).CombinedOutput()
	if err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".top.txt"), top, 0o644)
	}
	r.rep.mu.Lock()
	r.rep.Profiles = append(r.rep.Profiles, name+".pprof")
	r.rep.mu.Unlock()
}

// stopProfiled stops the ingest and API roles started with --cpuprofile
// (CATALOG_BENCH_CPUPROFILE), so they write their profiles, and saves the
// top functions of each next to it.
func (r *benchRun) stopProfiled() {
	dir := filepath.Join(r.work, "profiles")
	for _, role := range []string{"ingest", "api"} {
		r.stopRole(role)
		file := filepath.Join(dir, role+"-run.pprof")
		top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", catalogBin, file).CombinedOutput()
		if err != nil {
			r.logf("profile %s: %v\n%s", role, err, top)
			continue
		}
		_ = os.WriteFile(filepath.Join(dir, role+"-run.top.txt"), top, 0o644)
		r.rep.Profiles = append(r.rep.Profiles, role+"-run.pprof")
	}
}

// consumerPerf runs Kafka's ConsumerPerformance over the releases topic,
// a new group each run, and sets it as the raw limit of the rebuild rate.
func (r *benchRun) consumerPerf() {
	var rates, mbs []float64
	for i := 0; i < r.cfg.runs; i++ {
		out, err := exec.Command("java", "-Xmx2g", "-cp", filepath.Join(r.libs, "*"), "org.apache.kafka.tools.ConsumerPerformance",
			"--bootstrap-server", strings.Join(r.s.brokers, ","), "--topic", r.topic, "--messages", strconv.FormatInt(r.events, 10),
			"--group", fmt.Sprintf("%sperf-consumer-%d", r.s.prefix, i), "--timeout", "60000", "--hide-header").CombinedOutput()
		if err != nil {
			r.b.Fatalf("ConsumerPerformance: %v\n%s", err, out)
		}
		// Its columns: start.time, end.time, data.consumed.in.MB,
		// MB.sec, data.consumed.in.nMsg, nMsg.sec, ... (MB: MiB of keys
		// and values).
		var v, mb, mbs1 float64
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Split(l, ",")
			if len(f) >= 6 {
				if n, err := strconv.ParseFloat(strings.TrimSpace(f[5]), 64); err == nil {
					v = n
					mb, _ = strconv.ParseFloat(strings.TrimSpace(f[2]), 64)
					mbs1, _ = strconv.ParseFloat(strings.TrimSpace(f[3]), 64)
				}
			}
		}
		if v == 0 {
			r.b.Fatalf("ConsumerPerformance printed no rate:\n%s", out)
		}
		rates, mbs = append(rates, v), append(mbs, mbs1)
		r.topicMB = mb
		r.logf("ConsumerPerformance: %.0f msg/s, %.1f MB/s", v, mbs1)
	}
	raw := fig(rates...)
	r.consumerRate, r.consumerMB = raw, fig(mbs...)
	r.setRaw("Projection and rebuild", "Zero-downtime rebuild from offset zero", "events/s",
		"Kafka ConsumerPerformance over the same topic (new group each run)", raw)
}

func (r *benchRun) setRaw(section, measure, unit, raw string, v figure) {
	for i, x := range r.rep.Rows {
		if x.Section == section && x.Measure == measure && x.Unit == unit {
			x.Raw, x.RawValue, x.Ratio = raw, &v, x.Value.Median/v.Median
			r.rep.Rows[i] = x
			return
		}
	}
	r.b.Fatalf("no row %s / %s", section, measure)
}

// rawCopy copies the live generation's final rows with pgx CopyFrom into
// tables made like them, the way a rebuild loads them (primary keys and
// the release index during the load, look-up indexes after), timed per run.
func (r *benchRun) rawCopy() {
	gen := r.liveGeneration()
	src := fmt.Sprintf("td_g%d", gen)
	load := func(table string) ([]string, [][]any) {
		rows, err := r.pg.Query(r.ctx, "select * from "+src+"."+table)
		if err != nil {
			r.b.Fatal(err)
		}
		defer rows.Close()
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		var all [][]any
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				r.b.Fatal(err)
			}
			all = append(all, v)
		}
		if err := rows.Err(); err != nil {
			r.b.Fatal(err)
		}
		return cols, all
	}
	relCols, rels := load("releases")
	trCols, trs := load("tracks")
	var secs []float64
	for i := 0; i < r.cfg.runs; i++ {
		run := func(sql string) {
			if _, err := r.pg.Exec(r.ctx, sql); err != nil {
				r.b.Fatalf("%s: %v", sql, err)
			}
		}
		run("drop schema if exists bench_copy cascade")
		run(fmt.Sprintf(`create schema bench_copy;
			create table bench_copy.releases (like %[1]s.releases including defaults, primary key (release_id));
			create table bench_copy.tracks (like %[1]s.tracks including defaults, primary key (track_id));
			create index on bench_copy.tracks (release_id);`, src))
		start := time.Now()
		conn, err := r.pg.Acquire(r.ctx)
		if err != nil {
			r.b.Fatal(err)
		}
		if _, err := conn.Conn().CopyFrom(r.ctx, []string{"bench_copy", "releases"}, relCols, pgx.CopyFromRows(rels)); err != nil {
			r.b.Fatal(err)
		}
		if _, err := conn.Conn().CopyFrom(r.ctx, []string{"bench_copy", "tracks"}, trCols, pgx.CopyFromRows(trs)); err != nil {
			r.b.Fatal(err)
		}
		conn.Release()
		run(`create index on bench_copy.tracks (isrc); create index on bench_copy.releases (upc);
			create index on bench_copy.releases (grid); analyze bench_copy.releases; analyze bench_copy.tracks;`)
		secs = append(secs, time.Since(start).Seconds())
		r.logf("raw CopyFrom: %d releases, %d tracks in %.2f s", len(rels), len(trs), secs[len(secs)-1])
	}
	_, _ = r.pg.Exec(r.ctx, "drop schema if exists bench_copy cascade")
	copyWall := fig(secs...)
	var rates []float64
	for _, s := range secs {
		rates = append(rates, float64(r.events)/s)
	}
	const sec = "Projection and rebuild"
	r.setRaw(sec, "Zero-downtime rebuild from offset zero: wall time", "s",
		fmt.Sprintf("pgx CopyFrom of the same final rows (%s releases, %s tracks) into tables like them, then the same indexes", num(float64(len(rels))), num(float64(len(trs)))), copyWall)
	rb := r.rep.find(sec, "Zero-downtime rebuild from offset zero")
	raw := fig(rates...)
	r.rep.add(row{Section: sec, Measure: "Zero-downtime rebuild from offset zero (against the raw CopyFrom)", Unit: "events/s", Value: rb.Value,
		Raw: "the raw CopyFrom above, as events of the log per second", RawValue: &raw})
}

// kafkaConfig is the harness's sarama configuration: the protocol version
// pinned as catalog pins it (Kafka 4 refuses older requests).
func kafkaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "catalog-bench"
	return cfg
}

// endOffsets returns the next offset to be written in each partition of
// topic.
func endOffsets(brokers []string, topic string) (map[int32]int64, error) {
	client, err := sarama.NewClient(brokers, kafkaConfig())
	if err != nil {
		return nil, fmt.Errorf("connect kafka: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if out[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
	}
	return out, nil
}

// deleteTopic deletes a topic of the run's own.
func deleteTopic(brokers []string, topic string) error {
	admin, err := sarama.NewClusterAdmin(brokers, kafkaConfig())
	if err != nil {
		return fmt.Errorf("connect kafka admin: %w", err)
	}
	defer admin.Close()
	if err := admin.DeleteTopic(topic); err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

// createTopic creates a topic of the run's own (for Kafka's performance
// tools) and waits until its partitions have leaders.
func createTopic(brokers []string, topic string, partitions int32) error {
	admin, err := sarama.NewClusterAdmin(brokers, kafkaConfig())
	if err != nil {
		return fmt.Errorf("connect kafka admin: %w", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for try := 0; try < 300; try++ {
		md, err := admin.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && len(md[0].Partitions) == int(partitions) &&
			!slices.ContainsFunc(md[0].Partitions, func(p *sarama.PartitionMetadata) bool { return p.Leader < 0 }) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("topic %s has no leader for every partition after 30 s", topic)
}
