package events_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// TestKcatReadsTheStream: an analyst's generic tool (kcat, Debian package)
// reads catalog's events from offset zero and finds the key, the
// CloudEvents headers and the JSON payload.
func TestKcatReadsTheStream(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make up installs it): %v", err)
	}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := openAdmin(t, kc).EnsureTopics(context.Background(), []events.TopicSpec{{Name: topic, Partitions: 3, ReplicationFactor: 1}}, log); err != nil {
		t.Fatal(err)
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var sent []events.Envelope
	for i, upc := range []string{"00724349501058", "5012345678900", "00724349501058"} {
		e, err := events.NewEnvelope("catalog.release.delivered", 2, "/catalog/ingest", upc, int64(i+1), time.Now(), "msg", map[string]any{"upc": upc, "n": i})
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, e)
	}
	if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: sent[0]}, {Topic: topic, Envelope: sent[1]}, {Topic: topic, Envelope: sent[2]}}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(kcat, "-b", strings.Join(kc.Brokers, ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	type kcatRecord struct {
		Partition int32    `json:"partition"`
		Offset    int64    `json:"offset"`
		Key       string   `json:"key"`
		Payload   string   `json:"payload"`
		Headers   []string `json:"headers"`
	}
	byID := map[string]kcatRecord{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r kcatRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat printed %q: %v", sc.Text(), err)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(r.Headers); i += 2 {
			h[r.Headers[i]] = r.Headers[i+1]
		}
		env, err := events.Decode(h, []byte(r.Payload))
		if err != nil {
			t.Fatalf("record %d@%d as kcat shows it is not an envelope: %v", r.Partition, r.Offset, err)
		}
		if r.Key != env.Subject {
			t.Errorf("key %q != ce_subject %q", r.Key, env.Subject)
		}
		byID[env.ID.String()] = r
	}
	if len(byID) != len(sent) {
		t.Fatalf("kcat read %d events, want %d:\n%s", len(byID), len(sent), out)
	}
	for _, e := range sent {
		r, ok := byID[e.ID.String()]
		if !ok {
			t.Fatalf("event %s missing from kcat's output", e.ID)
		}
		if r.Payload != string(e.Data) {
			t.Errorf("payload %s, want %s", r.Payload, e.Data)
		}
	}
	// One release, one partition: its events are in order there.
	a, b := byID[sent[0].ID.String()], byID[sent[2].ID.String()]
	if a.Partition != b.Partition || a.Offset >= b.Offset {
		t.Errorf("events of one release at %d@%d and %d@%d", a.Partition, a.Offset, b.Partition, b.Offset)
	}
}
