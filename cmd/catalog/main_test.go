package main_test

import (
	"bytes"
	"context"
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

	"github.com/catalog-org/catalog/testenv"
)

// catalogBin is the catalog binary built once for these tests: they run the
// roles as real processes, so they can be killed for real.
var catalogBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "catalog-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	catalogBin = filepath.Join(dir, "catalog")
	if out, err := exec.Command("go", "build", "-o", catalogBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's environment: its own database, topics, group and ports.
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
		"CATALOG_ADMIN_TOKEN=test-admin-token",
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

// start runs `catalog args...`; its output is logged if the test fails.
func (s stack) start(t testing.TB, args ...string) *proc {
	t.Helper()
	return s.startWith(t, nil, args...)
}

// startWith is start with extra environment variables.
func (s stack) startWith(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(catalogBin, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(append([]string(nil), s.env...), env...)
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

// kill sends SIGKILL: no shutdown code runs.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil // for the cleanup
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

type ingestResult struct {
	Status   string           `json:"status"`
	Version  int64            `json:"version"`
	TrackIDs map[string]int64 `json:"trackIds"`
}

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

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// registeredProjections lists the projections the binary registers
// (`catalog projections list`): the projection contract tests run for each.
func registeredProjections(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command(catalogBin, "projections", "list").Output()
	if err != nil {
		t.Fatalf("catalog projections list: %v", err)
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		t.Fatal("no registered projections")
	}
	return names
}
