// Package identifiers is the identifiers projection's pure part: the fold
// of release events into the rows partners look releases and tracks up by
// (ISRC, UPC/EAN/GTIN, GRid, DDEX party id), with no I/O. Its Postgres
// writer and readers are projections/identifiers/identifierspg; the
// generations, checkpoints, parking and rebuilds are the shared machinery's
// (projections/projectionpg.Store), keyed by Name.
package identifiers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
)

// Name names the identifiers projection: its consumer groups
// (projector.identifiers.g<N>), its checkpoint, generation and parked
// rows. It is a stable API; renaming it rebuilds the read model from
// offset zero under a new group.
const Name = "identifiers"

// Track is a track as the identifiers read model keeps it.
type Track struct {
	TrackID         int64
	ISRC            string
	Title           string
	Version         string
	Artist          string
	DurationSeconds int
	Disc            int
	Number          int
}

// Release is a release's identifiers rows in memory while a batch folds
// its events.
type Release struct {
	// Exists is false for a release the read model has no row of.
	Exists bool
	// Dirty marks rows the fold changed, to be written.
	Dirty bool
	// Version is the sequence number of the last event folded.
	Version int64
	// Purged marks a purged release: its row stays (so the version guards
	// later events), with no tracks, and no look-up finds it.
	Purged      bool
	UPC         string
	GRid        string
	Title       string
	TitleVer    string
	Type        string
	Artist      string
	Label       string
	ReleaseDate string
	// Owners are the DDEX parties the release belongs to; empty for a
	// release whose log names none (delivered before schema v3 of
	// catalog.release.delivered, and never transferred since).
	Owners []string
	Tracks []Track
	// TracksSet marks a tracklist the fold replaced (the writer rewrites
	// the release's track rows only then).
	TracksSet bool
}

// Validate returns why an event cannot be applied (it is then parked), or
// "" when it can: a release event with a release id, its tracks each with
// an id and an ISRC, no id twice on a release (a track is keyed by its
// release and id).
func Validate(ev events.Payload) string {
	rp, ok := ev.(release.Payload)
	if !ok {
		return fmt.Sprintf("event type %s is not a release event", ev.EventType())
	}
	if rp.Release() <= 0 {
		return "event has no releaseId"
	}
	seen := map[int64]bool{}
	for _, t := range tracksOf(ev) {
		if t.TrackID <= 0 || t.ISRC == "" {
			return fmt.Sprintf("track %q has no trackId or ISRC", t.ISRC)
		}
		if seen[t.TrackID] {
			return fmt.Sprintf("trackId %d appears twice on release %d", t.TrackID, rp.Release())
		}
		seen[t.TrackID] = true
	}
	return ""
}

// Fold applies one event to the in-memory rows unless the release already
// reflects its sequence number (a redelivery: it returns false, stale).
// Only a first delivery creates a release. Deal events change no
// identifier, but the row's version follows every event all the same: a
// version that skipped them would depend on where the log was cut into
// batches, and a rebuild would differ from the live generation. Events
// are facts: Fold never rejects one (Validate runs first).
func Fold(rows map[int64]*Release, c projections.Change) bool {
	id := c.Release()
	r := rows[id]
	if r == nil {
		r = &Release{}
		rows[id] = r
	}
	if !c.Follows(r.Exists, r.Version) {
		return false
	}
	switch ev := c.Event.(type) {
	case release.Delivered:
		r.Exists, r.Purged = true, false
		r.setMeta(ev.Metadata)
		r.Tracks, r.TracksSet = tracks(ev.Tracks), true
		// A delivery written before owners were in the log names none: the
		// release keeps the owners the log named before (none for a
		// first delivery).
		if len(ev.Owners) > 0 {
			r.Owners = slices.Clone(ev.Owners)
		}
	case release.MetadataChanged:
		r.setMeta(ev.Metadata)
	case release.TracksChanged:
		r.Tracks, r.TracksSet = tracks(ev.Tracks), true
	case release.OwnersChanged:
		r.Owners = slices.Clone(ev.Owners)
	case release.Purged:
		r.Purged, r.Tracks, r.TracksSet = true, nil, true
	}
	r.Version, r.Dirty = c.Sequence, true
	return true
}

// Prepare is the identifiers projection's projections.Prepare: its fold
// reads no deal set, so a change keeps none.
func Prepare(c projections.Change) projections.Change {
	if rp, ok := c.Event.(release.Payload); ok {
		if without, _, has := release.TakeDeals(rp); has {
			c.Event = without
		}
	}
	return c
}

func (r *Release) setMeta(m release.Metadata) {
	r.UPC, r.GRid, r.Title, r.TitleVer, r.Type = m.UPC, m.GRid, m.Title, m.Version, m.Type
	r.Artist, r.Label, r.ReleaseDate = m.Artist, m.Label, m.ReleaseDate
}

func tracksOf(ev events.Payload) []release.TrackInfo {
	switch v := ev.(type) {
	case release.Delivered:
		return v.Tracks
	case release.TracksChanged:
		return v.Tracks
	}
	return nil
}

func tracks(in []release.TrackInfo) []Track {
	out := make([]Track, len(in))
	for i, t := range in {
		out[i] = Track{TrackID: t.TrackID, ISRC: t.ISRC, Title: t.Title, Version: t.Version, Artist: t.Artist,
			DurationSeconds: t.DurationSeconds, Disc: t.Disc, Number: t.Number}
	}
	return out
}

// GTIN returns a barcode's GTIN-14 form: the digits padded with leading
// zeros to 14. A 12-digit UPC-A, its 13-digit EAN and its 14-digit GTIN
// spellings share it (adding leading zeros keeps the check digit valid),
// so a release is found by any of them. "" stays "".
func GTIN(upc string) string {
	if upc == "" || len(upc) >= 14 {
		return upc
	}
	return strings.Repeat("0", 14-len(upc)) + upc
}

// Parties returns the party ids a release is listed under: its owners,
// without the empty party of a JSON delivery that named no sender.
func (r *Release) Parties() []string {
	var out []string
	for _, p := range r.Owners {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
