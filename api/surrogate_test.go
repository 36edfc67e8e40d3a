package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/api"
)

// TestEveryAnswerOfAReleaseIsPurgeable checks the caching contract a CDN
// purger relies on: every cacheable answer about a release (200s and 404
// 2002s on every route) carries at least one key of the purge a change of
// that release sends. A change that names only the release (new deals, a
// takedown) must reach the "not available" answers too.
func TestEveryAnswerOfAReleaseIsPurgeable(t *testing.T) {
	t.Parallel()
	unavailable := stored{track: fixtureTrack(), offers: map[string]offers{}}
	unavailable.track.ID, unavailable.track.ISRC = 777, "GBAYE6900477"
	unavailable.track.Release.ID, unavailable.track.Release.UPC = 900, "5099902988023"
	h := newServer(t, newFakeCatalogue(fixtureStored(), unavailable))

	// A deal change names only the release: its purge is release-<id>.
	onlyRelease := map[int64][]string{1302: api.PurgeKeys(1302, "", nil, nil), 900: api.PurgeKeys(900, "", nil, nil)}
	for _, tc := range []struct {
		target  string
		release int64
		status  int
	}{
		{"/1.2/track/details?trackId=12345", 1302, http.StatusOK},
		{"/1.2/track/details/isrc?isrc=USCA29600191", 1302, http.StatusOK},
		{"/1.2/release/details/upc?upc=00724349501058", 1302, http.StatusOK},
		{"/1.2/track/details?trackId=777", 900, http.StatusNotFound},
		{"/1.2/track/details/isrc?isrc=GBAYE6900477", 900, http.StatusNotFound},
		{"/1.2/release/details/upc?upc=5099902988023", 900, http.StatusNotFound},
	} {
		rec := get(t, h, tc.target)
		got := strings.Fields(rec.Header().Get("Surrogate-Key"))
		if rec.Code != tc.status || !slices.ContainsFunc(got, func(k string) bool { return slices.Contains(onlyRelease[tc.release], k) }) {
			t.Errorf("%s: %d, Surrogate-Key %q shares no key with the purge of release %d %q", tc.target, rec.Code, got, tc.release, onlyRelease[tc.release])
		}
	}
}

// TestPurgeKeysOfADelivery checks that a delivery's purge reaches the
// cached "not found" answers of the ids, ISRCs and barcode spellings it
// brings, and that the list is bounded.
func TestPurgeKeysOfADelivery(t *testing.T) {
	t.Parallel()
	got := api.PurgeKeys(40, "724349501058", []int64{7, 8}, []string{"us-ca2-96-00191"})
	want := []string{"release-40", "upc-724349501058", "upc-0724349501058", "upc-00724349501058", "track-7", "track-8", "isrc-USCA29600191"}
	if !slices.Equal(got, want) {
		t.Errorf("PurgeKeys = %q, want %q", got, want)
	}
	ids := make([]int64, 1000)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	if n := len(api.PurgeKeys(40, "", ids, nil)); n != api.MaxPurgeKeys {
		t.Errorf("%d keys for 1000 tracks, want the bound %d", n, api.MaxPurgeKeys)
	}
}
