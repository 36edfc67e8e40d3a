package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// config is the run's size, from the environment; the defaults are the
// short run `make test` makes, `make chaos` sets the long one.
type config struct {
	deliveries  int     // CATALOG_CHAOS_DELIVERIES: deliveries offered
	rounds      int     // CATALOG_CHAOS_ROUNDS: times each fault is injected
	seed        uint64  // CATALOG_CHAOS_SEED: catalogue generator seed
	concurrency int     // CATALOG_CHAOS_CONCURRENCY: deliveries in flight at once
	rate        float64 // CATALOG_CHAOS_RATE: deliveries offered per second
	readers     int     // CATALOG_CHAOS_READERS: clients reading track details through the gateway
	reuse       float64 // CATALOG_CHAOS_REUSE: share of releases that are compilations or reissues sharing ISRCs
}

// faultsPerRound is the number of kinds of fault: each round injects each
// once.
const faultsPerRound = 5

// giveUp bounds how long a delivery is retried after failed attempts.
const giveUp = 3 * time.Minute

func loadConfig(t *testing.T) config {
	t.Helper()
	num := func(k string, def int) int {
		v := os.Getenv(k)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", k, v)
		}
		return n
	}
	c := config{deliveries: num("CATALOG_CHAOS_DELIVERIES", 300), rounds: num("CATALOG_CHAOS_ROUNDS", 1),
		seed: uint64(num("CATALOG_CHAOS_SEED", 1)), concurrency: num("CATALOG_CHAOS_CONCURRENCY", 8),
		readers: num("CATALOG_CHAOS_READERS", 2)}
	if c.deliveries < 50 {
		t.Fatalf("CATALOG_CHAOS_DELIVERIES=%d: want at least 50", c.deliveries)
	}
	float := func(k string, def, lo, hi float64) float64 {
		v := os.Getenv(k)
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < lo || f > hi {
			t.Fatalf("%s=%q: want a number from %g to %g", k, v, lo, hi)
		}
		return f
	}
	c.reuse = float("CATALOG_CHAOS_REUSE", gen.DefaultReuse, 0, 1)
	// By default the burst is spread over about 6 s per fault, so every
	// fault lands while deliveries are in flight.
	c.rate = float("CATALOG_CHAOS_RATE", float64(c.deliveries)/float64(6*faultsPerRound*c.rounds), 0.1, 100000)
	return c
}

// TestChaos runs catalog's roles on services of its own, delivers a burst
// of generated deliveries while it injects faults for real, and then
// checks that the read side says exactly what the log says (`catalog
// verify`) and that every accepted delivery is in the log exactly once.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own Kafka, PostgreSQL and Redis and injects faults; skipped with -short")
	}
	h := newHarness(t, loadConfig(t))
	h.startServices()
	h.startRoles()
	h.burst()
	h.settle()
	h.checkLedger()
	h.verify()
	h.report()
}

// delivery is one delivery of the burst and what became of it.
type delivery struct {
	n      int    // position in sending order
	kind   string // new, update, deals, takedown, purge, retitle or resend
	key    string // the release's UPC
	msg    string // sender/message id: the causation of its events
	format string // ern or json
	shares bool   // a compilation or reissue carrying earlier releases' ISRCs
	body   []byte

	attempts  int
	failedTry bool // an attempt got no answer or a 5xx: its events may be in Kafka without a 2xx naming them
	lastErr   string
	status    int           // HTTP status of the answer that ended it (0: gave up)
	result    ingest.Result // ingest's answer, in its own wire type
	rejection string
}

// faultRecord is one injected fault.
type faultRecord struct {
	name, detail  string
	at, recovered time.Duration // since the burst started
	err           error
}

// role is a catalog role process, restarted by the harness when it exits
// without being told to (as a supervisor would), which is counted.
type role struct {
	name    string
	mu      sync.Mutex
	p       *testenv.Process
	starts  int
	planned bool // the next exit is the harness's doing
}

