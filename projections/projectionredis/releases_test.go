package projectionredis_test

import (
	"context"
	"testing"
	"time"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionredis"
)

// TestVersionsOfDifferentReleasesAreNeverCompared: a legacy track id that
// two releases carry has versions of each; a fill or an invalidation of one
// release never wins over the other's entry or tombstone by version.
func TestVersionsOfDifferentReleasesAreNeverCompared(t *testing.T) {
	c, raw, gen := setup(t)
	ctx := context.Background()
	const albumID, compilationID = 1, 2
	inv := func(track int64, a projections.ReleaseVersion) {
		t.Helper()
		if err := c.Invalidate(ctx, gen, map[int64]projections.ReleaseVersion{track: a}); err != nil {
			t.Fatal(err)
		}
	}
	conflict := func(track int64) {
		t.Helper()
		v, err := raw.Get(ctx, key(t, raw, gen, track)).Result()
		if err != nil || v != "x" {
			t.Fatalf("track %d holds %q (%v), want the conflict tombstone", track, v, err)
		}
		pttl, err := raw.PTTL(ctx, key(t, raw, gen, track)).Result()
		if err != nil || pttl <= 0 || pttl > projectionredis.MaxTombstoneTTL {
			t.Fatalf("conflict tombstone PTTL = %v (%v), want in (0, %v]", pttl, err, projectionredis.MaxTombstoneTTL)
		}
	}

	// An entry of the album at v5 is not replaced by the compilation's v9:
	// 9 > 5 says nothing.
	mustFillOf(t, c, gen, 1, at(albumID, 5), []byte("album v5"), true)
	mustFillOf(t, c, gen, 1, at(compilationID, 9), []byte("compilation v9"), false)
	mustGetOf(t, c, gen, 1, true, at(albumID, 5), []byte("album v5"))
	// An invalidation of the compilation at v3 (lower than 5) replaces it,
	// with a tombstone that refuses every fill, of either release.
	inv(1, at(compilationID, 3))
	mustGetOf(t, c, gen, 1, false, at(0, 0), nil)
	conflict(1)
	mustFillOf(t, c, gen, 1, at(albumID, 6), []byte("album v6"), false)
	mustFillOf(t, c, gen, 1, at(compilationID, 3), []byte("compilation v3"), false)
	mustFillOf(t, c, gen, 1, at(compilationID, 4), []byte("compilation v4"), false)
	// Further invalidations keep it a conflict tombstone and set its expiry again.
	if err := raw.PExpire(ctx, key(t, raw, gen, 1), time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	inv(1, at(albumID, 7))
	conflict(1)
	if pttl := raw.PTTL(ctx, key(t, raw, gen, 1)).Val(); pttl <= time.Second {
		t.Fatalf("an invalidation over a conflict tombstone left its PTTL at %v", pttl)
	}

	// A tombstone of the album at v5 refuses the compilation's fills,
	// whatever their version.
	inv(2, at(albumID, 5))
	mustFillOf(t, c, gen, 2, at(compilationID, 7), []byte("compilation v7"), false)
	mustFillOf(t, c, gen, 2, at(compilationID, 1), []byte("compilation v1"), false)
	// The compilation's invalidation then makes it a conflict: a late fill of
	// the album at v5 (read before the compilation's commit) is refused too.
	inv(2, at(compilationID, 2))
	conflict(2)
	mustFillOf(t, c, gen, 2, at(albumID, 5), []byte("album v5"), false)

	// Within one release the rules are unchanged: a tombstone of the album
	// at v5 lets the album's v5 in, and a higher invalidation of the same
	// release is an ordinary tombstone.
	inv(3, at(albumID, 5))
	mustFillOf(t, c, gen, 3, at(albumID, 4), []byte("album v4"), false)
	mustFillOf(t, c, gen, 3, at(albumID, 5), []byte("album v5"), true)
	inv(3, at(albumID, 6))
	if v := raw.Get(ctx, key(t, raw, gen, 3)).Val(); v != "t1:6:" {
		t.Fatalf("track 3 holds %q, want the album's tombstone t1:6:", v)
	}
	// Release ids compare exactly too: 10 is not 1 followed by anything.
	mustFillOf(t, c, gen, 4, at(1, 5), []byte("r1"), true)
	mustFillOf(t, c, gen, 4, at(10, 5), []byte("r10"), false)
	mustFillOf(t, c, gen, 4, at(10, 6), []byte("r10"), false)
	mustGetOf(t, c, gen, 4, true, at(1, 5), []byte("r1"))
}

// TestFillOfAnOldReadIsRefused: a row read from PostgreSQL longer ago than
// a tombstone lives may predate a commit whose tombstone has expired, so it
// is not stored.
func TestFillOfAnOldReadIsRefused(t *testing.T) {
	_, _, gen := setup(t)
	c := newCache(t, projectionredis.Config{Addr: redisAddr(), TTL: 2 * time.Second, Timeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	stored, err := c.Fill(ctx, gen, 1, at(rel, 1), []byte("old read"), time.Now().Add(-3*time.Second))
	if err != nil || stored {
		t.Fatalf("Fill of a row read 3 s ago with 2 s tombstones: stored=%v err=%v, want refused", stored, err)
	}
	mustFillOf(t, c, gen, 1, at(rel, 1), []byte("fresh read"), true)
}
