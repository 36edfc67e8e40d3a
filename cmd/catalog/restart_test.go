package main_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// restartRelease is release i at version v: every version changes the
// title, so each delivery after the first appends one metadata-changed event.
func restartRelease(i, v int) string {
	return fmt.Sprintf(`{"messageId":"r%d-v%d","upc":%q,"title":"Release %d v%d","artist":"Artist %d","label":"Label",
	  "tracks":[{"isrc":"GBRST%07d","title":"Track A","duration":"PT3M","disc":1,"number":1},
	            {"isrc":"GBRST%07d","title":"Track B","duration":"PT2M","disc":1,"number":2}],
	  "availability":[{"territory":"GB","download":"2020-01-01"}]}`,
		i, v, release.WithCheckDigit(fmt.Sprintf("0990%09d", i)), i, v, i, 2*i, 2*i+1)
}

// TestProjectorExactlyOnceAcrossSIGKILL kills the projector (SIGKILL, no
// shutdown code) twice while a stream of events is being produced and
// applied, restarts it each time, and shows that every event was applied
// exactly once: no release is missing a version, no event was applied a
// second time, and the stored offsets are exactly the end of the log.
func TestProjectorExactlyOnceAcrossSIGKILL(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	const releases, versions = 30, 20
	applied := func() int64 {
		var n int64
		// The table exists once the projector has migrated.
		// Each projection's own count: the least of the two, once both have one.
		_ = db.QueryRow(ctx, `select case when count(*) = 2 then min(n) else 0 end from (select sum(next_offset) as n
			from projection_checkpoints where generation = 1 and projection in ('track-details', 'identifiers') group by projection) p`).Scan(&n)
		return n
	}

	// Produce releases x versions deliveries, paced (about 30 s in all) so
	// both kills, and the restarts' rebalances, happen while events are
	// still arriving.
	var wg sync.WaitGroup
	wg.Add(1)
	produced := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(produced)
		for v := 1; v <= versions; v++ {
			for i := 0; i < releases; i++ {
				if r := deliver(t, s.ingest, restartRelease(i, v)); r.Status != "accepted" || r.Version != int64(v) {
					t.Errorf("release %d v%d: %+v", i, v, r)
					return
				}
				time.Sleep(40 * time.Millisecond)
			}
		}
	}()

	proj := s.start(t, "project")
	testenv.Eventually(t, 60*time.Second, func() error {
		if n := applied(); n < 60 {
			return fmt.Errorf("%d events applied", n)
		}
		return nil
	})
	before := applied()
	proj.kill(t)
	t.Logf("first SIGKILL after %d events applied", before)

	proj = s.start(t, "project")
	testenv.Eventually(t, 60*time.Second, func() error {
		if n := applied(); n < before+60 {
			return fmt.Errorf("%d events applied", n)
		}
		return nil
	})
	before = applied()
	proj.kill(t)
	t.Logf("second SIGKILL after %d events applied", before)
	select {
	case <-produced:
		t.Fatal("the producer finished before the second kill; the test did not kill mid-stream")
	default:
	}

	select {
	case <-produced:
	case <-time.After(2 * time.Minute):
		t.Fatal("producer did not finish")
	}
	wg.Wait()
	s.start(t, "project")

	total := int64(releases * versions)
	admin, err := events.NewAdmin(ctxT(t), events.KafkaConfig{Brokers: s.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	hw, err := admin.HighWatermarks(ctxT(t), s.prefix+"releases")
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	for _, v := range hw {
		end += v
	}
	if end != total {
		t.Fatalf("%d events in Kafka, want %d", end, total)
	}
	testenv.Eventually(t, 90*time.Second, func() error {
		if n := applied(); n != total {
			return fmt.Errorf("%d of %d events applied", n, total)
		}
		return nil
	})

	// Stored offsets are exactly the end of each partition, for each
	// projection (track-details and identifiers).
	for _, name := range []string{"track-details", "identifiers"} {
		rows, _ := db.Query(ctx, `select partition, next_offset, stale from projection_checkpoints where projection = $1 and generation = 1`, name)
		var p int32
		var next, stale int64
		var staleTotal int64
		parts := 0
		if _, err := pgx.ForEachRow(rows, []any{&p, &next, &stale}, func() error {
			parts++
			if next != hw[p] {
				t.Errorf("%s partition %d: stored offset %d, end of log %d", name, p, next, hw[p])
			}
			staleTotal += stale
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if parts != len(hw) {
			t.Errorf("%s has checkpoints of %d partitions, want %d", name, parts, len(hw))
		}
		// Nothing was delivered to the read model twice: after each restart
		// the projector resumed exactly at its stored offsets.
		if staleTotal != 0 {
			t.Errorf("%s: %d events were seen again after a restart", name, staleTotal)
		}
	}
	var idfAtLast int
	if err := db.QueryRow(ctx, `select count(*) from idf.releases where version = $1`, versions).Scan(&idfAtLast); err != nil || idfAtLast != releases {
		t.Errorf("%d releases of the identifiers read model at version %d, want %d (%v)", idfAtLast, versions, releases, err)
	}
	// Nothing was lost: every release reflects its last version.
	var n, atLast int
	if err := db.QueryRow(ctx, `select count(*), count(*) filter (where r.version = $1 and s.version = $1 and r.title like '% v' || $2)
		from td.releases r join release_streams s on s.stream_key = r.upc`, versions, fmt.Sprint(versions)).Scan(&n, &atLast); err != nil {
		t.Fatal(err)
	}
	if n != releases || atLast != releases {
		t.Errorf("%d releases in the read model, %d at version %d; want %d", n, atLast, versions, releases)
	}
	var tracks, lastTitles int
	if err := db.QueryRow(ctx, `select count(*), count(*) filter (where title in ('Track A', 'Track B')) from td.tracks`).
		Scan(&tracks, &lastTitles); err != nil {
		t.Fatal(err)
	}
	if tracks != 2*releases || lastTitles != 2*releases {
		t.Errorf("%d tracks (%d with their last title), want %d", tracks, lastTitles, 2*releases)
	}
}
