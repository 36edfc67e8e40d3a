package identifierspg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers/identifierspg"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

const (
	label       = "PADPIDA2014072901K"
	distributor = "PADPIDA2007040502I"
	other       = "PADPIDA0000000OTH"
)

func item(off int64, seq int64, ev release.Payload) projections.Item {
	key := fmt.Sprint(ev.Release())
	return projections.Item{Record: events.Record{Topic: "releases", Offset: off, Key: []byte(key), Value: []byte(`{}`)}, Key: key,
		Change: &projections.Change{Sequence: seq, Event: ev}}
}

func track(id int64, isrc string, n int) release.TrackInfo {
	return release.TrackInfo{TrackID: id, ISRC: isrc, Title: fmt.Sprint("Track ", n), Artist: "A", DurationSeconds: 200, Disc: 1, Number: n}
}

// logOf is a small log: an album and a compilation sharing a recording,
// a GRid-only single, 25 releases of one label, a transfer and a purge.
func logOf() []projections.Item {
	var its []projections.Item
	add := func(seq int64, ev release.Payload) { its = append(its, item(int64(len(its)), seq, ev)) }
	add(1, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", Title: "Album", Artist: "A", Label: "Capitol"},
		Tracks: []release.TrackInfo{track(11, "USCA29600191", 1), track(12, "USCA29600192", 2)}, Deals: []release.Deal{}, Owners: []string{distributor, label}})
	add(1, release.Delivered{ReleaseID: 2, Metadata: release.Metadata{UPC: "5012345678900", Title: "Compilation", Artist: "Various"},
		Tracks: []release.TrackInfo{track(21, "USCA29600191", 7)}, Deals: []release.Deal{}, Owners: []string{other}})
	add(1, release.Delivered{ReleaseID: 3, Metadata: release.Metadata{GRid: "A10302B0001234568B", Title: "Single", Artist: "B"},
		Tracks: []release.TrackInfo{track(31, "GBAYE0601498", 1)}, Deals: []release.Deal{}, Owners: []string{label}})
	for i := int64(100); i < 125; i++ {
		add(1, release.Delivered{ReleaseID: i, Metadata: release.Metadata{UPC: fmt.Sprintf("%013d", 4000000000000+i), Title: fmt.Sprint("R", i), Artist: "C"},
			Tracks: []release.TrackInfo{track(i*10, fmt.Sprintf("GBAAA%07d", i), 1)}, Deals: []release.Deal{}, Owners: []string{label}})
	}
	add(2, release.DealsReplaced{ReleaseID: 1, Deals: []release.Deal{}})
	add(3, release.TracksChanged{ReleaseID: 1, Tracks: []release.TrackInfo{track(11, "USCA29600191", 1)}})
	add(2, release.OwnersChanged{ReleaseID: 120, Owners: []string{other}})
	add(2, release.Purged{ReleaseID: 121})
	// A deal change as a release's last event.
	add(2, release.DealsReplaced{ReleaseID: 3, Deals: []release.Deal{}})
	// A duplicate of an applied event changes nothing.
	add(1, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{Title: "duplicate"}})
	return its
}

// liveIdentifiers is a migrated database with the identifiers model and
// its empty live generation.
func liveIdentifiers(t *testing.T) (*pgxpool.Pool, *identifierspg.Store, projectionpg.Generation) {
	t.Helper()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s, err := identifierspg.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.EnsureLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return pool, s, live
}

