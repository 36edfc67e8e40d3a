package api

import (
	"strconv"
	"strings"
)

// MaxPurgeKeys bounds the surrogate keys PurgeKeys returns for one event:
// Fastly's purge API takes at most 256 keys in one request, and a purger
// sends one request per event.
const MaxPurgeKeys = 256

// PurgeKeys returns the Surrogate-Key values a CDN must purge once a change
// to a release is committed to the read model the API serves: release-<id>,
// which every answer about the release carries (200s and 404 2002s alike),
// and, for the tracks and barcode the change names, the keys of the answers
// that did not know the release yet (404 2001s for a track id, an ISRC or a
// barcode it now has). Keys over MaxPurgeKeys are dropped after release-<id>
// and the barcode's keys: the answers they tag also carry release-<id>
// unless they are 404 2001s, which live 10 s at most.
func PurgeKeys(releaseID int64, upc string, trackIDs []int64, isrcs []string) []string {
	keys := []string{releaseKey(releaseID)}
	if upc != "" {
		for _, f := range upcForms(upc) {
			keys = append(keys, "upc-"+f)
		}
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		seen[k] = true
	}
	add := func(k string) {
		if !seen[k] && len(keys) < MaxPurgeKeys {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, id := range trackIDs {
		add(trackKey(id))
	}
	for _, isrc := range isrcs {
		if isrc = strings.ToUpper(strings.ReplaceAll(isrc, "-", "")); isrc != "" {
			add(isrcKey(isrc))
		}
	}
	return keys
}

func trackKey(id int64) string   { return "track-" + strconv.FormatInt(id, 10) }
func releaseKey(id int64) string { return "release-" + strconv.FormatInt(id, 10) }
func isrcKey(isrc string) string { return "isrc-" + isrc }
