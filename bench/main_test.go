//go:build bench

package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// catalogBin is the catalog binary, built once for the run: the harness runs
// its roles and commands as processes, as an operator would.
var catalogBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catalog-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	catalogBin = filepath.Join(dir, "catalog")
	if bin := os.Getenv("CATALOG_BENCH_BIN"); bin != "" {
		// Another build of catalog (an A/B comparison of two commits on
		// the same harness).
		catalogBin = bin
	} else if out, err := exec.Command("go", "build", "-o", catalogBin, "../cmd/catalog").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one run's environment: its own database, topics, groups and ports.
type stack struct {
	env       []string
	pgURL     string
	brokers   []string
	prefix    string
	ingest    string
	api       string
	gateway   string
	projector string
}

func newStack(t testing.TB) stack {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, brokers, prefix)
	s := stack{pgURL: testenv.PostgresURL(t), brokers: brokers, prefix: prefix,
		ingest: testenv.FreeAddr(t), api: testenv.FreeAddr(t), gateway: testenv.FreeAddr(t), projector: testenv.FreeAddr(t)}
	s.env = append(os.Environ(),
		"CATALOG_PG_URL="+s.pgURL,
		"CATALOG_KAFKA_BROKERS="+strings.Join(brokers, ","),
		"CATALOG_TOPIC_PREFIX="+prefix,
		"CATALOG_GROUP_PREFIX="+prefix,
		"CATALOG_TOPIC_PARTITIONS=3",
		"CATALOG_INGEST_ADDR="+s.ingest,
		"CATALOG_API_ADDR="+s.api,
		"CATALOG_GATEWAY_ADDR="+s.gateway,
		"CATALOG_PROJECTOR_ADDR="+s.projector,
		"CATALOG_GATEWAY_METRICS_ADDR="+testenv.FreeAddr(t),
		"CATALOG_QUOTA_PREFIX="+prefix+"quota:",
		"CATALOG_REDIS_ADDR="+testenv.RedisAddr(t),
		"CATALOG_REDIS_PREFIX="+prefix,
		"CATALOG_ADMIN_TOKEN=bench-admin-token",
		"CATALOG_CLIENTS_RELOAD_SECONDS=1",
		"CATALOG_LOG_LEVEL=debug",
	)
	return s
}

// proc is a running catalog process.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs `catalog args...`; its output is logged if the run fails.
func (s stack) start(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(catalogBin, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = s.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- catalog %s (pid %d) output ---\n%s", strings.Join(args, " "), p.cmd.Process.Pid, p.out)
		}
	})
	return p
}

// run runs `catalog args...` to completion and returns its stdout.
func (s stack) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(catalogBin, args...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("catalog %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func waitHTTP(t testing.TB, url string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
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

// dandyRelease is one small release, delivered as JSON.
const dandyRelease = `{
  "messageId": "bench-1",
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

type ingestResult struct {
	Status   string           `json:"status"`
	Version  int64            `json:"version"`
	TrackIDs map[string]int64 `json:"trackIds"`
}

// deliver posts one JSON delivery to ingest.
func deliver(t testing.TB, ingestAddr string, body string) ingestResult {
	t.Helper()
	resp, err := http.Post("http://"+ingestAddr+"/v1/releases", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("deliver: %s %s", resp.Status, b)
	}
	var r ingestResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// loadCatalogue writes n generated releases, and an update of every
// third one, as JSON files and ingests them with `catalog ingest`.
func loadCatalogue(t testing.TB, s stack, seed uint64, n int) {
	t.Helper()
	dir := t.TempDir()
	for i, j := range gen.Releases(seed, n) {
		j.MessageCreated = "2026-01-01T00:00:00Z"
		b, _ := ingest.EncodeJSON(j)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("a-%05d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			j.MessageID += "-update"
			j.MessageCreated = "2026-02-01T00:00:00Z"
			j.Title += " (Deluxe)"
			if len(j.Availability) > 1 {
				j.Availability = j.Availability[:len(j.Availability)-1]
			}
			b, _ := ingest.EncodeJSON(j)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("b-%05d.json", i)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.run(t, "ingest", "--quiet", "--concurrency", "8", dir)
}

// projStatus is the part of `catalog projections status --json` the
// harness reads.
type projStatus struct {
	Generations []struct {
		Generation int    `json:"generation"`
		State      string `json:"state"`
		Lag        int64  `json:"lag"`
	} `json:"generations"`
}

func (s stack) status(t testing.TB) projStatus {
	t.Helper()
	var st projStatus
	if err := json.Unmarshal([]byte(s.run(t, "projections", "status", "track-details", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// caughtUp reports whether the live generation has applied the whole log.
func (st projStatus) caughtUp() error {
	for _, g := range st.Generations {
		if g.State == "live" && g.Lag == 0 {
			return nil
		}
	}
	return fmt.Errorf("not caught up: %+v", st)
}

// waitCaughtUp waits until the live generation has applied the whole log.
func waitCaughtUp(t testing.TB, s stack) {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, func() error { return s.status(t).caughtUp() })
}
