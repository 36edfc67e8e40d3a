package release

// Stream is what the write side keeps about a release between deliveries:
// its catalogue id, the sequence number of its last event (0 before the
// first) and the fingerprint of the content that event carried.
type Stream struct {
	ReleaseID   int64
	Version     int64
	Fingerprint string
}

// IDs are the catalogue ids assigned to a release's artists (by name) and
// tracks (by ISRC). They are assigned once and never change.
type IDs struct {
	Artists map[string]int64
	Tracks  map[ISRC]int64
}

// Decision is what a delivery produces against a release's current state.
type Decision struct {
	// Unchanged is true when the delivery says nothing new; Event is then nil.
	Unchanged bool
	// Event is the event to append, with Sequence its per-release number.
	Event    *Delivered
	Sequence int64
	// Next is the stream state after the event.
	Next Stream
}

// Decide compares r with the release's current stream state. ids must hold
// an id for the release's every artist and track (Artists and Tracks list
// what to assign).
func Decide(cur Stream, r Release, ids IDs) Decision {
	fp := r.Fingerprint()
	if cur.Version > 0 && cur.Fingerprint == fp {
		return Decision{Unchanged: true, Next: cur}
	}
	ev := &Delivered{
		ReleaseID: cur.ReleaseID,
		UPC:       r.upc.String(),
		Title:     r.title,
		Artist:    ArtistRef{ID: ids.Artists[r.artist], Name: r.artist},
		Label:     r.label,
	}
	for _, t := range r.tracks {
		ev.Tracks = append(ev.Tracks, DeliveredTrack{
			TrackID:         ids.Tracks[t.ISRC],
			ISRC:            t.ISRC.String(),
			Title:           t.Title,
			Artist:          ArtistRef{ID: ids.Artists[t.Artist], Name: t.Artist},
			DurationSeconds: t.Duration.Seconds(),
			Disc:            t.Disc,
			Number:          t.Number,
		})
	}
	for _, a := range r.availability {
		ev.Availability = append(ev.Availability, DeliveredAvailability{
			Territory: a.Territory.String(), DownloadFrom: a.DownloadFrom, StreamingFrom: a.StreamingFrom,
		})
	}
	next := Stream{ReleaseID: cur.ReleaseID, Version: cur.Version + 1, Fingerprint: fp}
	return Decision{Event: ev, Sequence: next.Version, Next: next}
}
