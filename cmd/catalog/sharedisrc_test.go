package main_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/testenv"
)

// dandyCompilation carries the first recording of dandyRelease.
const dandyCompilation = `{
  "messageId": "e2e-comp-1",
  "upc": "5012345678900",
  "title": "Now That's What I Call 1997",
  "artist": "Various Artists",
  "label": "Compilations Ltd",
  "tracks": [
    {"isrc": "GBAAA9700001", "title": "Other Song", "artist": "Other Band", "duration": "PT3M00S", "disc": 1, "number": 1},
    {"isrc": "USCA29600191", "title": "I Love You", "artist": "The Dandy Warhols", "duration": "PT4M12S", "disc": 1, "number": 2}
  ],
  "availability": [{"territory": "GB", "download": "2001-01-01"}]
}`

// TestCompilationSharingAnISRC: an album and, right behind it, a
// compilation carrying one of its recordings are two tracks through the
// gateway, each with its own release, and the partition flows on: a later
// update of another release becomes visible.
func TestCompilationSharingAnISRC(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	key := strings.TrimSpace(s.run(t, "clients", "add", "e2e"))
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")

	album := deliver(t, s.ingest, dandyRelease)
	comp := deliver(t, s.ingest, dandyCompilation)
	albumTrack, compTrack := album.TrackIDs["USCA29600191"], comp.TrackIDs["USCA29600191"]
	if albumTrack == 0 || compTrack == 0 || albumTrack == compTrack {
		t.Fatalf("the recording's track ids: album %d, compilation %d; want two tracks", albumTrack, compTrack)
	}
	later := deliver(t, s.ingest, strings.Replace(dandyCompilation, "Now That's What I Call 1997", "Now 1997", 1))

	details := func(id int64) xmlResponse {
		var r xmlResponse
		testenv.Eventually(t, 30*time.Second, func() error {
			status, _, b := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB&oauth_consumer_key=%s", s.gateway, id, url.QueryEscape(key)))
			if status != http.StatusOK {
				return fmt.Errorf("track %d: status %d: %s", id, status, b)
			}
			r = parse(t, b)
			if r.Track != nil && r.Track.Release.Barcode == "5012345678900" && r.Track.Release.Title != "Now 1997" {
				return fmt.Errorf("track %d: the compilation's update (version %d) is not visible yet", id, later.Version)
			}
			return nil
		})
		return r
	}
	if a := details(albumTrack).Track; a == nil || a.Release.Barcode != "00724349501058" || a.Number != 5 {
		t.Errorf("album track = %+v", a)
	}
	if c := details(compTrack).Track; c == nil || c.Release.Barcode != "5012345678900" || c.Release.Title != "Now 1997" || c.Number != 2 {
		t.Errorf("compilation track = %+v", c)
	}
}
