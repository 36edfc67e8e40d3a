package trackdetailspg_test

import (
	"context"
	"testing"
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
