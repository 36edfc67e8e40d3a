package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/testenv"
)

// setMaxMessageBytes sets the topic's max.message.bytes by hand, as an
// operator might, and waits until the broker describes the new value.
func (f fixture) setMaxMessageBytes(t *testing.T, v int) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(f.kafka.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	s := fmt.Sprint(v)
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, f.topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &s}}, false); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if _, c, err := f.admin.TopicSettings(context.Background(), f.topic); err != nil || c["max.message.bytes"] != s {
			return fmt.Errorf("max.message.bytes = %q (%v), want %s", c["max.message.bytes"], err, s)
		}
		return nil
	})
}

// A record the broker itself refuses as too large (here because an
// operator lowered the topic's max.message.bytes by hand) blocks its row:
// the delivery is answered 503 at once rather than after the confirmation
// timeout, `catalog outbox blocked` lists it with the broker's reason, and
// once the limit is fixed, Unblock sends it; a resend then finds the
// release unchanged.
func TestBrokerRefusalBlocksAndUnblockSends(t *testing.T) {
	testenv.NeedServices(t)
	f := newFixture(t)
	ctx := context.Background()
	if status, out := f.post(t, "application/json", validRelease); status != http.StatusAccepted {
		t.Fatalf("status %d, body %v", status, out)
	}
	f.setMaxMessageBytes(t, 20_000)

	noise := make([]byte, 45_000) // random, so compression cannot shrink it under the limit
	_, _ = rand.Read(noise)
	update := strings.Replace(strings.Replace(validRelease, `"msg-1"`, `"msg-2"`, 1),
		`"Come Down"`, `"Come Down `+base64.StdEncoding.EncodeToString(noise)+`"`, 1)
	start := time.Now()
	status, out := f.post(t, "application/json", update)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("update refused by the broker: status %d, body %v; want 503", status, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the 503 took %v: it waited for a confirmation that cannot come", d)
	}
	blocked, err := eventpg.BlockedRows(ctx, f.pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocked) != 1 || blocked[0].Sequence != "2" || !strings.Contains(blocked[0].Reason, "too large") {
		t.Fatalf("blocked rows %+v; want sequence 2, refused by the broker as too large", blocked)
	}
	if n := f.logSize(t); n != 1 {
		t.Fatalf("%d records in Kafka, want 1", n)
	}
	if _, err := eventpg.Unblock(ctx, f.pool, blocked[0].ID+1000); err == nil {
		t.Fatal("unblocking a row that is not blocked succeeded")
	}

	f.setMaxMessageBytes(t, events.TopicMaxMessageBytes)
	if _, err := eventpg.Unblock(ctx, f.pool, blocked[0].ID); err != nil {
		t.Fatal(err)
	}
	f.relay.Nudge()
	testenv.Eventually(t, 20*time.Second, func() error {
		st, err := f.relay.Stats(ctx)
		if err != nil || st.Pending != 0 || f.logSize(t) != 2 {
			return fmt.Errorf("stats %+v (%v), %d records in Kafka; want the row sent", st, err, f.logSize(t))
		}
		return nil
	})
	recs := readAll(t, f.kafka, f.topic, 2)
	if recs[1].Headers["ce_sequence"] != "2" {
		t.Fatalf("second record has ce_sequence %s, want 2", recs[1].Headers["ce_sequence"])
	}
	if status, out := f.post(t, "application/json", update); status != http.StatusOK || out["status"] != "unchanged" {
		t.Fatalf("resend after the unblock: status %d, body %v; want 200 unchanged", status, out)
	}
}
