package ingest_test

import (
	"net/http"
	"strings"
	"testing"
)

// compilation carries USCA29600191, the first track of validRelease, as
// its second track, beside a recording of its own.
const compilation = `{
  "messageId": "comp-1",
  "upc": "5012345678900",
  "title": "Best of the Nineties",
  "artist": "Various Artists",
  "label": "Compilations Ltd",
  "tracks": [
    {"isrc": "GBAAA9600001", "title": "Other Song", "artist": "Other Band", "duration": "PT3M00S", "disc": 1, "number": 1},
    {"isrc": "USCA29600191", "title": "I Love You", "artist": "The Dandy Warhols", "duration": "PT4M12S", "disc": 1, "number": 2}
  ],
  "availability": [{"territory": "GB", "download": "2001-01-01"}]
}`

// TestSameISRCOnTwoReleasesIsTwoTracks: a compilation carrying an album's
// recording gets a track id of its own for it; the album keeps its id, a
// resend of the album changes nothing, and a resend of the compilation
// keeps the compilation's ids.
func TestSameISRCOnTwoReleasesIsTwoTracks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status, album := f.post(t, "application/json", validRelease)
	if status != http.StatusAccepted {
		t.Fatalf("album: %d %v", status, album)
	}
	status, comp := f.post(t, "application/json", compilation)
	if status != http.StatusAccepted {
		t.Fatalf("compilation: %d %v", status, comp)
	}
	albumIDs, compIDs := album["trackIds"].(map[string]any), comp["trackIds"].(map[string]any)
	shared := "USCA29600191"
	if albumIDs[shared] == nil || compIDs[shared] == nil || albumIDs[shared] == compIDs[shared] {
		t.Fatalf("the shared recording has ids %v (album) and %v (compilation): want two tracks", albumIDs[shared], compIDs[shared])
	}
	seen := map[any]string{}
	for _, ids := range []map[string]any{albumIDs, compIDs} {
		for isrc, id := range ids {
			if other, dup := seen[id]; dup {
				t.Errorf("track id %v names both %s and %s", id, other, isrc)
			}
			seen[id] = isrc
		}
	}

	status, again := f.post(t, "application/json", strings.Replace(validRelease, `"msg-1"`, `"msg-2"`, 1))
	if status != http.StatusOK || again["status"] != "unchanged" {
		t.Fatalf("album resend: %d %v", status, again)
	}
	status, compAgain := f.post(t, "application/json", strings.Replace(compilation, `"Best of the Nineties"`, `"Best of the 90s"`, 1))
	if status != http.StatusAccepted {
		t.Fatalf("compilation update: %d %v", status, compAgain)
	}
	for isrc, id := range compAgain["trackIds"].(map[string]any) {
		if compIDs[isrc] != id {
			t.Errorf("compilation track %s id changed from %v to %v", isrc, compIDs[isrc], id)
		}
	}
	if n := f.logSize(t); n != 3 {
		t.Errorf("%d records in Kafka, want 3 (album, compilation, compilation metadata)", n)
	}
}
