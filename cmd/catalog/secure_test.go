package main_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

// TestRolesOverKafkaSASLAndTLS: every role of `catalog dev` talks to a
// broker of the test's own only through its SASL_SSL listener (TLS
// checked against the test's CA, SCRAM-SHA-512, the password read from a
// file): a delivery goes in and comes out through the API. With a wrong
// password a role stops at start instead.
func TestRolesOverKafkaSASLAndTLS(t *testing.T) {
	t.Parallel()
	_, sec := testenv.StartSecureKafka(t)
	s := newStack(t)
	password := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(password, []byte(sec.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "CATALOG_KAFKA_BROKERS="+sec.Addr, "CATALOG_KAFKA_TLS=true",
		"CATALOG_KAFKA_TLS_CA_FILE="+sec.CAFile, "CATALOG_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"CATALOG_KAFKA_SASL_USER="+sec.User, "CATALOG_KAFKA_SASL_PASSWORD_FILE="+password)

	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := s.startWith(t, []string{"CATALOG_KAFKA_SASL_PASSWORD_FILE=" + wrong}, "ingest")
	select {
	case err := <-p.done:
		if err == nil {
			t.Fatalf("ingest with a wrong Kafka password exited cleanly:\n%s", p.out)
		}
		p.done <- err
	case <-time.After(90 * time.Second):
		t.Fatalf("ingest with a wrong Kafka password kept running:\n%s", p.out)
	}

	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	res := deliver(t, s.ingest, restartRelease(3, 1))
	id := res.TrackIDs["GBRST0000006"]
	if id == 0 {
		t.Fatalf("delivery answered %+v", res)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, id))
		if status != http.StatusOK || !strings.Contains(body, "Release 3 v1") {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	})
}
