package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

// npmClientVersion is the version of 7digital's node client the test installs;
// testdata/npmclient/package.json and its lockfile pin the same one.
const npmClientVersion = "1.0.0"

// npmClientResult is one line printed by testdata/npmclient/client.js: what
// the client's callback got for one case.
type npmClientResult struct {
	Case string `json:"case"`
	// Success.
	Status       string `json:"status"`
	TrackID      string `json:"trackId"`
	Title        string `json:"title"`
	ISRC         string `json:"isrc"`
	ReleaseTitle string `json:"releaseTitle"`
	// Error.
	Error      string `json:"error"`
	Code       string `json:"code"`
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// TestNPMClient installs 7digital's official node client (npm package
// 7digital-api, pinned) and runs it, unchanged, against the gateway: it is
// pointed here with _7D_API_CLIENT_HOST / _7D_API_CLIENT_PORT, as 7digital's
// own integration tests point it at their stub.
func TestNPMClient(t *testing.T) {
	if testing.Short() {
		t.Skip("installs an npm package and needs the services")
	}
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is required for this test (Node 20 and npm): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test (Node 20 and npm): %v", err)
	}

	dir := installNPMClient(t, npm)

	s := newStack(t)
	key := strings.TrimSpace(s.run(t, "clients", "add", "npm-client"))
	if key == "" {
		t.Fatal("clients add printed no key")
	}
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")

	res := deliver(t, s.ingest, dandyRelease)
	trackID := res.TrackIDs["USCA29600191"]
	if res.Status != "accepted" || trackID == 0 {
		t.Fatalf("delivery: %+v", res)
	}
	const unknownID = 987654321
	details := func(q string) string {
		return fmt.Sprintf("http://%s/1.2/track/details?%s&oauth_consumer_key=%s", s.gateway, q, url.QueryEscape(key))
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		status, body, err := httpGet(details(fmt.Sprintf("trackId=%d&country=GB", trackID)))
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	})
	// The errorMessage the gateway itself sends for the two API errors: the
	// client must report exactly that, followed by ": /1.2/track/details".
	unknownMsg := gatewayErrorMessage(t, details(fmt.Sprintf("trackId=%d&country=GB", unknownID)))
	missingMsg := gatewayErrorMessage(t, details("country=GB"))

	_, port, err := net.SplitHostPort(s.gateway)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.js", key, fmt.Sprint(trackID), fmt.Sprint(unknownID))
	cmd.Dir = dir
	cmd.Env = append(withoutEnv(os.Environ(), "_7D_API_CLIENT_"),
		"_7D_API_CLIENT_HOST=127.0.0.1",
		"_7D_API_CLIENT_PORT="+port,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.js: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("node client.js printed:\n%s", stdout.String())
	if t.Failed() || testing.Verbose() {
		t.Logf("node client.js stderr (the client's log):\n%s", stderr.String())
	}

	got := map[string]npmClientResult{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r npmClientResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("client.js printed a line that is not JSON: %q: %v", line, err)
		}
		if _, dup := got[r.Case]; dup {
			t.Errorf("case %q reported twice", r.Case)
		}
		got[r.Case] = r
	}
	if len(got) != 4 {
		t.Errorf("client.js reported %d cases, want 4 (found, unknown, missing, badkey)", len(got))
	}

	const path = "/1.2/track/details"
	checks := []struct {
		name string
		want npmClientResult
	}{
		{"found", npmClientResult{Status: "ok", TrackID: fmt.Sprint(trackID), Title: "I Love You", ISRC: "USCA29600191",
			ReleaseTitle: "...The Dandy Warhols Come Down"}},
		// A 7digital error response becomes ApiError with the code as a
		// string and the HTTP status.
		{"unknown", npmClientResult{Error: "ApiError", Code: "2001", StatusCode: http.StatusNotFound, Message: unknownMsg + ": " + path}},
		{"missing", npmClientResult{Error: "ApiError", Code: "1001", StatusCode: http.StatusBadRequest, Message: missingMsg + ": " + path}},
		// The 401 body is plain text, as 7digital's is: the client fails to
		// parse it as XML and reports ApiParseError with the status (its
		// OAuthError is only raised for signed calls or XML error bodies).
		{"badkey", npmClientResult{Error: "ApiParseError", StatusCode: http.StatusUnauthorized, Message: "Unparsable api response from: " + path}},
	}
	for _, c := range checks {
		r, ok := got[c.name]
		if !ok {
			t.Errorf("%s: no result from client.js", c.name)
			continue
		}
		c.want.Case = c.name
		if r != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, r, c.want)
		}
	}
}

// installNPMClient copies testdata/npmclient to a temporary directory and
// installs its dependencies there from the npm registry, with a cache under
// os.TempDir() so reruns are fast. It returns the directory.
func installNPMClient(t *testing.T, npm string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", "npmclient")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // e.g. a stray node_modules
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	args := []string{"install"}
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
		args = []string{"ci"}
	}
	args = append(args, "--no-audit", "--no-fund", "--prefer-offline",
		"--cache", filepath.Join(os.TempDir(), "catalog-test-npm-cache"),
		"--fetch-retries", "2", "--fetch-timeout", "60000")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		registry := "the npm registry"
		if r, rerr := exec.Command(npm, "config", "get", "registry").Output(); rerr == nil {
			registry = strings.TrimSpace(string(r))
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after 5 minutes: %w", err)
		}
		t.Fatalf("npm %s in a copy of %s failed: %v\n"+
			"This test installs 7digital-api@%s from %s: the machine must reach it.\n%s",
			strings.Join(args, " "), src, err, npmClientVersion, registry, out)
	}

	var pkg struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "7digital-api", "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &pkg)
	}
	if err != nil || pkg.Version != npmClientVersion {
		t.Fatalf("installed 7digital-api: version %q, %v; want %s\n%s", pkg.Version, err, npmClientVersion, out)
	}
	return dir
}

func httpGet(rawURL string) (int, string, error) {
	resp, err := http.Get(rawURL)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// gatewayErrorMessage fetches rawURL and returns the errorMessage of the
// 7digital error response.
func gatewayErrorMessage(t *testing.T, rawURL string) string {
	t.Helper()
	_, body, err := httpGet(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status  string `xml:"status,attr"`
		Message string `xml:"error>errorMessage"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil || r.Status != "error" || r.Message == "" {
		t.Fatalf("%s: want a 7digital error response, got (%v):\n%s", rawURL, err, body)
	}
	return r.Message
}

// withoutEnv drops the variables whose names start with prefix.
func withoutEnv(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
