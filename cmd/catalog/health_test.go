package main_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

// readyz returns the status and body of url's /readyz ("" on no answer).
func readyz(base string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until each address's /readyz answers want.
func waitReady(t *testing.T, want int, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		testenv.Eventually(t, 90*time.Second, func() error {
			if code, body := readyz(a); code != want {
				return fmt.Errorf("%s/readyz: %d %s, want %d", a, code, body, want)
			}
			return nil
		})
	}
}

// TestReadiness: every role answers /livez, and /readyz follows the
// dependencies the role needs. Each of the test's own PostgreSQL, Kafka
// and Redis is stopped in turn: the roles that need it become not ready
// (503, naming it), the others stay ready, and all are ready again once
// it is back.
func TestReadiness(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{})
	kafka := testenv.StartKafka(t, 1)
	redisAddr, redisDir := testenv.FreeAddr(t), t.TempDir()
	redis := testenv.StartRedis(t, redisAddr, redisDir)
	s := newStack(t)
	gatewayOps := testenv.FreeAddr(t)
	s.env = append(s.env, "CATALOG_PG_URL="+pg.URL("catalog"), "CATALOG_KAFKA_BROKERS="+strings.Join(kafka.Brokers(), ","),
		"CATALOG_REDIS_ADDR="+redisAddr, "CATALOG_QUOTA_ON_REDIS_DOWN=closed", "CATALOG_GATEWAY_METRICS_ADDR="+gatewayOps)
	for _, role := range []string{"ingest", "project", "api", "gateway"} {
		s.start(t, role)
	}
	all := []string{s.ingest, s.projector, s.api, gatewayOps}
	waitReady(t, http.StatusOK, all...)
	for _, a := range all {
		if resp, err := http.Get("http://" + a + "/livez"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/livez: %v %v", a, resp, err)
		}
	}

	// Redis: only the fail-closed gateway needs it.
	redis.Kill()
	waitReady(t, http.StatusServiceUnavailable, gatewayOps)
	if code, body := readyz(gatewayOps); !strings.Contains(body, "redis") {
		t.Errorf("gateway /readyz without Redis: %d %s", code, body)
	}
	waitReady(t, http.StatusOK, s.api, s.ingest, s.projector)
	redis = testenv.StartRedis(t, redisAddr, redisDir)
	waitReady(t, http.StatusOK, gatewayOps)

	// Kafka: ingest and the projector need it.
	kafka.Stop(0)
	waitReady(t, http.StatusServiceUnavailable, s.ingest, s.projector)
	if _, body := readyz(s.ingest); !strings.Contains(body, "kafka") {
		t.Errorf("ingest /readyz without Kafka: %s", body)
	}
	waitReady(t, http.StatusOK, s.api, gatewayOps)
	if err := kafka.Start(0); err != nil {
		t.Fatal(err)
	}
	waitReady(t, http.StatusOK, s.ingest, s.projector)

	// PostgreSQL: ingest, the projector and the API need it.
	pg.Stop(t)
	waitReady(t, http.StatusServiceUnavailable, s.ingest, s.projector, s.api)
	if _, body := readyz(s.api); !strings.Contains(body, "postgres") {
		t.Errorf("api /readyz without PostgreSQL: %s", body)
	}
	waitReady(t, http.StatusOK, gatewayOps)
	pg.Start(t)
	waitReady(t, http.StatusOK, all...)
}