// apply feeds its to generation gen in batches of n, each with its
// checkpoint.
func apply(t *testing.T, s *identifierspg.Store, gen int, its []projections.Item, n int) {
	t.Helper()
	for i := 0; i < len(its); i += n {
		end := min(i+n, len(its))
		if _, err := s.Writer(gen).Apply(context.Background(), projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: int64(end)}, its[i:end]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLookups folds a log into the identifiers read model on the real
// Postgres and looks it up as partners do: by ISRC (every track carrying
// it, each with its release), by any barcode spelling, by GRid, and by
// party, paged in a stable order.
func TestLookups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s, live := liveIdentifiers(t)
	apply(t, s, live.Number, logOf(), 7)

	ts, err := s.TracksByISRC(ctx, "USCA29600191")
	if err != nil || len(ts) != 2 || ts[0].ID != 11 || ts[0].ReleaseID != 1 || ts[1].ID != 21 || ts[1].ReleaseID != 2 || ts[1].Number != 7 {
		t.Errorf("by ISRC: %+v %v", ts, err)
	}
	if ts, err := s.TracksByISRC(ctx, "USCA29600192"); err != nil || len(ts) != 0 {
		t.Errorf("a track removed from its release is still found: %+v %v", ts, err)
	}
	for _, gtin := range []string{"00724349501058"} {
		r, found, err := s.ReleaseByGTIN(ctx, gtin)
		if err != nil || !found || r.ID != 1 || r.UPC != "724349501058" || r.Sequence != 3 || len(r.Tracks) != 1 || r.Tracks[0].ISRC != "USCA29600191" ||
			!slices.Equal(r.Owners, []string{distributor, label}) || r.Title != "Album" {
			t.Errorf("by GTIN %s: %+v %v %v", gtin, r, found, err)
		}
	}
	if r, found, err := s.ReleaseByGRid(ctx, "A10302B0001234568B"); err != nil || !found || r.ID != 3 || len(r.Tracks) != 1 {
		t.Errorf("by GRid: %+v %v %v", r, found, err)
	}
	if _, found, err := s.ReleaseByGTIN(ctx, "04000000000121"); err != nil || found {
		t.Errorf("a purged release is found: %v %v", found, err)
	}

	// The label owns 1, 3 and 100..124 less the transferred 120 and the
	// purged 121: 25 releases, in release id order, 10 a page.
	var got []int64
	for page := 1; page <= 3; page++ {
		rs, total, err := s.ReleasesByParty(ctx, label, page, 10)
		if err != nil || total != 25 {
			t.Fatalf("party page %d: total %d %v", page, total, err)
		}
		for _, r := range rs {
			got = append(got, r.ID)
		}
	}
	var want []int64 = []int64{1, 3}
	for i := int64(100); i < 125; i++ {
		if i != 120 && i != 121 {
			want = append(want, i)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("label's releases = %v, want %v", got, want)
	}
	if rs, total, err := s.ReleasesByParty(ctx, other, 1, 10); err != nil || total != 2 || rs[0].ID != 2 || rs[1].ID != 120 {
		t.Errorf("other party's releases: %+v %d %v", rs, total, err)
	}
	if _, _, err := s.ReleasesByParty(ctx, label, 1, identifierspg.MaxPageSize+1); err == nil {
		t.Error("a page over the bound is served")
	}
}

// TestRebuildIsIndependent rebuilds the identifiers projection beside
// track-details on one database: the rebuilt generation hashes like the
// live one, and track-details' generations, checkpoints and rows are
// untouched throughout.
func TestRebuildIsIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s, live := liveIdentifiers(t)
	td, err := trackdetailspg.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	tdLive, err := td.EnsureLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	its := logOf()
	if _, err := td.Writer(tdLive.Number).Apply(ctx, projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: int64(len(its))}, its); err != nil {
		t.Fatal(err)
	}
	tdHash, err := td.Hash(ctx, tdLive.Number)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, live.Number, its, 5)
	liveHash, err := s.Hash(ctx, live.Number)
	if err != nil {
		t.Fatal(err)
	}

	next, err := s.StartRebuild(ctx, false, projections.Target{})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, next.Number, its, 3) // other batch boundaries, same result
	if err := s.BuildIndexes(ctx, next.Number); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Hash(ctx, next.Number); err != nil || h != liveHash {
		t.Fatalf("rebuilt hash %s, live %s (%v)", h, liveHash, err)
	}
	if _, err := s.Swap(ctx, next.Number); err != nil {
		t.Fatal(err)
	}
	if r, found, err := s.ReleaseByGTIN(ctx, "00724349501058"); err != nil || !found || r.ID != 1 {
		t.Errorf("look-up after the swap: %+v %v %v", r, found, err)
	}
	var gen int
	if err := pool.QueryRow(ctx, `select generation from idf.releases limit 1`).Scan(&gen); err != nil || gen != next.Number {
		t.Errorf("idf views show generation %d, want %d (%v)", gen, next.Number, err)
	}
	if g, err := td.EnsureLive(ctx); err != nil || g.Number != tdLive.Number {
		t.Errorf("track-details live generation after the identifiers rebuild: %+v %v", g, err)
	}
	if h, err := td.Hash(ctx, tdLive.Number); err != nil || h != tdHash {
		t.Errorf("track-details rows changed by the identifiers rebuild: %v", err)
	}
	if cps, err := td.Checkpoints(ctx, tdLive.Number); err != nil || len(cps) != 1 || cps[0].Next != int64(len(its)) {
		t.Errorf("track-details checkpoints: %+v %v", cps, err)
	}
}

