package release

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"time"
)

// State is what the write side keeps about a release between deliveries:
// the current content (as the last events describe it), the sequence number
// of the last event, and the last message applied.
type State struct {
	ReleaseID int64       `json:"releaseId"`
	Version   int64       `json:"version"`
	Message   Message     `json:"message"`
	Purged    bool        `json:"purged,omitempty"`
	ArtistID  int64       `json:"artistId"`
	Metadata  Metadata    `json:"metadata"`
	Tracks    []TrackInfo `json:"tracks"`
	Deals     []Deal      `json:"deals"`
}

// Exists reports whether the release is live (delivered and not purged).
func (s State) Exists() bool { return s.Version > 0 && !s.Purged }

// IDs are the catalogue ids assigned to a release's artists (by name) and
// tracks (by ISRC). They are assigned once and never change.
type IDs struct {
	Artists map[string]int64
	Tracks  map[ISRC]int64
}

// Outcome is the kind of decision.
type Outcome string

// The outcomes of a delivery.
const (
	// Accepted: the delivery produced events.
	Accepted Outcome = "accepted"
	// Unchanged: the delivery says nothing new; no events.
	Unchanged Outcome = "unchanged"
	// Stale: the message is older than one already applied; no events.
	Stale Outcome = "stale"
)

// Decision is what a delivery produces against a release's current state.
type Decision struct {
	Outcome Outcome
	// Reason explains an Unchanged or Stale outcome.
	Reason string
	// Events to append, in order; the first gets sequence Next.Version -
	// len(Events) + 1.
	Events []Event
	// Next is the state after the events (for Unchanged, the same content
	// with the newer message recorded).
	Next State
}

func stale(cur State, m Message) (Decision, bool) {
	if cur.Version == 0 || m.Created.IsZero() || !m.Created.Before(cur.Message.Created) {
		return Decision{}, false
	}
	return Decision{Outcome: Stale, Next: cur, Reason: fmt.Sprintf(
		"message %s (created %s) is older than message %s (created %s), already applied; it changes nothing",
		m.Name(), m.Created.UTC().Format(time.RFC3339), cur.Message.Name(), cur.Message.Created.UTC().Format(time.RFC3339))}, true
}

// Decide compares a delivery with the release's current state and returns
// the events it produces: a first delivery gives Delivered; a resend gives
// MetadataChanged, TracksChanged and DealsReplaced or TakenDown, as far as
// each part changed; a resend that changes nothing, and a message older
// than the last one applied, give none. ids must hold an id for each of
// r.Artists() and each track's ISRC.
func Decide(cur State, r Release, ids IDs) Decision {
	if d, ok := stale(cur, r.msg); ok {
		return d
	}
	next := State{ReleaseID: cur.ReleaseID, Version: cur.Version, Message: r.msg,
		ArtistID: ids.Artists[r.metadata.Artist], Metadata: r.metadata, Deals: r.Deals()}
	if next.Deals == nil {
		next.Deals = []Deal{}
	}
	for _, t := range r.tracks {
		next.Tracks = append(next.Tracks, TrackInfo{
			TrackID: ids.Tracks[t.ISRC], ISRC: t.ISRC.String(), Title: t.Title, Version: t.Version,
			Artist: t.Artist, ArtistID: ids.Artists[t.Artist], Artists: t.Artists, DurationSeconds: t.Duration.Seconds(),
			Disc: t.Disc, Number: t.Number, PLine: t.PLine, ParentalWarning: t.ParentalWarning,
		})
	}

	var evs []Event
	if !cur.Exists() {
		evs = append(evs, Event{TypeDelivered, Delivered{ReleaseID: cur.ReleaseID, Metadata: next.Metadata,
			ArtistID: next.ArtistID, Tracks: next.Tracks, Deals: next.Deals}})
	} else {
		if !same(cur.Metadata, next.Metadata) || cur.ArtistID != next.ArtistID {
			evs = append(evs, Event{TypeMetadataChanged, MetadataChanged{ReleaseID: cur.ReleaseID, Metadata: next.Metadata, ArtistID: next.ArtistID}})
		}
		if !same(cur.Tracks, next.Tracks) {
			evs = append(evs, Event{TypeTracksChanged, tracksChanged(cur, next)})
		}
		if !same(cur.Deals, next.Deals) {
			evs = append(evs, dealsEvent(cur, next))
		}
	}
	if len(evs) == 0 {
		next.Version = cur.Version
		return Decision{Outcome: Unchanged, Next: next, Reason: "the release already has exactly this content"}
	}
	next.Version = cur.Version + int64(len(evs))
	return Decision{Outcome: Accepted, Events: evs, Next: next}
}

