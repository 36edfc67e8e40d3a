// Package trackdetails is the track-details projection's pure part: the
// fold of release events into a release's read-model rows (its metadata,
// tracklist and availability terms), with no I/O, and what its readers
// share: a track's row (TrackRow), its availability terms (Term) and the
// cache-first reader (CachedReader). Its Postgres writer and readers are
// projections/trackdetails/trackdetailspg; its hot entries
// projections/projectionredis.
package trackdetails

import (
	"fmt"
	"slices"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
)

// Name names the track-details projection: its consumer groups
// (projector.track-details.g<N>), its checkpoint, generation and parked
// rows. It is a stable API; renaming it rebuilds the read model from
// offset zero under a new group.
const Name = "track-details"

// Release is a release's read-model rows in memory while a batch folds
// its events.
type Release struct {
	// Exists is false for a release the read model has no row of.
	Exists bool
	// Dirty marks rows the fold changed, to be written.
	Dirty bool
	// Version is the sequence number of the last event the rows reflect.
	Version int64
	// Purged marks a purged release (its row stays, with no tracks).
	Purged     bool
	Meta       release.Metadata
	ArtistID   int64
	Terms      []Term
	TrackTerms map[string][]Term
	Tracks     []release.TrackInfo
	// TrackVersions holds, for each of Tracks, the sequence number of the
	// last event that changed its row (its columns or its own terms): a
	// release's later events that leave a track as it was (a new release
	// title, a changed title on another track) keep its version, so its
	// row need not be written again. It is a function of the log alone,
	// event by event, so a replay cut into other batches gives the same.
	TrackVersions []int64
	// TracksSet marks a tracklist replaced by the fold.
	TracksSet bool
	// Before lists the track ids the release had before the batch (their
	// cached entries are invalidated too).
	Before []int64
}

// Validate returns why an event cannot be applied (it is then parked), or
// "" when it can: a release id, and tracks each with an id and an ISRC,
// no id twice on a release.
func Validate(ev events.Payload) string {
	rp, ok := ev.(release.Payload)
	if !ok {
		return fmt.Sprintf("event type %s is not a release event", ev.EventType())
	}
	if rp.Release() <= 0 {
		return "event has no releaseId"
	}
	var tracks []release.TrackInfo
	switch v := ev.(type) {
	case release.Delivered:
		tracks = v.Tracks
	case release.TracksChanged:
		tracks = v.Tracks
	}
	seen := make(map[int64]string, len(tracks))
	for _, t := range tracks {
		if t.TrackID <= 0 || t.ISRC == "" {
			return fmt.Sprintf("track %q has no trackId or ISRC", t.ISRC)
		}
		if other, dup := seen[t.TrackID]; dup {
			return fmt.Sprintf("trackId %d is both %s and %s: a track appears once on a release", t.TrackID, other, t.ISRC)
		}
		seen[t.TrackID] = t.ISRC
	}
	return ""
}

// Availability is a deal set folded into the terms the read model stores
// (Terms): what Prepare keeps of a change's deal set.
type Availability struct {
	Terms      []Term
	TrackTerms map[string][]Term
}

// Prepare is the track-details projection's projections.Prepare: a change
// that carries a deal set keeps its availability terms instead (Derived),
// folded once as the record is decoded, and the event drops the set. Fold
// takes the terms from Derived; the fold of the prepared change is the
// fold of the change as decoded.
func Prepare(c projections.Change) projections.Change {
	rp, ok := c.Event.(release.Payload)
	if !ok {
		return c
	}
	without, deals, has := release.TakeDeals(rp)
	if !has {
		return c
	}
	var a Availability
	a.Terms, a.TrackTerms = Terms(deals)
	return projections.Change{Sequence: c.Sequence, Event: without, Derived: a}
}

