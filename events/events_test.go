package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	e, err := events.NewEnvelope("catalog.release.delivered", 1, "/catalog/ingest", "00724349501058", 7, at, "msg-1", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	h := e.Headers()
	for k, want := range map[string]string{"ce_specversion": "1.0", "ce_type": "catalog.release.delivered", "ce_subject": "00724349501058",
		"ce_sequence": "7", "ce_source": "/catalog/ingest", "content-type": "application/json", "ce_causationid": "msg-1"} {
		if h[k] != want {
			t.Errorf("header %s = %q, want %q", k, h[k], want)
		}
	}
	got, err := events.Decode(h, e.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Sequence != 7 || !got.Time.Equal(at) || string(got.Data) != `{"a":1}` || got.SchemaVersion != 1 {
		t.Fatalf("decoded %+v, want %+v", got, e)
	}
}

func TestDecodeNamesEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := events.Decode(map[string]string{"ce_specversion": "0.3", "ce_sequence": "x"}, []byte("{"))
	if !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	for _, want := range []string{"ce_specversion", "ce_id is missing", "ce_type is missing", "ce_sequence", "not JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestTopicsKeptForever creates the topics through the application's own
// start-up path and reads their settings back from the broker.
func TestTopicsKeptForever(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	specs := []events.TopicSpec{{Name: topic, Partitions: 3, ReplicationFactor: 1}}
	ctx := context.Background()

	ka := openAdmin(t, kc)
	if err := ka.EnsureTopics(ctx, specs, log); err != nil {
		t.Fatal(err)
	}
	// A config change reaches the broker through the KRaft metadata log, so a
	// describe right after it may still show the previous value.
	forever := func() error {
		parts, cfg, err := ka.TopicSettings(ctx, topic)
		if err != nil {
			return err
		}
		if parts != 3 {
			return fmt.Errorf("partitions = %d, want 3", parts)
		}
		if cfg["retention.ms"] != "-1" || cfg["retention.bytes"] != "-1" || cfg["cleanup.policy"] != "delete" {
			return fmt.Errorf("retention.ms=%s retention.bytes=%s cleanup.policy=%s, want -1, -1, delete",
				cfg["retention.ms"], cfg["retention.bytes"], cfg["cleanup.policy"])
		}
		return nil
	}
	testenv.Eventually(t, 10*time.Second, forever)

	// Someone shortens retention by hand: the next start puts it back.
	admin, err := sarama.NewClusterAdmin(kc.Brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	week := "604800000"
	if err := admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &week}, false); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if _, cfg, _ := ka.TopicSettings(ctx, topic); cfg["retention.ms"] != week {
			return fmt.Errorf("retention.ms = %s after altering it", cfg["retention.ms"])
		}
		return nil
	})
	if err := ka.EnsureTopics(ctx, specs, log); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, forever)
}

// openAdmin connects an Admin that is closed when the test ends.
func openAdmin(t testing.TB, kc events.KafkaConfig) *events.Admin {
	t.Helper()
	a, err := events.NewAdmin(context.Background(), kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestDecodeRecordReportsWhatDecodeDoes shows that DecodeRecord, which
// leaves the JSON check to the payload decoder for a current-version
// type, rejects every value Decode rejects, with Decode's error, and
// decodes a valid one.
func TestDecodeRecordReportsWhatDecodeDoes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	record := func(typ string, version int, value string) events.Record {
		e, err := events.NewEnvelope(typ, version, "/catalog/ingest", "00724349501058", 1, at, "msg-1", map[string]int{})
		if err != nil {
			t.Fatal(err)
		}
		return events.Record{Headers: e.Headers(), Value: []byte(value)}
	}
	delivered := "catalog.release.delivered"
	var current int
	for _, ty := range events.Types() {
		if ty.Name == delivered {
			current = ty.Version
		}
	}
	for name, rec := range map[string]events.Record{
		"current version, cut short":     record(delivered, current, `{"releaseId": 1, "title": "x"`),
		"current version, trailing data": record(delivered, current, `{"releaseId": 1} {}`),
		"current version, not JSON":      record(delivered, current, `releaseId=1`),
		"an older version":               record(delivered, 1, `{"releaseId": 1`),
		"an unknown type":                record("catalog.release.unheard-of", 1, `{`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, want := events.Decode(rec.Headers, rec.Value)
			if want == nil {
				t.Fatal("Decode accepted the value")
			}
			_, p, _, err := events.DecodeRecord(rec)
			if err == nil || err.Error() != want.Error() || !errors.Is(err, events.ErrMalformed) || p != nil {
				t.Errorf("DecodeRecord: payload %v, err %v; want Decode's %v", p, err, want)
			}
		})
	}
	_, p, ok, err := events.DecodeRecord(record(delivered, current, `{"releaseId": 7}`))
	if err != nil || !ok || p == nil {
		t.Fatalf("a valid record: payload %v, ok %v, err %v", p, ok, err)
	}
}