// TestReadsDuringSwaps reads the identifiers read model from several
// goroutines while rebuilds are swapped in one after another: no read
// fails (a read and a swap taking the views' locks in different orders
// deadlock, and Postgres aborts one of them).
func TestReadsDuringSwaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s, live := liveIdentifiers(t)
	its := logOf()
	apply(t, s, live.Number, its, len(its))

	stop := make(chan struct{})
	errs := make(chan error, 1000)
	var wg sync.WaitGroup
	var reads atomic.Int64
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch w % 3 {
				case 0:
					_, _, err = s.ReleaseByGTIN(ctx, "00724349501058")
				case 1:
					_, err = s.TracksByISRC(ctx, "USCA29600191")
				case 2:
					_, _, err = s.ReleasesByParty(ctx, label, 1, 10)
				}
				reads.Add(1)
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	for i := 0; i < 15; i++ {
		next, err := s.StartRebuild(ctx, false, projections.Target{})
		if err != nil {
			t.Fatal(err)
		}
		apply(t, s, next.Number, its, len(its))
		if err := s.BuildIndexes(ctx, next.Number); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Swap(ctx, next.Number); err != nil {
			t.Errorf("swap %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a read during the swaps failed: %v", err)
	}
	t.Logf("%d reads during 15 swaps", reads.Load())
}

// record encodes ev as the log carries it.
func record(t *testing.T, off, seq int64, key string, ev release.Payload) events.Record {
	t.Helper()
	env, err := events.NewEnvelope(ev.EventType(), release.SchemaVersions[ev.EventType()], "/test", key, seq, time.Now(), "", ev)
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Topic: "releases", Offset: off, Key: []byte(key), Value: env.Data, Headers: env.Headers()}
}