type harness struct {
	t     *testing.T
	cfg   config
	work  string
	bin   string
	env   []string
	addr  map[string]string
	key   string
	pg    *postgres
	redis *redisServer
	kafka *testenv.Kafka

	plan      []*delivery
	releases  int
	answered  atomic.Int64
	stopping  atomic.Bool
	mu        sync.Mutex
	roles     map[string]*role
	unplanned []string
	faults    []faultRecord
	trackIDs  []int64
	reads     map[string]int

	burstStart time.Time
	timings    []timing
	settleInfo string
	ledger     ledgerResult
	verifyOut  verifyResult
}

type timing struct {
	phase string
	d     time.Duration
}

func newHarness(t *testing.T, cfg config) *harness {
	h := &harness{t: t, cfg: cfg, addr: map[string]string{}, roles: map[string]*role{}, reads: map[string]int{}}
	dir, err := os.MkdirTemp("", "catalog-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as another user when the harness is root: it must
	// reach its folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.work = dir
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("data and logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// logf prints a progress line: on stderr in verbose runs (make chaos), in
// the test log otherwise.
func (h *harness) logf(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "[chaos %s] %s\n", time.Now().Format("15:04:05.000"), line)
		return
	}
	h.t.Log(line)
}

func (h *harness) phase(name string, fn func()) {
	start := time.Now()
	fn()
	h.timings = append(h.timings, timing{name, time.Since(start)})
}

func (h *harness) startServices() {
	h.phase("build catalog and start Kafka, PostgreSQL and Redis", func() {
		h.bin = filepath.Join(h.work, "catalog")
		build := exec.Command("go", "build", "-o", h.bin, "../../cmd/catalog")
		if out, err := build.CombinedOutput(); err != nil {
			h.t.Fatalf("go build: %v\n%s", err, out)
		}
		// The broker takes longest to start: PostgreSQL and Redis start meanwhile.
		h.kafka = testenv.NewKafka(h.t, 1, filepath.Join(h.work, "kafka"))
		started := make(chan error, 1)
		go func() { started <- h.kafka.StartAll() }()
		h.pg = startPostgres(h.t, h.work)
		h.redis = startRedis(h.t, h.work)
		if err := <-started; err != nil {
			h.t.Fatal(err)
		}
		h.logf("services: kafka %s, postgres 127.0.0.1:%d, redis %s; data and logs in %s", h.kafka.Brokers()[0], h.pg.port, h.redis.addr, h.work)
	})
}

func (h *harness) startRoles() {
	h.phase("start the roles", func() {
		for _, r := range []string{"ingest", "api", "gateway", "projector", "gateway-ops"} {
			h.addr[r] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(h.t))
		}
		for _, kv := range os.Environ() {
			// Nothing of the caller's catalog settings reaches the roles: they
			// must use this harness's services and no other.
			if !strings.HasPrefix(kv, "CATALOG_") {
				h.env = append(h.env, kv)
			}
		}
		h.env = append(h.env,
			"CATALOG_PG_URL="+h.pg.url("catalog"),
			"CATALOG_KAFKA_BROKERS="+h.kafka.Brokers()[0],
			"CATALOG_REDIS_ADDR="+h.redis.addr,
			"CATALOG_INGEST_ADDR="+h.addr["ingest"],
			"CATALOG_API_ADDR="+h.addr["api"],
			"CATALOG_GATEWAY_ADDR="+h.addr["gateway"],
			"CATALOG_PROJECTOR_ADDR="+h.addr["projector"],
			"CATALOG_GATEWAY_METRICS_ADDR="+h.addr["gateway-ops"],
			"CATALOG_ADMIN_TOKEN=chaos-admin",
			"CATALOG_CLIENTS_RELOAD_SECONDS=1",
			"CATALOG_LOG_LEVEL=info",
		)
		h.t.Cleanup(h.stopRoles)
		h.launch("ingest")
		h.waitHealthy("ingest")
		h.key = "chaos-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		h.catalog("clients", "add", "chaos", "--key", h.key)
		h.catalog("clients", "set-limit", h.key, "1000000000")
		for _, r := range []string{"project", "api", "gateway"} {
			h.launch(r)
		}
		for _, r := range []string{"projector", "api", "gateway"} {
			h.waitHealthy(r)
		}
	})
}

