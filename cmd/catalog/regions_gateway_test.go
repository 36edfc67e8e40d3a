package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/testenv"
)

// runFails runs `catalog args...`, expects it to fail and returns its
// stderr.
func (s stack) runFails(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(catalogBin, args...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err == nil {
		t.Fatalf("catalog %s succeeded: %s", strings.Join(args, " "), out)
	}
	return stderr.String()
}

// getNoFollow sends a GET without following redirects.
func getNoFollow(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestRegionalGatewayWithReplicatedClients runs a central and an india
// gateway as processes. Clients are managed centrally (a PostgreSQL of the
// test's own, wal_level=logical) and reach the region's database by
// logical replication (`catalog clients replicate`); the region refuses to
// change them. Each gateway serves only the (client, route)s homed in its
// region and redirects the others; the region is read-only. A pin, a
// share and a disable made centrally reach the regional gateway within its
// reload interval; with the central PostgreSQL stopped, the regional
// gateway keeps serving from its copy, restarts included.
func TestRegionalGatewayWithReplicatedClients(t *testing.T) {
	t.Parallel()
	srv := testenv.StartPostgres(t, testenv.PostgresOptions{Settings: map[string]string{"wal_level": "logical"}})
	centralPG, regionPG := srv.URL("catalog"), testenv.PostgresURL(t)
	unsubscribeAtCleanup(t, regionPG, "india")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<response status="ok"/>`)
	}))
	t.Cleanup(api.Close)
	redis := testenv.StartRedis(t, testenv.FreeAddr(t), t.TempDir()) // the region's own
	centralGW, indiaGW := testenv.FreeAddr(t), testenv.FreeAddr(t)
	common := []string{
		"CATALOG_REGION_URLS=central=http://" + centralGW + ",india=http://" + indiaGW,
		"CATALOG_API_URL=" + api.URL,
		"CATALOG_CLIENTS_RELOAD_SECONDS=1",
		"CATALOG_QUOTA_TIMEOUT_MS=2000",
		"CATALOG_LOG_LEVEL=debug",
	}
	central := stack{env: append(append(os.Environ(), common...),
		"CATALOG_PG_URL="+centralPG, "CATALOG_GATEWAY_ADDR="+centralGW, "CATALOG_GATEWAY_METRICS_ADDR="+testenv.FreeAddr(t),
		"CATALOG_REDIS_ADDR="+testenv.RedisAddr(t), "CATALOG_QUOTA_PREFIX=test:quota:"+testenv.Suffix()+":")}
	india := stack{env: append(append(os.Environ(), common...),
		"CATALOG_REGION=india", "CATALOG_PG_URL="+regionPG, "CATALOG_GATEWAY_ADDR="+indiaGW,
		"CATALOG_GATEWAY_METRICS_ADDR="+testenv.FreeAddr(t), "CATALOG_REDIS_ADDR="+redis.Addr)}

	central.run(t, "clients", "add", "--key", "alpha-key", "alpha")
	central.run(t, "clients", "add", "--key", "beta-key", "beta")
	central.run(t, "clients", "set-limit", "beta-key", "100")
	central.run(t, "clients", "grant", "beta-key", "identifiers")
	central.run(t, "clients", "pin", "alpha-key", "india")
	out := india.run(t, "clients", "replicate", "--from", centralPG)
	if !strings.Contains(out, "ready: true") {
		t.Fatalf("replicate: %s", out)
	}
	// The region's copy is read-only; reading it is fine.
	for _, args := range [][]string{{"add", "x"}, {"disable", "alpha-key"}, {"pin", "beta-key", "india"}, {"unpin", "alpha-key"}} {
		msg := india.runFails(t, append([]string{"clients"}, args...)...)
		if !strings.Contains(msg, "india region") || !strings.Contains(msg, "CATALOG_REGION=central") {
			t.Errorf("regional clients %s: %q does not say why or where to run it", args[0], msg)
		}
	}
	if out := india.run(t, "clients", "list"); !strings.Contains(out, "alpha-key") || !strings.Contains(out, "india") {
		t.Errorf("regional clients list:\n%s", out)
	}
	if msg := central.runFails(t, "clients", "replicate", "--from", centralPG); !strings.Contains(msg, "owns the clients tables") {
		t.Errorf("replicate in the central region: %q", msg)
	}

	central.start(t, "gateway")
	indiaProc := india.start(t, "gateway")
	waitHTTP(t, "http://"+centralGW+"/healthz")
	waitHTTP(t, "http://"+indiaGW+"/healthz")

	const td = "/1.2/track/details?trackId=1&oauth_consumer_key="
	expect := func(what, gw, path string, status int, location string) {
		t.Helper()
		resp, body := getNoFollow(t, "http://"+gw+path)
		if resp.StatusCode != status || resp.Header.Get("Location") != location {
			t.Errorf("%s: %d Location %q (%q), want %d %q", what, resp.StatusCode, resp.Header.Get("Location"), body, status, location)
		}
	}
	expect("alpha (pinned) at india", indiaGW, td+"alpha-key", 200, "")
	expect("alpha (pinned) at central", centralGW, td+"alpha-key", 307, "http://"+indiaGW+td+"alpha-key")
	expect("beta (unpinned) at central", centralGW, td+"beta-key", 200, "")
	expect("beta (unpinned) at india", indiaGW, td+"beta-key", 307, "http://"+centralGW+td+"beta-key")
	resp, err := http.Post("http://"+indiaGW+"/ingest/v1/releases?oauth_consumer_key=beta-key", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(string(body), "read-only") || !strings.Contains(string(body), "http://"+centralGW) {
		t.Errorf("ingest at india: %d %q", resp.StatusCode, body)
	}

	// Central changes reach the region's gateway within its reload interval.
	central.run(t, "clients", "pin", "beta-key", "india", "--route", "/track/details", "--share", "30")
	central.run(t, "clients", "disable", "alpha-key")
	start := time.Now()
	testenv.Eventually(t, 15*time.Second, func() error {
		a, _ := getNoFollow(t, "http://"+indiaGW+td+"alpha-key")
		b, _ := getNoFollow(t, "http://"+indiaGW+td+"beta-key")
		if a.StatusCode != 401 || b.StatusCode != 200 {
			return fmt.Errorf("alpha %d (want 401), beta %d (want 200)", a.StatusCode, b.StatusCode)
		}
		// beta's split: india counts 30% of its daily limit of 100.
		if l := b.Header.Get("X-RateLimit-Limit"); l != "30" {
			return fmt.Errorf("beta's limit in india: %s, want 30", l)
		}
		return nil
	})
	t.Logf("central changes seen by the regional gateway after %s", time.Since(start).Round(time.Millisecond))
	expect("beta's other routes stay central", indiaGW, "/1.2/release/details/upc?upc=1&oauth_consumer_key=beta-key", 307,
		"http://"+centralGW+"/1.2/release/details/upc?upc=1&oauth_consumer_key=beta-key")
	if out := central.run(t, "clients", "show", "beta-key"); !regexp.MustCompile(`daily limit in india:\s+30\n`).MatchString(out) ||
		!regexp.MustCompile(`daily limit in central:\s+70\n`).MatchString(out) || !regexp.MustCompile(`serves /track/details/isrc:\s+india\n`).MatchString(out) {
		t.Errorf("clients show:\n%s", out)
	}

	// The central PostgreSQL goes away: the region serves from its copy,
	// across reloads and across a restart of its gateway.
	srv.Stop(t)
	time.Sleep(2500 * time.Millisecond)
	expect("beta at india, central PostgreSQL down", indiaGW, td+"beta-key", 200, "")
	indiaProc.kill(t)
	india.start(t, "gateway")
	waitHTTP(t, "http://"+indiaGW+"/healthz")
	expect("beta at a restarted india gateway, central PostgreSQL down", indiaGW, td+"beta-key", 200, "")
	expect("alpha stays disabled", indiaGW, td+"alpha-key", 401, "")
	if out := india.run(t, "clients", "replication"); !strings.Contains(out, "subscription: catalog_gateway_india") {
		t.Errorf("clients replication:\n%s", out)
	}
}

// unsubscribeAtCleanup drops region's subscription to the central clients
// tables from the regional database when the test ends. The central server
// is stopped by then, so its slot dies with it (ErrSlotLeft is expected).
func unsubscribeAtCleanup(t testing.TB, regionPG, region string) {
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), regionPG)
		if err != nil {
			t.Error(err)
			return
		}
		defer pool.Close()
		if err := gatewaypg.Unsubscribe(context.Background(), pool, gatewaypg.SubscriptionName(region)); err != nil && !errors.Is(err, gatewaypg.ErrSlotLeft) {
			t.Errorf("unsubscribe: %v", err)
		}
	})
}
