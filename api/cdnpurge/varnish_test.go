package cdnpurge_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Purge endpoint settings of the test's varnishd.
const (
	testService = "local"
	testToken   = "test-purge-token"
)

// startVarnish starts a varnishd of the test's own, on a free port with its
// own working directory, in front of backend (host:port), with
// deployments/local/varnish.vcl, and returns its base URL. It is killed when
// the test ends. The test is skipped when varnishd is not installed (make
// up installs it).
func startVarnish(t testing.TB, backend string) string {
	t.Helper()
	if _, err := exec.LookPath("varnishd"); err != nil {
		t.Skip("varnishd not installed (make up installs Debian's varnish and varnish-modules)")
	}
	host, port, err := net.SplitHostPort(backend)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("../../deployments/local/varnish.vcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vcl := strings.NewReplacer("@BACKEND_HOST@", host, "@BACKEND_PORT@", port,
		"@SERVICE_ID@", testService, "@PURGE_TOKEN@", testToken).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(dir, "catalog.vcl"), []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command("varnishd", "-F", "-j", "none", "-n", filepath.Join(dir, "work"),
		"-a", addr, "-T", "none", "-f", filepath.Join(dir, "catalog.vcl"), "-s", "malloc,64m",
		"-p", "default_grace=0", "-p", "thread_pools=1", "-p", "thread_pool_min=10")
	out, err := os.Create(filepath.Join(dir, "varnishd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start varnishd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			if b, err := os.ReadFile(out.Name()); err == nil {
				t.Logf("varnishd log:\n%s", b)
			}
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	b, _ := os.ReadFile(out.Name())
	t.Fatalf("varnishd did not listen on %s within 30 s:\n%s", addr, b)
	return ""
}
