package events_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// TestKafkaOverSASLAndTLS: against a broker of the test's own whose
// SASL_SSL listener checks credentials, each mechanism (SCRAM-SHA-512,
// SCRAM-SHA-256, PLAIN) over TLS creates a topic, produces and reads the
// event back; a wrong password, no SASL, or no TLS is refused.
func TestKafkaOverSASLAndTLS(t *testing.T) {
	t.Parallel()
	_, sec := testenv.StartSecureKafka(t)
	pem, err := os.ReadFile(sec.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	for _, mech := range []string{events.SASLScramSHA512, events.SASLScramSHA256, events.SASLPlain} {
		kc := events.KafkaConfig{Brokers: []string{sec.Addr}, ClientID: "test", TLS: tc,
			SASL: events.SASL{Mechanism: mech, User: sec.User, Password: sec.Password}}
		topic := "secure-" + strings.ToLower(mech)
		admin, err := events.NewAdmin(ctx, kc)
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 1}}, log); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		_ = admin.Close()
		prod, err := events.NewProducer(kc)
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		env, err := events.NewEnvelope("catalog.test", 1, "/catalog/test", "1", 1, time.Now(), "m-"+mech, map[string]int{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: env}}); err != nil {
			t.Fatalf("%s: produce: %v", mech, err)
		}
		_ = prod.Close()
		ids, end, err := events.EventIDs(kc, topic, 0, 0)
		if err != nil || end != 1 || !ids[env.ID.String()] {
			t.Fatalf("%s: read back %v (end %d): %v", mech, ids, end, err)
		}
	}

	refused := map[string]events.KafkaConfig{
		"a wrong password": {Brokers: []string{sec.Addr}, TLS: tc, SASL: events.SASL{Mechanism: events.SASLScramSHA512, User: sec.User, Password: "wrong"}},
		"no SASL":          {Brokers: []string{sec.Addr}, TLS: tc},
		"no TLS":           {Brokers: []string{sec.Addr}, SASL: events.SASL{Mechanism: events.SASLScramSHA512, User: sec.User, Password: sec.Password}},
		"an unknown CA":    {Brokers: []string{sec.Addr}, TLS: &tls.Config{MinVersion: tls.VersionTLS12}, SASL: events.SASL{Mechanism: events.SASLScramSHA512, User: sec.User, Password: sec.Password}},
	}
	for name, kc := range refused {
		short, cancel := context.WithTimeout(ctx, 20*time.Second)
		admin, err := events.NewAdmin(short, kc)
		cancel()
		if err == nil {
			_ = admin.Close()
			t.Errorf("with %s the broker let catalog in", name)
		}
	}
}
