package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
)

// heldFixture is a fixture whose relay stops at stage while armed
// reports true (nil: from the start), until the returned function is
// called (the test's cleanup calls it too); from then on it never stops.
func heldFixture(t *testing.T, stage string, armed func() bool) (fixture, func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	f := newFixtureHook(t, ingest.Config{}, func(s string) {
		if s == stage && (armed == nil || armed()) {
			<-release
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
	f, carryOn := heldFixture(t, "acknowledged", nil)
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
	f, carryOn := heldFixture(t, "acknowledged", nil)
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

// TestRelayPlansForTheOutboxAsItIs: after the outbox was vacuumed empty
// (autovacuum truncates it and records no live rows) and the relay polled
// it so, a backlog is relayed reading each pending row about once, not with
// a plan made for an empty table that scans the whole outbox again for
// every pending row: the rows read grow with the backlog, not with its
// square. Counted by PostgreSQL's own table statistics (rows read from the
// outbox while the backlog is relayed and confirmed), not by time.
func TestRelayPlansForTheOutboxAsItIs(t *testing.T) {
	var hold atomic.Bool
	f, carryOn := heldFixture(t, "before-publish", hold.Load)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := f.svc.Deliver(ctx, benchAlbum(0)); err != nil || res.Status != "accepted" {
		t.Fatalf("first delivery: %v %+v", err, res)
	}
	// Vacuumed once the relay has deleted the rows; truncating takes a lock
	// the relay's polls may hold for a moment, so it may take a few tries.
	pages := -1
	for pages != 0 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		if _, err := f.pool.Exec(ctx, `vacuum outbox`); err != nil {
			t.Fatal(err)
		}
		if err := f.pool.QueryRow(ctx, `select pg_relation_size('outbox') / current_setting('block_size')::int`).Scan(&pages); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second) // the relay polls the empty outbox every 250 ms

	hold.Store(true)
	const n = 200
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() {
			res, err := f.svc.Deliver(ctx, benchAlbum(i))
			if err == nil && res.Status != "accepted" {
				err = fmt.Errorf("delivery %d: %s", i, res.Status)
			}
			errs <- err
		}()
	}
	var keys, rows int64
	for keys < n && ctx.Err() == nil { // every delivery's rows are in, the relay held
		time.Sleep(20 * time.Millisecond)
		if err := f.pool.QueryRow(ctx, `select count(distinct key), count(*) from outbox`).Scan(&keys, &rows); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.pool.Exec(ctx, `select pg_stat_reset_single_table_counters('outbox'::regclass)`); err != nil {
		t.Fatal(err)
	}
	carryOn()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Backends report their table statistics within about a second of
	// going idle; the relay's polls of the empty outbox read no rows.
	var read int64
	for last, stable := int64(-1), 0; stable < 2 && ctx.Err() == nil; last = read {
		time.Sleep(time.Second)
		if err := f.pool.QueryRow(ctx, `select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) from pg_stat_user_tables where relname = 'outbox'`).Scan(&read); err != nil {
			t.Fatal(err)
		}
		if read > 0 && read == last {
			stable++
		} else {
			stable = 0
		}
	}
	t.Logf("a backlog of %d rows relayed reading %d rows of the outbox", rows, read)
	if read > rows*rows/4 {
		t.Errorf("relaying a backlog of %d outbox rows read %d rows of the outbox; want a number that grows with the backlog, not the whole table read again per row", rows, read)
	}
}
