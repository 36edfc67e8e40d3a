package ingestpg

import (
	"context"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/pgmigrate"
	"github.com/catalog-org/catalog/testenv"
)

// TestLegacySharedTrackIDsStayWithTheLowestRelease: a write side written
// when track ids were one per ISRC, where releases 1 and 2 (in that order
// of id, delivered in the other order) share track 7, migrates so that
// release 1 keeps 7 and release 2 gets a fresh id on its next delivery.
func TestLegacySharedTrackIDsStayWithTheLowestRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	if err := eventpg.MigrateOutbox(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := pgmigrate.MigrateTo(ctx, pool, "ingest_schema_version", migrations, 2); err != nil {
		t.Fatal(err)
	}
	legacy := []struct {
		key    string
		tracks string
	}{
		{"0000000000017", `[{"trackId": 8, "isrc": "GBAAA0000008"}, {"trackId": 7, "isrc": "GBAAA0000007"}]`},
		{"0000000000024", `[{"trackId": 7, "isrc": "GBAAA0000007"}, {"trackId": 9, "isrc": "GBAAA0000009"}]`},
	}
	for _, l := range legacy {
		if _, err := pool.Exec(ctx, `insert into release_streams (stream_key, version, state) values ($1, 1, jsonb_build_object('tracks', $2::jsonb))`,
			l.key, l.tracks); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `insert into release_identifiers (kind, value, stream_key) values ('upc', $1, $1)`, l.key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `insert into track_ids (isrc, track_id) overriding system value values
		('GBAAA0000007', 7), ('GBAAA0000008', 8), ('GBAAA0000009', 9)`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store, _ := New(pool)
	assign := func(key string, isrcs ...string) (int64, map[string]int64) {
		var rid int64
		got := map[string]int64{}
		_, err := store.Update(ctx, ingest.StreamRef{UPC: key}, false, func(ctx context.Context, st ingest.Stream, ids ingest.IDAssigner) (ingest.Change, error) {
			rid = st.State.ReleaseID
			var codes []release.ISRC
			for _, c := range isrcs {
				codes = append(codes, release.MustParseISRC(c))
			}
			a, err := ids.AssignIDs(ctx, st.State.ReleaseID, nil, codes)
			for k, v := range a.Tracks {
				got[k.String()] = v
			}
			return ingest.Change{Next: st.State}, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return rid, got
	}
	// release_streams ids follow insertion: 0000000000017 is the lower.
	r1, first := assign("0000000000017", "GBAAA0000008", "GBAAA0000007")
	r2, second := assign("0000000000024", "GBAAA0000007", "GBAAA0000009")
	if r1 >= r2 {
		t.Fatalf("release ids %d, %d: want the first stream lower", r1, r2)
	}
	if first["GBAAA0000007"] != 7 || first["GBAAA0000008"] != 8 {
		t.Errorf("release %d (lowest) ids = %v, want its legacy ids 7 and 8", r1, first)
	}
	if second["GBAAA0000009"] != 9 {
		t.Errorf("release %d keeps its unshared legacy id 9: %v", r2, second)
	}
	if id := second["GBAAA0000007"]; id == 7 || id <= 9 {
		t.Errorf("release %d's copy of the shared recording has id %d, want a fresh id above every legacy id", r2, id)
	}
}