// Fold applies one event to the in-memory rows unless the release already
// reflects its sequence number (a redelivery: it returns false, stale).
// Only a first delivery creates a release. Events are facts: Fold never
// rejects one (Validate runs first).
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
	tracks, versions, trackTerms := r.Tracks, r.TrackVersions, r.TrackTerms
	setDeals := func(deals []release.Deal) {
		if a, ok := c.Derived.(Availability); ok {
			r.Terms, r.TrackTerms = a.Terms, a.TrackTerms
			return
		}
		r.Terms, r.TrackTerms = Terms(deals)
	}
	switch ev := c.Event.(type) {
	case release.Delivered:
		r.Exists, r.Purged = true, false
		r.Meta, r.ArtistID = ev.Metadata, ev.ArtistID
		r.Tracks, r.TracksSet = ev.Tracks, true
		setDeals(ev.Deals)
	case release.MetadataChanged:
		r.Meta, r.ArtistID = ev.Metadata, ev.ArtistID
	case release.TracksChanged:
		r.Tracks, r.TracksSet = ev.Tracks, true
	case release.DealsReplaced:
		setDeals(ev.Deals)
	case release.TakenDown:
		setDeals(ev.Deals)
	case release.Purged:
		r.Purged, r.Tracks, r.TracksSet, r.TrackVersions = true, nil, true, nil
		r.Terms, r.TrackTerms = nil, nil
	}
	switch c.Event.(type) {
	case release.Delivered, release.TracksChanged, release.DealsReplaced, release.TakenDown:
		r.TrackVersions = stamp(tracks, versions, trackTerms, r.Tracks, r.TrackTerms, c.Sequence)
	}
	r.Version, r.Dirty = c.Sequence, true
	return true
}

// stamp returns the versions of tracks (with their own terms in terms)
// after the event seq replaced before (with versions and beforeTerms): a
// track whose row the event left as it was keeps its version, any other
// gets seq.
func stamp(before []release.TrackInfo, versions []int64, beforeTerms map[string][]Term, tracks []release.TrackInfo, terms map[string][]Term, seq int64) []int64 {
	if len(tracks) == 0 {
		return nil
	}
	out := make([]int64, len(tracks))
	// A release's tracks are compared by id: a short list by scanning it,
	// a long one (a box set) through a map.
	var at map[int64]int
	if len(before) > 16 {
		at = make(map[int64]int, len(before))
		for i, t := range before {
			at[t.TrackID] = i
		}
	}
	for i, t := range tracks {
		out[i] = seq
		j := -1
		if at != nil {
			if k, ok := at[t.TrackID]; ok {
				j = k
			}
		} else {
			for k := range before {
				if before[k].TrackID == t.TrackID {
					j = k
					break
				}
			}
		}
		if j < 0 || j >= len(versions) || versions[j] == 0 {
			continue
		}
		was, wasOwn := beforeTerms[before[j].ISRC]
		is, isOwn := terms[t.ISRC]
		if sameRow(before[j], t) && wasOwn == isOwn && sameTerms(was, is) {
			out[i] = versions[j]
		}
	}
	return out
}

// sameRow reports whether a and b make the same track row (the columns the
// read model stores of a track; Artists, the credits, it does not).
func sameRow(a, b release.TrackInfo) bool {
	return a.TrackID == b.TrackID && a.ISRC == b.ISRC && a.Title == b.Title && a.Version == b.Version && a.Artist == b.Artist &&
		a.ArtistID == b.ArtistID && a.DurationSeconds == b.DurationSeconds && a.Disc == b.Disc && a.Number == b.Number &&
		a.PLine == b.PLine && a.ParentalWarning == b.ParentalWarning
}

// sameTerms reports whether a and b are the same terms.
func sameTerms(a, b []Term) bool {
	return slices.EqualFunc(a, b, func(x, y Term) bool {
		return x.Usage == y.Usage && x.Territories == y.Territories && sameTime(x.From, y.From) && sameTime(x.To, y.To) &&
			(x.Price == nil) == (y.Price == nil) && (x.Price == nil || *x.Price == *y.Price)
	})
}

// sameTime reports whether a and b are the same instant written the same
// way (at the same UTC offset), so that they store as the same text.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	_, oa := a.Zone()
	_, ob := b.Zone()
	return a.Equal(*b) && oa == ob
}
