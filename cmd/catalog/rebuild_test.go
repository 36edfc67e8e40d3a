package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

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

type projStatus struct {
	Generations []struct {
		Generation int    `json:"generation"`
		State      string `json:"state"`
		Lag        int64  `json:"lag"`
		Parked     int    `json:"parked"`
	} `json:"generations"`
}

// waitCaughtUp waits until the live generation has applied the whole log.
func waitCaughtUp(t testing.TB, s stack, name string) {
	t.Helper()
	testenv.Eventually(t, 3*time.Minute, func() error {
		var st projStatus
		if err := json.Unmarshal([]byte(s.run(t, "projections", "status", name, "--json")), &st); err != nil {
			return err
		}
		for _, g := range st.Generations {
			if g.State == "live" && g.Lag == 0 {
				return nil
			}
		}
		return fmt.Errorf("not caught up: %+v", st)
	})
}

func liveHash(t testing.TB, s stack, name string) string {
	t.Helper()
	return strings.TrimSpace(s.run(t, "projections", "hash", name))
}

// TestRebuildIsDeterministic: for every registered projection, a
// zero-downtime rebuild from offset zero gives a read model with the same
// content hash as the live one, while the API keeps answering without an
// error; an in-place rebuild too.
func TestRebuildIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range registeredProjections(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testRebuildIsDeterministic(t, name)
		})
	}
}

func testRebuildIsDeterministic(t *testing.T, name string) {
	s := newStack(t)
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.projector+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	loadCatalogue(t, s, 11, 120)
	waitCaughtUp(t, s, name)
	before := liveHash(t, s, name)

	// Prometheus metrics: events applied, batches, lag per partition, parked.
	_, _, metrics := get(t, "http://"+s.projector+"/metrics")
	for _, want := range []string{"catalog_projection_events_applied_total{generation=\"1\",projection=\"" + name + "\"}",
		"catalog_projection_batch_seconds_bucket", "catalog_projection_lag_events{generation=\"1\"", "catalog_projection_parked_events{generation=\"1\""} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The admin endpoint needs admin rights.
	resp, err := http.Get("http://" + s.projector + "/admin/rebuilds/" + name)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin endpoint without a token: %s", resp.Status)
	}

	// Steady API traffic during the rebuild: every answer must be a 200.
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := http.Get(fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, 1+i%300))
				if err != nil || r.StatusCode != http.StatusOK {
					failed.Add(1)
				} else {
					served.Add(1)
				}
				if r != nil {
					r.Body.Close()
				}
			}
		}()
	}
	// The admin API starts the rebuild (with the admin token) and reports
	// its progress as JSON; the CLI attaches to it and swaps it in.
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.projector+"/admin/rebuilds/"+name, nil)
	req.Header.Set("Authorization", "Bearer test-admin-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var progress struct {
		Generation struct {
			Generation int    `json:"generation"`
			Mode       string `json:"mode"`
		} `json:"generation"`
		Total int64 `json:"total"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&progress)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || progress.Generation.Generation != 2 || progress.Generation.Mode != "shadow" || progress.Total == 0 {
		t.Fatalf("admin rebuild: %s %+v", resp.Status, progress)
	}
	out := s.run(t, "projections", "rebuild", name)
	close(stop)
	wg.Wait()
	if !strings.Contains(out, "generation 2 is live") {
		t.Fatalf("rebuild printed %q", out)
	}
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("during the rebuild the API served %d answers and failed %d", served.Load(), failed.Load())
	}
	if after := liveHash(t, s, name); after != before {
		t.Fatalf("hash after the rebuild %s, before %s", after, before)
	}

	out = s.run(t, "projections", "rebuild", name, "--in-place")
	if !strings.Contains(out, "generation 2 is live") {
		t.Fatalf("in-place rebuild printed %q", out)
	}
	if after := liveHash(t, s, name); after != before {
		t.Fatalf("hash after the in-place rebuild %s, before %s", after, before)
	}
}

// TestRedisDownAndBack: with Redis stopped mid-run the API keeps answering,
// correctly, from Postgres; when Redis is back its entries fill again.
func TestRedisDownAndBack(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	port := strings.Split(testenv.FreeAddr(t), ":")[1]
	startRedis := func() *exec.Cmd {
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, func() error {
			return exec.Command("redis-cli", "-p", port, "ping").Run()
		})
		return cmd
	}
	dbsize := func() string {
		out, _ := exec.Command("redis-cli", "-p", port, "dbsize").Output()
		return strings.TrimSpace(string(out))
	}
	redis := startRedis()
	s.env = append(s.env, "CATALOG_REDIS_ADDR=127.0.0.1:"+port)
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	res := deliver(t, s.ingest, restartRelease(7, 1))
	id := res.TrackIDs["GBRST0000014"]
	title := func() string {
		status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, id))
		if status != http.StatusOK {
			return fmt.Sprintf("status %d", status)
		}
		return parse(t, body).Track.Release.Title
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := title(); got != "Release 7 v1" {
			return fmt.Errorf("title %q", got)
		}
		return nil
	})
	if n := dbsize(); n == "0" || n == "" {
		t.Fatalf("Redis holds %q entries after a read", n)
	}

	_ = redis.Process.Kill()
	_ = redis.Wait()
	for i := 0; i < 20; i++ {
		if got := title(); got != "Release 7 v1" {
			t.Fatalf("with Redis down: %q", got)
		}
	}
	deliver(t, s.ingest, restartRelease(7, 2))
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := title(); got != "Release 7 v2" {
			return fmt.Errorf("with Redis down, after an update: %q", got)
		}
		return nil
	})

	redis = startRedis()
	defer func() { _ = redis.Process.Kill(); _ = redis.Wait() }()
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := title(); got != "Release 7 v2" {
			return fmt.Errorf("with Redis back: %q", got)
		}
		if n := dbsize(); n == "0" || n == "" {
			return fmt.Errorf("Redis holds %q entries", n)
		}
		return nil
	})
}
