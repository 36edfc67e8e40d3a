package ingest_test

import (
	"context"
	"testing"
)

// TestRelayTakesANewSessionWhenItsOwnEnds: the relay reads and writes the
// outbox on the database session that holds its lock; when that session
// ends (the lock with it), it takes a new one and the lock again, and
// deliveries still reach Kafka, once each.
func TestRelayTakesANewSessionWhenItsOwnEnds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if res, err := f.svc.Deliver(ctx, benchAlbum(1)); err != nil || res.Status != "accepted" {
		t.Fatalf("first delivery: %v %+v", err, res)
	}
	var pid int
	if err := f.pool.QueryRow(ctx, `select pid from pg_locks where locktype = 'advisory' and granted
		and database = (select oid from pg_database where datname = current_database())`).Scan(&pid); err != nil {
		t.Fatalf("the relay's session: %v", err)
	}
	var ok bool
	if err := f.pool.QueryRow(ctx, `select pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the relay's session %d: %v", pid, err)
	}
	res, err := f.svc.Deliver(ctx, benchAlbum(2))
	if err != nil || res.Status != "accepted" {
		t.Fatalf("delivery after the relay's session ended: %v %+v", err, res)
	}
	if got := f.logSize(t); got != 2 {
		t.Errorf("the topic holds %d records; want 2, one per delivery", got)
	}
	var held int
	if err := f.pool.QueryRow(ctx, `select count(*) from pg_locks where locktype = 'advisory' and granted
		and database = (select oid from pg_database where datname = current_database()) and pid <> $1`, pid).Scan(&held); err != nil || held != 1 {
		t.Errorf("relay locks held by a new session: %d (%v); want 1", held, err)
	}
}
