package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
)

// heldFixture is a fixture whose relay stops once, the first time it has
// answered a batch's waiters on Kafka's acknowledgement, before it deletes
// the batch's outbox rows, until the returned function is called (the
// test's cleanup calls it too).
func heldFixture(t *testing.T) (fixture, func()) {
	t.Helper()
	release := make(chan struct{})
	var first, once sync.Once
	f := newFixtureHook(t, ingest.Config{}, func(stage string) {
		if stage == "acknowledged" {
			first.Do(func() { <-release })
		}
	})
	done := func() { once.Do(func() { close(release) }) }
	t.Cleanup(done)
	return f, done
}

// TestAcceptedOnceKafkaHasTheEvents: a delivery is answered as soon as
// Kafka has acknowledged its events to the relay, before the relay deletes
// their outbox rows; the topic (read back, not the relay's word) holds them
// by then, and the rows go once the relay carries on.
func TestAcceptedOnceKafkaHasTheEvents(t *testing.T) {
	f, carryOn := heldFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := f.svc.Deliver(ctx, benchAlbum(1))
	if err != nil || res.Status != "accepted" {
		t.Fatalf("delivery while the relay holds before deleting its rows: %v %+v", err, res)
	}
	var rows int
	if err := f.pool.QueryRow(ctx, `select count(*) from outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	inKafka := f.logSize(t)
	carryOn()
	if rows == 0 {
		t.Errorf("the outbox was empty when the delivery was answered; want its rows still there (answered on Kafka's acknowledgement)")
	}
	if want := int64(len(res.Events)); inKafka != want {
		t.Errorf("the topic held %d records when the delivery was answered; want %d", inKafka, want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rows > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if err := f.pool.QueryRow(ctx, `select count(*) from outbox`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
	}
	if rows != 0 {
		t.Errorf("%d outbox rows left after the relay went on; want 0", rows)
	}
	if got := f.logSize(t); got != int64(len(res.Events)) {
		t.Errorf("the topic holds %d records; want %d, each once", got, len(res.Events))
	}
}

// TestLargeValuesAreLZ4Compressed: a release's state and its events'
// outbox payloads, several KB of JSON each, are stored lz4-compressed (the
// migrations' choice), as PostgreSQL reports for the stored values.
func TestLargeValuesAreLZ4Compressed(t *testing.T) {
	f, carryOn := heldFixture(t)
	defer carryOn()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := f.svc.Deliver(ctx, benchAlbum(1)); err != nil || res.Status != "accepted" {
		t.Fatalf("delivery: %v %+v", err, res)
	}
	for _, q := range []string{
		`select octet_length(payload), coalesce(pg_column_compression(payload), 'none') from outbox order by id limit 1`,
		`select octet_length(state::text), coalesce(pg_column_compression(state), 'none') from release_streams`,
	} {
		var size int
		var method string
		if err := f.pool.QueryRow(ctx, q).Scan(&size, &method); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if size < 4<<10 || method != "lz4" {
			t.Errorf("%s: %d bytes stored %s; want over 4 KB, lz4", q, size, method)
		}
	}
}