func tracksChanged(cur, next State) TracksChanged {
	ev := TracksChanged{ReleaseID: cur.ReleaseID, Tracks: next.Tracks}
	old := map[string]TrackInfo{}
	for _, t := range cur.Tracks {
		old[t.ISRC] = t
	}
	now := map[string]bool{}
	for _, t := range next.Tracks {
		now[t.ISRC] = true
		o, ok := old[t.ISRC]
		if !ok {
			ev.Added = append(ev.Added, t.ISRC)
		} else if o.Disc != t.Disc || o.Number != t.Number {
			ev.Resequenced = true
		}
	}
	for _, t := range cur.Tracks {
		if !now[t.ISRC] {
			ev.Removed = append(ev.Removed, t.ISRC)
		}
	}
	return ev
}

// dealsEvent tells a takedown from a plain replacement: TakeDown deals
// (ERN 3.8) withdraw their territories; a resend with no deals at all, of a
// release that had some, withdraws it everywhere (ERN 4.x); anything else
// is a new deal set, however much smaller.
func dealsEvent(cur, next State) Event {
	var territories []string
	takedown, everywhere := false, false
	for _, d := range next.Deals {
		if !d.TakeDown {
			continue
		}
		takedown = true
		if len(d.ExcludedTerritories) > 0 {
			everywhere = true
		}
		for _, t := range d.Territories {
			if t == Worldwide {
				everywhere = true
			}
			territories = append(territories, t)
		}
	}
	if takedown {
		if everywhere {
			territories = nil
		}
		return Event{TypeTakenDown, TakenDown{ReleaseID: cur.ReleaseID, Territories: dedupe(territories), Deals: next.Deals}}
	}
	if len(next.Deals) == 0 && len(cur.Deals) > 0 {
		return Event{TypeTakenDown, TakenDown{ReleaseID: cur.ReleaseID, Deals: next.Deals}}
	}
	return Event{TypeDealsReplaced, DealsReplaced{ReleaseID: cur.ReleaseID, Deals: next.Deals}}
}

func dedupe(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	sort.Strings(in)
	out := in[:1]
	for _, s := range in[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// same compares two values by their JSON form (the form events carry), so
// nil and empty lists, and time zones, do not count as changes.
func same(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return reflect.DeepEqual(normJSON(ja), normJSON(jb))
}

func normJSON(b []byte) any {
	var v any
	_ = json.Unmarshal(b, &v)
	return dropEmpty(v)
}

func dropEmpty(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
	case map[string]any:
		for k, e := range x {
			if e = dropEmpty(e); e == nil {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
	}
	return v
}

// DecidePurge decides a purge: a live release is Purged; an unknown or
// already purged one is Unchanged; an older message is Stale.
func DecidePurge(cur State, p Purge) Decision {
	if d, ok := stale(cur, p.Message); ok {
		return d
	}
	if !cur.Exists() {
		reason := "no such release; nothing to purge"
		if cur.Purged {
			reason = "the release is already purged"
		}
		return Decision{Outcome: Unchanged, Next: cur, Reason: reason}
	}
	next := State{ReleaseID: cur.ReleaseID, Version: cur.Version + 1, Message: p.Message, Purged: true, Tracks: []TrackInfo{}, Deals: []Deal{}}
	return Decision{Outcome: Accepted, Next: next, Events: []Event{{TypePurged, Purged{ReleaseID: cur.ReleaseID, UPC: cur.Metadata.UPC, GRid: cur.Metadata.GRid}}}}
}
