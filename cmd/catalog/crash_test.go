package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// TestIngestCrashPublishesExactlyOnce kills the ingest process with
// SIGKILL (from a test hook, at an exact point) after a delivery's state
// and events are committed and either before its events reach Kafka, or
// after Kafka has them but before the outbox rows are deleted (before the
// delivery is answered, or once it may have been). After a restart each
// event is in Kafka exactly once, and resending the delivery changes
// nothing.
func TestIngestCrashPublishesExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"before-publish", "after-publish", "acknowledged"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			ctx := ctxT(t)
			crashing := s.startWith(t, []string{"CATALOG_TEST_HOOK=kill-" + stage}, "ingest")
			waitHTTP(t, "http://"+s.ingest+"/healthz")

			body := restartRelease(1, 1)
			resp, err := http.Post("http://"+s.ingest+"/v1/deliveries", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				// Once acknowledged, the answer may leave before the kill,
				// and it can only be a 202: Kafka has the events.
				if stage != "acknowledged" || resp.StatusCode != http.StatusAccepted {
					t.Fatalf("the delivery was answered (%s) although the process should have died", resp.Status)
				}
			}
			select {
			case err := <-crashing.done:
				crashing.done <- err
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("ingest ended with %v, want SIGKILL", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("ingest did not die at the hook")
			}

			db, err := pgx.Connect(ctx, s.pgURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close(context.Background())
			var pending int
			if err := db.QueryRow(ctx, `select count(*) from outbox`).Scan(&pending); err != nil {
				t.Fatal(err)
			}
			if pending != 1 {
				t.Fatalf("%d events in the outbox after the crash, want 1", pending)
			}
			topic := s.prefix + "releases"
			inKafka := countRecords(t, s.brokers, topic)
			if want := map[string]int{"before-publish": 0, "after-publish": 1, "acknowledged": 1}[stage]; inKafka != want {
				t.Fatalf("%d records in Kafka after a crash %s, want %d", inKafka, stage, want)
			}

			s.start(t, "ingest")
			waitHTTP(t, "http://"+s.ingest+"/healthz")
			testenv.Eventually(t, 30*time.Second, func() error {
				if err := db.QueryRow(ctx, `select count(*) from outbox`).Scan(&pending); err != nil {
					return err
				}
				if pending != 0 {
					return fmt.Errorf("%d events still in the outbox", pending)
				}
				return nil
			})
			if n := countRecords(t, s.brokers, topic); n != 1 {
				t.Fatalf("%d records in Kafka after the restart, want exactly 1", n)
			}
			if r := deliver(t, s.ingest, body); r.Status != "unchanged" || r.Version != 1 {
				t.Fatalf("resend after the crash: %+v", r)
			}
			if n := countRecords(t, s.brokers, topic); n != 1 {
				t.Fatalf("%d records in Kafka after the resend, want exactly 1", n)
			}
		})
	}
}

// countRecords counts the records in topic; with infinite retention that
// is the sum of the end offsets.
func countRecords(t testing.TB, brokers []string, topic string) int {
	t.Helper()
	admin, err := events.NewAdmin(ctxT(t), events.KafkaConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	hw, err := admin.HighWatermarks(ctxT(t), topic)
	if err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatal(err)
	}
	n := 0
	for _, v := range hw {
		n += int(v)
	}
	return n
}
