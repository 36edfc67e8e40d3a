package trackdetailspg_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

// TestFreshReleasesCopiedOrUpserted replays a log into a shadow generation
// (its releases are new to it: written with COPY) and again into one that
// already holds a row of a release the log delivers first (the COPY meets
// it, rolls back to its savepoint, and the batch's new releases are
// upserted instead); both hash as a third replay of the log does.
func TestFreshReleasesCopiedOrUpserted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newBenchLog(30)
	clean, _, _ := finalRows(t, l)
	want, err := clean.store.Hash(ctx, clean.gen)
	if err != nil {
		t.Fatal(err)
	}

	copied := newShadow(t)
	if _, err := replay(ctx, copied.store.Writer(copied.gen), l); err != nil {
		t.Fatal(err)
	}
	met := newShadow(t)
	// A row of release 1's first track, written before the release's
	// first delivery is applied: the COPY of tracks meets it.
	if _, err := met.pool.Exec(ctx, `insert into `+met.table("tracks").Sanitize()+` (track_id, release_id, isrc, title, artist_id, artist_name,
		duration_s, disc, number, version) values (1, 1, 'XX', 'stale', 1, 'stale', 1, 1, 1, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := replay(ctx, met.store.Writer(met.gen), l); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]shadow{"copied": copied, "upserted after a COPY met a row": met} {
		if err := s.store.BuildIndexes(ctx, s.gen); err != nil {
			t.Fatal(err)
		}
		got, err := s.store.Hash(ctx, s.gen)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: hash %s, want %s", name, got, want)
		}
	}
}

// TestWritesChangedTracksOnly applies a release's delivery, then, in
// batches of their own, a new release title (no track row changes), a new
// title on one track, and a tracklist without its last track: each batch
// writes the release's row and only the track rows it changed (a row's
// xmin, the transaction that wrote it, moves for those alone), deletes the
// removed track's row, and the generation ends as one batch of all four
// leaves it.
func TestWritesChangedTracksOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := benchDelivered(0)
	retitled := slices.Clone(first.Tracks)
	retitled[2].Title = "A new title"
	log := []projections.Change{
		{Sequence: 1, Event: first},
		{Sequence: 2, Event: release.MetadataChanged{ReleaseID: 1, Metadata: release.Metadata{Title: "Renamed", Artist: "A"}, ArtistID: 1}},
		{Sequence: 3, Event: release.TracksChanged{ReleaseID: 1, Tracks: retitled}},
		{Sequence: 4, Event: release.TracksChanged{ReleaseID: 1, Tracks: retitled[:len(retitled)-1]}},
	}
	apply := func(s shadow, changes []projections.Change) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			_, err := trackdetailspg.Model{}.Apply(ctx, tx, s.gen, changes)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		xmin    string
		version int64
	}
	tracks := func(s shadow) map[int64]row {
		t.Helper()
		out := map[int64]row{}
		rows, err := s.pool.Query(ctx, `select track_id, xmin::text, version from `+s.table("tracks").Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		var r row
		if _, err := pgx.ForEachRow(rows, []any{&id, &r.xmin, &r.version}, func() error { out[id] = r; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}

	apart := newShadow(t)
	apply(apart, log[:1])
	delivered := tracks(apart)
	apply(apart, log[1:2])
	if got := tracks(apart); !reflect.DeepEqual(got, delivered) {
		t.Errorf("a new release title rewrote track rows:\n%v\nwere\n%v", got, delivered)
	}
	apply(apart, log[2:3])
	for id, r := range tracks(apart) {
		was := delivered[id]
		if id == first.Tracks[2].TrackID {
			if r.xmin == was.xmin || r.version != 3 {
				t.Errorf("retitled track %d: xmin %s (was %s), version %d, want a new row at 3", id, r.xmin, was.xmin, r.version)
			}
		} else if r != was {
			t.Errorf("track %d, unchanged, was rewritten: %+v, was %+v", id, r, was)
		}
	}
	apply(apart, log[3:])
	got := tracks(apart)
	if _, ok := got[first.Tracks[len(first.Tracks)-1].TrackID]; ok || len(got) != len(first.Tracks)-1 {
		t.Errorf("after the last track's removal: %d rows, the removed one among them: %v", len(got), ok)
	}

	together := newShadow(t)
	apply(together, log)
	for _, s := range []shadow{apart, together} {
		if err := s.store.BuildIndexes(ctx, s.gen); err != nil {
			t.Fatal(err)
		}
	}
	a, err := apart.store.Hash(ctx, apart.gen)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := together.store.Hash(ctx, together.gen); err != nil || a != b {
		t.Errorf("four batches hash %s, one batch %s (%v)", a, b, err)
	}
}