// launch starts role name (a catalog subcommand) and watches it.
func (h *harness) launch(name string) {
	h.mu.Lock()
	r := h.roles[name]
	if r == nil {
		r = &role{name: name}
		h.roles[name] = r
	}
	h.mu.Unlock()
	p, err := testenv.StartProcess(name, []string{h.bin, name}, h.env, h.work, filepath.Join(h.work, "logs", name+".log"), nil)
	if err != nil {
		h.t.Error(err)
		return
	}
	r.mu.Lock()
	r.p, r.starts = p, r.starts+1
	r.mu.Unlock()
	go func() {
		<-p.Done()
		r.mu.Lock()
		planned := r.planned
		r.planned = false
		r.mu.Unlock()
		if planned || h.stopping.Load() {
			return
		}
		msg := fmt.Sprintf("%s (pid %d) exited on its own: %v; last lines of its log:\n%s", name, p.Pid(), p.Err(),
			tail(filepath.Join(h.work, "logs", name+".log"), 8))
		h.mu.Lock()
		h.unplanned = append(h.unplanned, msg)
		h.mu.Unlock()
		h.logf("UNPLANNED EXIT: %s", msg)
		time.Sleep(time.Second)
		if !h.stopping.Load() {
			h.launch(name)
		}
	}()
}

// kill SIGKILLs role name and waits for it to be gone.
func (h *harness) kill(name string) int {
	h.mu.Lock()
	r := h.roles[name]
	h.mu.Unlock()
	r.mu.Lock()
	r.planned = true
	p := r.p
	r.mu.Unlock()
	_ = p.Signal(syscall.SIGKILL)
	<-p.Done()
	return p.Pid()
}

func (h *harness) stopRoles() {
	h.stopping.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range h.roles {
		r.mu.Lock()
		p := r.p
		r.mu.Unlock()
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop(syscall.SIGTERM, 15*time.Second) }()
		}
	}
	wg.Wait()
}

