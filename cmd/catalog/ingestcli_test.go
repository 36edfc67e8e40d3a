package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIngestFolder: `catalog ingest PATH` walks a folder recursively,
// applies what it can, reports each rejection with its reason, and exits
// non-zero because one file was rejected.
func TestIngestFolder(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/one.json", restartRelease(1, 1))
	write("a/b/two.json", restartRelease(2, 1))
	write("a/b/two-again.json", restartRelease(2, 1))
	write("bad.json", `{"messageId":"broken-1","upc":"123","title":"x"}`)
	write("notes.txt", "not a delivery")
	if b, err := os.ReadFile(filepath.Join(samplesDir, "ern43_1_Audio.xml")); err == nil {
		write("ern/audio.xml", string(b))
	}

	cmd := exec.Command(catalogBin, "ingest", "--quiet", dir)
	cmd.Env = append(s.env, "CATALOG_DPID="+sampleRecipients)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	summary := string(out)
	accepted := "2 accepted"
	total := "4 deliveries"
	if _, err := os.Stat(filepath.Join(dir, "ern/audio.xml")); err == nil {
		accepted, total = "3 accepted", "5 deliveries"
	}
	for _, want := range []string{total, accepted, "1 unchanged", "1 rejected", "bad.json: message broken-1: upc: invalid UPC/EAN"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

// TestGeneratedCatalogueIngests: `catalog gen` writes ERN 4.3 deliveries
// that `catalog ingest` takes without a rejection.
func TestGeneratedCatalogueIngests(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := t.TempDir()
	if out := s.run(t, "gen", "--seed", "7", "--releases", "40", "--out", dir); !strings.Contains(out, "files written") {
		t.Fatalf("gen printed %q", out)
	}
	out := s.run(t, "ingest", "--quiet", "--concurrency", "1", dir)
	if !strings.Contains(out, " 0 rejected, 0 failed") || strings.Contains(out, " 0 accepted") {
		t.Errorf("summary: %s", out)
	}
}

// TestIngestFolderStopsOnSignal: SIGTERM stops `catalog ingest DIR` at once
// (no further file is parsed), with a non-zero exit that says how far it
// got.
func TestIngestFolderStopsOnSignal(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := t.TempDir()
	s.run(t, "gen", "--seed", "9", "--releases", "3000", "--out", dir)
	cmd := exec.Command(catalogBin, "ingest", "--quiet", "--concurrency", "1", dir)
	cmd.Env = s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(3 * time.Second) // the topic exists and deliveries are flowing
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted after") {
			t.Errorf("stderr: %s", stderr.String())
		}
		t.Logf("stopped %s after SIGTERM: %s", time.Since(signalled).Round(time.Millisecond), strings.TrimSpace(stderr.String()))
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("catalog ingest still running 10 s after SIGTERM")
	}
}