// TestPoisonParkedUnderIdentifiers: a poison record and the events behind
// it are parked under the identifiers projection (not track-details'),
// the rest of the batch is applied, and a retry with a repaired payload
// applies the queue in order.
func TestPoisonParkedUnderIdentifiers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s, live := liveIdentifiers(t)
	td, err := trackdetailspg.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	good := release.Delivered{ReleaseID: 7, Metadata: release.Metadata{UPC: "5012345678900", Title: "Repaired"},
		Tracks: []release.TrackInfo{track(71, "GBAAA0000071", 1)}, Deals: []release.Deal{}, Owners: []string{label}}
	poison := record(t, 0, 1, "K", good)
	poison.Value = []byte(`{"releaseId": "seven"`)
	behind := record(t, 1, 2, "K", release.OwnersChanged{ReleaseID: 7, Owners: []string{other}})
	next := record(t, 2, 1, "L", release.Delivered{ReleaseID: 8, Metadata: release.Metadata{GRid: "A1", Title: "Other"},
		Tracks: []release.TrackInfo{track(81, "GBAAA0000081", 1)}, Deals: []release.Deal{}})
	var items []projections.Item
	for _, r := range []events.Record{poison, behind, next} {
		it := projections.Item{Record: r, Key: string(r.Key)}
		c, _, err := projections.Decode(r)
		if err != nil {
			it.Poison = err.Error()
		} else {
			it.Change = &c
		}
		items = append(items, it)
	}
	res, err := s.Writer(live.Number).Apply(ctx, projections.Checkpoint{Topic: "releases", NextOffset: 3}, items)
	if err != nil || res.Parked != 2 || res.Applied != 1 {
		t.Fatalf("apply: %+v %v", res, err)
	}
	parked, err := s.ListParked(ctx)
	if err != nil || len(parked) != 2 || parked[0].Key != "K" || parked[1].Behind == nil {
		t.Fatalf("identifiers' parked events: %+v %v", parked, err)
	}
	if p, err := td.ListParked(ctx); err != nil || len(p) != 0 {
		t.Errorf("track-details sees identifiers' parked events: %+v %v", p, err)
	}
	if _, found, _ := s.ReleaseByGRid(ctx, "A1"); !found {
		t.Error("the event of another release was not applied")
	}

	repaired, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplacePayload(ctx, parked[0].ID, repaired); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Retry(ctx, parked[0].ID); err != nil || n != 2 {
		t.Fatalf("retry: %d %v", n, err)
	}
	r, found, err := s.ReleaseByGTIN(ctx, "05012345678900")
	if err != nil || !found || r.Title != "Repaired" || !slices.Equal(r.Owners, []string{other}) || r.Sequence != 2 {
		t.Errorf("after the retry: %+v %v %v", r, found, err)
	}
	if p, err := s.ListParked(ctx); err != nil || len(p) != 0 {
		t.Errorf("still parked after the retry: %+v %v", p, err)
	}
}

// TestContentIsIndependentOfBatches folds the log event by event and in
// one batch into two generations: the same content (a crash, a restart or
// another projector process cuts the log into other batches).
func TestContentIsIndependentOfBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s, live := liveIdentifiers(t)
	its := logOf()
	apply(t, s, live.Number, its, 1)
	next, err := s.StartRebuild(ctx, false, projections.Target{})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, next.Number, its, len(its))
	a, err := s.Hash(ctx, live.Number)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := s.Hash(ctx, next.Number); err != nil || a != b {
		t.Errorf("event by event: %s; in one batch: %s (%v)", a, b, err)
	}
}

// TestTracklistWritesChangedRows replaces a release's tracklist with one
// that retitles one track, drops one and adds one: only the rows of the
// retitled and the new track are written (the kept track's row keeps the
// xmin of the transaction that wrote it), the dropped track's row goes.
func TestTracklistWritesChangedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, s, live := liveIdentifiers(t)
	rows := func() map[int64]string {
		t.Helper()
		out := map[int64]string{}
		q, err := pool.Query(ctx, fmt.Sprintf(`select track_id, xmin::text || ' ' || title from idf_g%d.tracks where release_id = 1`, live.Number))
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		var v string
		if _, err := pgx.ForEachRow(q, []any{&id, &v}, func() error { out[id] = v; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	retitled := track(12, "USCA29600192", 2)
	retitled.Title = "Renamed"
	apply(t, s, live.Number, []projections.Item{
		item(0, 1, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", Title: "Album", Artist: "A"},
			Tracks: []release.TrackInfo{track(11, "USCA29600191", 1), track(12, "USCA29600192", 2), track(13, "USCA29600193", 3)}, Deals: []release.Deal{}}),
	}, 1)
	before := rows()
	apply(t, s, live.Number, []projections.Item{
		item(1, 2, release.TracksChanged{ReleaseID: 1, Tracks: []release.TrackInfo{track(11, "USCA29600191", 1), retitled, track(14, "USCA29600194", 4)}}),
	}, 1)
	after := rows()
	if after[11] != before[11] {
		t.Errorf("the kept track's row was rewritten: %q, was %q", after[11], before[11])
	}
	if _, gone := after[13]; gone || len(after) != 3 {
		t.Errorf("rows after the change: %v", after)
	}
	for _, id := range []int64{12, 14} {
		if after[id] == "" || after[id] == before[id] || strings.Fields(after[id])[0] == strings.Fields(before[11])[0] {
			t.Errorf("track %d: row %q, was %q: not written by the change", id, after[id], before[id])
		}
	}
}