// healthy waits until the role at h.addr[addrName] answers /healthz.
func (h *harness) healthy(addrName string) error {
	url := "http://" + h.addr[addrName] + "/healthz"
	return testenv.WaitFor(2*time.Minute, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

func (h *harness) waitHealthy(addrName string) {
	h.t.Helper()
	if err := h.healthy(addrName); err != nil {
		h.t.Fatalf("%s: %v", addrName, err)
	}
}

// catalog runs a catalog command to completion and returns its stdout.
func (h *harness) catalog(args ...string) string {
	h.t.Helper()
	out, code, stderr := h.catalogCode(args...)
	if code != 0 {
		h.t.Fatalf("catalog %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return out
}

func (h *harness) catalogCode(args ...string) (stdout string, code int, stderr string) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code, e = -1, *bytes.NewBufferString(err.Error())
	}
	return o.String(), code, e.String()
}

// buildPlan turns a generated catalogue into the burst: every first
// delivery (compilations and reissues sharing ISRCs among them), the later
// deliveries (updates, deal changes, takedowns, purges), and more: new
// titles for some releases and verbatim resends, which must change
// nothing. A release's deliveries are sent in this order, one at a time;
// different releases' concurrently. Half the releases are sent as DDEX ERN
// 4.3, half in the JSON form.
func (h *harness) buildPlan() {
	n := max(20, h.cfg.deliveries*3/4)
	ds := gen.Catalogue(h.cfg.seed, n, h.cfg.reuse)
	h.releases = n
	seen := map[string]bool{}
	purged := map[string]bool{}
	var firsts []gen.Delivery
	var later []*delivery
	for _, d := range ds {
		kind := strings.SplitN(d.Name, "-", 3)[1]
		if kind == "new" {
			firsts = append(firsts, d)
		}
		if d.Purge() {
			purged[d.Release.Purge.UPC] = true
		}
		dv := h.delivery(kind, d.Release)
		if kind == "new" {
			for _, tr := range d.Release.Tracks {
				if seen[tr.ISRC] {
					dv.shares = true
				}
				seen[tr.ISRC] = true
			}
			h.plan = append(h.plan, dv)
		} else {
			later = append(later, dv)
		}
	}
	rng := rand.New(rand.NewPCG(h.cfg.seed, 0xc4a05))
	for k := 0; len(h.plan)+len(later) < h.cfg.deliveries; k++ {
		j := firsts[rng.IntN(len(firsts))].Release
		if purged[j.UPC] {
			continue
		}
		if k%2 == 0 {
			later = append(later, h.delivery("resend", j))
			continue
		}
		created, _ := time.Parse(time.RFC3339, j.MessageCreated)
		j.MessageID = fmt.Sprintf("%s-retitle-%d", j.MessageID, k)
		j.MessageCreated = created.AddDate(0, 0, 70).Add(time.Duration(k) * time.Minute).Format(time.RFC3339)
		j.Title = fmt.Sprintf("%s (Chaos Edit %d)", j.Title, k)
		later = append(later, h.delivery("retitle", j))
	}
	rng.Shuffle(len(later), func(a, b int) { later[a], later[b] = later[b], later[a] })
	h.plan = append(h.plan, later...)
	for i, d := range h.plan {
		d.n = i
	}
}

func (h *harness) delivery(kind string, j ingest.JSONRelease) *delivery {
	key := j.UPC
	if j.Purge != nil {
		key = j.Purge.UPC
	}
	d := &delivery{kind: kind, key: key, msg: j.Sender + "/" + j.MessageID, format: "ern"}
	f := fnv.New32a()
	f.Write([]byte(key))
	if f.Sum32()%2 == 1 {
		d.format = "json"
	}
	var err error
	if d.format == "json" {
		d.body, err = ingest.EncodeJSON(j)
	} else {
		var buf bytes.Buffer
		err = gen.ERN43(&buf, gen.Delivery{Name: j.MessageID, Release: j})
		d.body = buf.Bytes()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// burst sends the plan, paced at the configured rate, while readers ask
// the gateway for delivered tracks and the faults are injected one after
// another as the deliveries get answered.
func (h *harness) burst() {
	h.buildPlan()
	h.phase("burst under faults", func() {
		ctx, stopReads := context.WithCancel(context.Background())
		var readers sync.WaitGroup
		for i := 0; i < h.cfg.readers; i++ {
			readers.Add(1)
			go func() { defer readers.Done(); h.read(ctx, uint64(i)) }()
		}
		h.burstStart = time.Now()
		interval := time.Duration(float64(time.Second) / h.cfg.rate)
		queues := make([][]*delivery, h.cfg.concurrency)
		for _, d := range h.plan {
			f := fnv.New32a()
			f.Write([]byte(d.key))
			w := int(f.Sum32() % uint32(h.cfg.concurrency))
			queues[w] = append(queues[w], d)
		}
		h.logf("burst: %d deliveries of %d releases at %.0f/s by %d senders, %d readers, %d faults",
			len(h.plan), h.releases, h.cfg.rate, h.cfg.concurrency, h.cfg.readers, faultsPerRound*h.cfg.rounds)
		var senders sync.WaitGroup
		for _, q := range queues {
			senders.Add(1)
			go func() {
				defer senders.Done()
				for _, d := range q {
					time.Sleep(time.Until(h.burstStart.Add(time.Duration(d.n) * interval)))
					h.send(d)
					h.answered.Add(1)
				}
			}()
		}
		faultsDone := make(chan struct{})
		go func() { defer close(faultsDone); h.injectFaults() }()
		senders.Wait()
		<-faultsDone
		stopReads()
		readers.Wait()
	})
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// send posts d, retrying (as a label's delivery system does) while the
// answer is a 5xx or none at all, for up to giveUp.
func (h *harness) send(d *delivery) {
	ct := map[string]string{"ern": "application/xml", "json": "application/json"}[d.format]
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(giveUp)
	for {
		d.attempts++
		resp, err := httpClient.Post("http://"+h.addr["ingest"]+"/v1/deliveries", ct, bytes.NewReader(d.body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted:
				d.status = resp.StatusCode
				if err := json.Unmarshal(b, &d.result); err != nil {
					d.rejection = fmt.Sprintf("unreadable answer %s: %v", b, err)
				}
				h.mu.Lock()
				for _, id := range d.result.TrackIDs {
					h.trackIDs = append(h.trackIDs, id)
				}
				h.mu.Unlock()
				return
			case resp.StatusCode < 500:
				d.status, d.rejection = resp.StatusCode, string(b)
				return
			}
			err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		d.failedTry, d.lastErr = true, err.Error()
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(backoff + time.Duration(rand.Int64N(int64(backoff))))
		backoff = min(2*backoff, 2*time.Second)
	}
}

// read asks the gateway for tracks ingest has named, about 20 times a
// second, so the API fills Redis with hot entries the faults can make
// stale.
func (h *harness) read(ctx context.Context, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	client := &http.Client{Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		h.mu.Lock()
		var id int64
		if len(h.trackIDs) > 0 {
			id = h.trackIDs[rng.IntN(len(h.trackIDs))]
		}
		h.mu.Unlock()
		if id == 0 {
			continue
		}
		url := fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB&oauth_consumer_key=%s", h.addr["gateway"], id, h.key)
		outcome := "no answer"
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			outcome = strconv.Itoa(resp.StatusCode)
		}
		h.mu.Lock()
		h.reads[outcome]++
		h.mu.Unlock()
	}
}

// injectFaults injects every fault rounds times. Fault i of F waits until
// (i+1)/(F+1) of the deliveries have been answered (and the fault before it
// has been recovered from), so each one lands in the middle of traffic.
func (h *harness) injectFaults() {
	total := faultsPerRound * h.cfg.rounds
	for i := 0; i < total; i++ {
		threshold := int64((i + 1) * len(h.plan) / (total + 1))
		for h.answered.Load() < threshold {
			time.Sleep(50 * time.Millisecond)
		}
		round := i / faultsPerRound
		rec := faultRecord{at: time.Since(h.burstStart)}
		switch i % faultsPerRound {
		case 0:
			rec.name = "SIGKILL the projector"
			pid := h.kill("project")
			h.launch("project")
			rec.err = h.healthy("projector")
			rec.detail = fmt.Sprintf("pid %d killed, restarted", pid)
		case 1:
			rec.name = "CLIENT PAUSE 1500 WRITE"
			rec.err = h.redis.pauseWrites(1500)
			time.Sleep(1500 * time.Millisecond)
			rec.detail = "Redis writes held for 1.5 s"
		case 2:
			if round%2 == 0 {
				rec.name = "restart Redis (SIGTERM: append-only file written)"
				rec.err = h.redis.restart()
			} else {
				rec.name = "restart Redis (SIGKILL: up to 1 s of writes lost)"
				h.redis.p.Stop(syscall.SIGKILL, 10*time.Second)
				rec.err = h.redis.start()
			}
			rec.detail = "same port, same append-only file"
		case 3:
			rec.name = "SIGKILL the Kafka broker"
			pid := h.kafka.Pid(0)
			h.kafka.Kill(0)
			time.Sleep(time.Second)
			rec.err = h.kafka.Start(0)
			rec.detail = fmt.Sprintf("pid %d killed, restarted on the same data", pid)
		case 4:
			mode := []string{"fast", "immediate"}[round%2]
			rec.name = "restart PostgreSQL (pg_ctl restart -m " + mode + ")"
			rec.err = h.pg.restart(mode)
			rec.detail = map[string]string{"fast": "clients disconnected, checkpoint", "immediate": "no checkpoint: crash recovery"}[mode]
		}
		rec.recovered = time.Since(h.burstStart)
		h.mu.Lock()
		h.faults = append(h.faults, rec)
		h.mu.Unlock()
		h.logf("fault %d/%d at +%.1fs: %s (%s), recovered at +%.1fs; %d of %d deliveries answered",
			i+1, total, rec.at.Seconds(), rec.name, rec.detail, rec.recovered.Seconds(), h.answered.Load(), len(h.plan))
		if rec.err != nil {
			h.t.Errorf("fault %s: %v", rec.name, rec.err)
		}
	}
}

// projectionStatus is one projection's entry in what `catalog projections
// status --json` prints (an array, one per registered projection).
type projectionStatus struct {
	Projection  string `json:"projection"`
	Generations []struct {
		Generation int    `json:"generation"`
		State      string `json:"state"`
		Lag        int64  `json:"lag"`
		Parked     int    `json:"parked"`
		Partitions []struct {
			End int64 `json:"endOffset"`
		} `json:"partitions"`
	} `json:"generations"`
	Rebuild json.RawMessage `json:"rebuild"`
}

// settle waits until the outbox is empty, the log has stopped growing and
// the projector has applied all of it (lag 0).
func (h *harness) settle() {
	h.phase("settle (outbox empty, projector lag 0)", func() {
		var last string
		var lastEnd int64 = -1
		err := testenv.WaitFor(5*time.Minute, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, h.pg.url("catalog"))
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			var pending int
			if err := c.QueryRow(ctx, "select count(*) from outbox").Scan(&pending); err != nil {
				return err
			}
			if pending > 0 {
				return fmt.Errorf("%d events still in the outbox", pending)
			}
			out, code, stderr := h.catalogCode("projections", "status", "--json")
			if code != 0 {
				return fmt.Errorf("projections status: exit %d: %s", code, stderr)
			}
			var all []projectionStatus
			if err := json.Unmarshal([]byte(out), &all); err != nil {
				return fmt.Errorf("projections status: %w", err)
			}
			if len(all) == 0 {
				return errors.New("projections status lists no projection")
			}
			var end, lag int64
			var parked int
			settled := true
			for _, st := range all {
				live := 0
				for _, g := range st.Generations {
					if g.State == "live" {
						live++
					}
					lag += g.Lag
					parked += g.Parked
					if st.Projection == all[0].Projection {
						for _, p := range g.Partitions {
							end += p.End
						}
					}
				}
				if live != 1 || len(st.Rebuild) > 0 && string(st.Rebuild) != "null" {
					settled = false
				}
			}
			last = fmt.Sprintf("%d events in the log, lag %d, %d parked, %d projection(s)", end, lag, parked, len(all))
			if !settled || lag != 0 {
				lastEnd = -1
				return errors.New(last)
			}
			if end != lastEnd {
				lastEnd = end
				return fmt.Errorf("%s; the log may still be growing", last)
			}
			h.settleInfo = last
			if parked > 0 {
				h.t.Errorf("%d events are parked: a valid delivery's event could not be applied (catalog projections parked)", parked)
			}
			return nil
		})
		if err != nil {
			h.t.Errorf("the system did not settle: %v (last: %s)", err, last)
		}
		h.logf("settled: %s", h.settleInfo)
	})
}

// logEvent is one line of `catalog events tail`.
type logEvent struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Sequence  int64  `json:"sequence"`
	Causation string `json:"causation"`
}

type ledgerResult struct {
	events, releases, confirmed, lateConfirmed int
	problems                                   []string
}

// checkLedger reads the whole log with `catalog events tail` and checks it
// against the answers ingest gave: every event a 2xx answer named is in
// Kafka exactly once, under its release and sequence number; no event id
// appears twice; each release's sequence numbers run 1, 2, 3... without a
// gap; and every other event belongs to a delivery that had an attempt go
// unanswered (its events reached Kafka, the answer did not reach us).
func (h *harness) checkLedger() {
	h.phase("ledger (every accepted event in Kafka exactly once)", func() {
		out, code, stderr := h.catalogCode("events", "tail", "--from-beginning", "--until-end")
		if code != 0 {
			h.t.Errorf("catalog events tail: exit %d: %s", code, stderr)
			return
		}
		l := &h.ledger
		byID := map[string][]logEvent{}
		seqs := map[string][]int64{}
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e logEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				l.problems = append(l.problems, fmt.Sprintf("unreadable line %q: %v", sc.Text(), err))
				continue
			}
			l.events++
			byID[e.ID] = append(byID[e.ID], e)
			seqs[e.Subject] = append(seqs[e.Subject], e.Sequence)
		}
		l.releases = len(seqs)
		for id, es := range byID {
			if len(es) > 1 {
				l.problems = append(l.problems, fmt.Sprintf("event %s is in Kafka %d times: %+v", id, len(es), es))
			}
		}
		for key, s := range seqs {
			slices.Sort(s)
			for i, v := range s {
				if v != int64(i+1) {
					l.problems = append(l.problems, fmt.Sprintf("release %s: sequence numbers %v, want 1 to %d", key, s, len(s)))
					break
				}
			}
		}
		named := map[string]bool{}
		unanswered := map[string]bool{}
		for _, d := range h.plan {
			if d.failedTry {
				unanswered[d.msg] = true
			}
			if d.status != http.StatusOK && d.status != http.StatusAccepted {
				continue
			}
			if n := int64(len(seqs[d.result.Release])); n < d.result.Version {
				l.problems = append(l.problems, fmt.Sprintf("%s: ingest answered version %d of %s, Kafka has %d events of it", d.msg, d.result.Version, d.result.Release, n))
			}
			for _, ev := range d.result.Events {
				named[ev.ID] = true
				l.confirmed++
				es := byID[ev.ID]
				switch {
				case len(es) == 0:
					l.problems = append(l.problems, fmt.Sprintf("%s: event %s (%s, sequence %d) was accepted (%d) and is not in Kafka", d.msg, ev.ID, ev.Type, ev.Sequence, d.status))
				case es[0].Subject != d.result.Release || es[0].Sequence != ev.Sequence:
					l.problems = append(l.problems, fmt.Sprintf("%s: event %s is in Kafka as %s #%d, ingest answered %s #%d", d.msg, ev.ID, es[0].Subject, es[0].Sequence, d.result.Release, ev.Sequence))
				}
			}
		}
		for id, es := range byID {
			if named[id] {
				continue
			}
			if unanswered[es[0].Causation] {
				l.lateConfirmed++
				continue
			}
			l.problems = append(l.problems, fmt.Sprintf("event %s (%s #%d, caused by %q) is in Kafka, but no answer named it and its delivery never went unanswered", id, es[0].Subject, es[0].Sequence, es[0].Causation))
		}
		sort.Strings(l.problems)
		for _, p := range l.problems {
			h.t.Errorf("ledger: %s", p)
		}
		h.logf("ledger: %d events of %d releases in Kafka; %d named by 2xx answers, %d of deliveries whose answer was lost to a fault; %d problems",
			l.events, l.releases, l.confirmed, l.lateConfirmed, len(l.problems))
	})
}

