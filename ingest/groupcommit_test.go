package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
)

// TestGroupCommitFailsOnlyTheFailingDelivery delivers many releases at
// once, so the store writes them in shared transactions, with deliveries
// that fail inside those transactions (a foreign sender's change to a
// release it does not own, decided under the release's lock) among them:
// each failing delivery is refused alone, every other one is accepted and
// reaches Kafka, and the refused ones change nothing.
func TestGroupCommitFailsOnlyTheFailingDelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	owned := benchAlbum(0)
	if res, err := f.svc.Deliver(ctx, owned); err != nil || res.Status != "accepted" {
		t.Fatalf("first delivery: %v %+v", err, res)
	}
	const good, bad = 48, 16
	type outcome struct {
		i   int
		res string
		err error
	}
	out := make(chan outcome, good+bad)
	var wg sync.WaitGroup
	for i := 1; i <= good+bad; i++ {
		wg.Go(func() {
			d := benchAlbum(i)
			if i > good {
				d = benchAlbum(0)
				d.Message.Sender, d.Message.ID = evilDPID, fmt.Sprintf("evil-%d", i)
				d.Title = "Not Yours"
			}
			res, err := f.svc.Deliver(ctx, d)
			out <- outcome{i, res.Status, err}
		})
	}
	wg.Wait()
	close(out)
	for o := range out {
		var oe *release.OwnershipError
		switch {
		case o.i <= good && (o.err != nil || o.res != "accepted"):
			t.Errorf("delivery %d: %v, status %q; want accepted", o.i, o.err, o.res)
		case o.i > good && !errors.As(o.err, &oe):
			t.Errorf("foreign delivery %d: %v, status %q; want an ownership error", o.i, o.err, o.res)
		}
	}
	if got := f.logSize(t); got != good+1 {
		t.Fatalf("%d records in Kafka, want %d", got, good+1)
	}
	var version int64
	if err := f.pool.QueryRow(ctx, `select version from release_streams where stream_key = $1`, owned.UPC).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 1 {
		t.Fatalf("the owned release is at version %d after refused changes, want 1", version)
	}
}