type verifyResult struct {
	code   int
	stdout string
	stderr string
}

// verify runs `catalog verify`: the independent oracle folds the whole
// log and compares the read model, the Redis entries and the API through
// the gateway with it. Exit 0: no divergence; 1: divergences (one line
// each); 2: it could not check.
func (h *harness) verify() {
	h.phase("catalog verify", func() {
		out, code, stderr := h.catalogCode("verify", "--gateway", "http://"+h.addr["gateway"], "--key", h.key)
		h.verifyOut = verifyResult{code: code, stdout: out, stderr: stderr}
		if code != 0 {
			h.t.Errorf("catalog verify: exit %d\n%s\n%s", code, out, stderr)
		}
	})
}

// report prints what the run did.
func (h *harness) report() {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	shares := 0
	kinds := map[string]int{}
	statuses := map[string]int{}
	var rejected, gaveUp []string
	retried, maxAttempts := 0, 0
	for _, d := range h.plan {
		kinds[d.kind]++
		if d.shares {
			shares++
		}
		if d.failedTry {
			retried++
		}
		maxAttempts = max(maxAttempts, d.attempts)
		switch {
		case d.status == 0:
			gaveUp = append(gaveUp, fmt.Sprintf("%s after %d attempts: %s", d.msg, d.attempts, d.lastErr))
		case d.rejection != "":
			rejected = append(rejected, fmt.Sprintf("%s (%s): %d %s", d.msg, d.kind, d.status, d.rejection))
		default:
			statuses[d.result.Status]++
		}
	}
	p("catalog chaos run: seed %d, %d releases (%.0f%% compilations and reissues), %d deliveries offered at %.0f/s by %d senders, %d fault rounds",
		h.cfg.seed, h.releases, 100*h.cfg.reuse, len(h.plan), h.cfg.rate, h.cfg.concurrency, h.cfg.rounds)
	p("services (own instances): kafka %s, postgres 127.0.0.1:%d, redis %s", h.kafka.Brokers()[0], h.pg.port, h.redis.addr)
	p("")
	p("faults injected (times from the start of the burst):")
	for _, f := range h.faults {
		status := "ok"
		if f.err != nil {
			status = "FAILED: " + f.err.Error()
		}
		p("  +%6.1fs  %-52s %s; recovered at +%.1fs (%s)", f.at.Seconds(), f.name, f.detail, f.recovered.Seconds(), status)
	}
	p("")
	p("deliveries: %d offered, %d accepted (202), %d unchanged, %d stale (200), %d rejected, %d gave up",
		len(h.plan), statuses["accepted"], statuses["unchanged"], statuses["stale"], len(rejected), len(gaveUp))
	p("  by kind: new %d (of which %d compilations and reissues sharing ISRCs), update %d, deals %d, takedown %d, purge %d, retitle %d, resend %d",
		kinds["new"], shares, kinds["update"], kinds["deals"], kinds["takedown"], kinds["purge"], kinds["retitle"], kinds["resend"])
	p("  %d deliveries had an attempt fail under a fault and were retried (at most %d attempts)", retried, maxAttempts)
	for _, r := range rejected {
		p("  REJECTED: %s", r)
	}
	for _, g := range gaveUp {
		p("  GAVE UP: %s", g)
	}
	var reads []string
	total := 0
	for k, v := range h.reads {
		reads = append(reads, fmt.Sprintf("%s: %d", k, v))
		total += v
	}
	sort.Strings(reads)
	p("reads through the gateway during the burst: %d (%s)", total, strings.Join(reads, ", "))
	restarts := []string{}
	for _, name := range []string{"ingest", "project", "api", "gateway"} {
		if r := h.roles[name]; r != nil {
			restarts = append(restarts, fmt.Sprintf("%s %d", name, r.starts))
		}
	}
	p("role processes started: %s; exits the harness did not cause: %d", strings.Join(restarts, ", "), len(h.unplanned))
	for _, u := range h.unplanned {
		p("  UNPLANNED: %s", u)
	}
	p("")
	p("settled: %s", h.settleInfo)
	l := h.ledger
	p("ledger: %d events of %d releases in Kafka; %d events named by 2xx answers, each exactly once; %d more of deliveries whose answer a fault cut off; %d problems",
		l.events, l.releases, l.confirmed, l.lateConfirmed, len(l.problems))
	for i, pr := range l.problems {
		if i == 20 {
			p("  ... %d more", len(l.problems)-20)
			break
		}
		p("  %s", pr)
	}
	p("catalog verify: exit %d", h.verifyOut.code)
	for _, line := range strings.Split(strings.TrimSpace(h.verifyOut.stdout), "\n") {
		p("  %s", line)
	}
	p("")
	p("timings:")
	var all time.Duration
	for _, tm := range h.timings {
		p("  %-56s %7.1f s", tm.phase, tm.d.Seconds())
		all += tm.d
	}
	p("  %-56s %7.1f s", "total", all.Seconds())
	if testing.Verbose() {
		fmt.Print("\n" + b.String())
	} else {
		h.t.Log("\n" + b.String())
	}
	if len(rejected) > 0 {
		h.t.Errorf("%d valid deliveries were rejected", len(rejected))
	}
	if len(gaveUp) > 0 {
		h.t.Errorf("%d deliveries were never answered within %s of retries", len(gaveUp), giveUp)
	}
	if len(h.unplanned) > 0 {
		h.t.Errorf("%d role processes exited on their own during the faults", len(h.unplanned))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
