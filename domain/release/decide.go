package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// State is what the write side keeps about a release between deliveries:
// the current content (as the last events describe it), the sequence number
// of the last event, the last message applied, and the parties that own
// the release.
type State struct {
	ReleaseID int64   `json:"releaseId"`
	Version   int64   `json:"version"`
	Message   Message `json:"message"`
	// Owners are the parties that may change the release: those its first
	// delivery spoke for (Message.Parties), until an operator override
	// hands it to others. A purge keeps them. Empty in a state stored
	// before ownership was recorded: see OwnedBy.
	Owners   []string    `json:"owners,omitempty"`
	Purged   bool        `json:"purged,omitempty"`
	ArtistID int64       `json:"artistId"`
	Metadata Metadata    `json:"metadata"`
	Tracks   []TrackInfo `json:"tracks"`
	Deals    []Deal      `json:"deals"`
}

// Exists reports whether the release is live (delivered and not purged).
func (s State) Exists() bool { return s.Version > 0 && !s.Purged }

// OwnedBy returns the parties that own the release: Owners, or, for a
// state stored before owners were recorded, the sender of its last
// applied message (the only party such a state names). A release never
// delivered has no owner.
func (s State) OwnedBy() []string {
	if len(s.Owners) > 0 || s.Version == 0 {
		return s.Owners
	}
	return []string{s.Message.Sender}
}

// Authority says on whose authority a delivery is applied.
type Authority uint8

// The authorities a delivery is applied with.
const (
	// BySender applies a delivery only if a party it speaks for owns the
	// release (or nobody does yet).
	BySender Authority = iota
	// ByOperator is the operator override: the delivery is applied
	// whoever owns the release, and the parties it speaks for become the
	// release's only owners.
	ByOperator
)

// ErrNotOwner is the condition of an OwnershipError.
var ErrNotOwner = errors.New("the sender does not own the release")

// OwnershipError rejects a delivery, update, takedown or purge of a
// release from parties that do not own it. It changes nothing.
type OwnershipError struct {
	// Message is the rejected message.
	Message Message
	// Release names the release (its UPC, else its GRid).
	Release string
	// Owners are the parties that own it.
	Owners []string
	// Field is where the delivery names its sender: "sender" unless the
	// caller maps it to the delivery's own path (an ERN element).
	Field string
}

// Reason says why the delivery was rejected, without naming the message.
func (e *OwnershipError) Reason() string {
	return fmt.Sprintf("%s does not own release %s: it belongs to %s, the parties its first delivery came from "+
		"(or an operator handed it to); a delivery from another party changes nothing unless an operator applies it as an override",
		partyList(e.Message.Parties()), e.Release, partyList(e.Owners))
}

// Error names the message, the field and the reason.
func (e *OwnershipError) Error() string {
	name := e.Message.Name()
	if name == "" {
		name = "(unnamed message)"
	}
	return "rejected delivery " + name + ": " + e.Field + ": " + e.Reason()
}

// Unwrap returns ErrNotOwner.
func (e *OwnershipError) Unwrap() error { return ErrNotOwner }

func partyList(ps []string) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		if p == "" {
			q[i] = "the anonymous sender (no sender named)"
		} else {
			q[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(q, " and ")
}

// authorize checks that m may change cur, and returns the owners of the
// release after m is applied.
func authorize(cur State, m Message, by Authority) ([]string, error) {
	owners := cur.OwnedBy()
	if by == ByOperator || len(owners) == 0 {
		return m.Parties(), nil
	}
	for _, p := range m.Parties() {
		if slices.Contains(owners, p) {
			return owners, nil
		}
	}
	key := cur.Metadata.UPC
	if key == "" {
		key = cur.Metadata.GRid
	}
	if key == "" {
		key = fmt.Sprintf("with catalogue id %d", cur.ReleaseID)
	}
	return nil, &OwnershipError{Message: m, Release: key, Owners: owners, Field: "sender"}
}

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
//
// A delivery by a party that does not own the release (State.OwnedBy) is
// rejected with an *OwnershipError, unless by is ByOperator; a release's
// first delivery makes the parties it speaks for its owners.
func Decide(cur State, r Release, ids IDs, by Authority) (Decision, error) {
	owners, err := authorize(cur, r.msg, by)
	if err != nil {
		return Decision{}, err
	}
	if d, ok := stale(cur, r.msg); ok {
		return d, nil
	}
	next := State{ReleaseID: cur.ReleaseID, Version: cur.Version, Message: r.msg, Owners: owners,
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
			ArtistID: next.ArtistID, Tracks: next.Tracks, Deals: next.Deals, Owners: owners}})
	} else {
		if !same(cur.Metadata, next.Metadata) || cur.ArtistID != next.ArtistID {
			evs = append(evs, Event{TypeMetadataChanged, MetadataChanged{ReleaseID: cur.ReleaseID, Metadata: next.Metadata, ArtistID: next.ArtistID}})
		}
		if !sameList(cur.Tracks, next.Tracks) {
			evs = append(evs, Event{TypeTracksChanged, tracksChanged(cur, next)})
		}
		if !same(cur.Deals, next.Deals) {
			evs = append(evs, dealsEvent(cur, next))
		}
	}
	if cur.Exists() && ownersChanged(cur, owners) {
		evs = append(evs, Event{TypeOwnersChanged, OwnersChanged{ReleaseID: cur.ReleaseID, Owners: owners}})
	}
	if len(evs) == 0 {
		next.Version = cur.Version
		return Decision{Outcome: Unchanged, Next: next, Reason: "the release already has exactly this content" + transferred(cur, owners)}, nil
	}
	next.Version = cur.Version + int64(len(evs))
	return Decision{Outcome: Accepted, Events: evs, Next: next, Reason: strings.TrimPrefix(transferred(cur, owners), "; ")}, nil
}

// ownersChanged reports an operator override handing a delivered release
// to other parties; the log records it as an OwnersChanged event.
func ownersChanged(cur State, owners []string) bool {
	before := cur.OwnedBy()
	return len(before) > 0 && !slices.Equal(before, owners)
}

// transferred notes an ownership change, for a Decision's Reason.
func transferred(cur State, owners []string) string {
	if !ownersChanged(cur, owners) {
		return ""
	}
	return "; the release now belongs to " + partyList(owners) + " (operator override)"
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
// nil and empty lists, and time zones, do not count as changes. Equal
// bytes are equal forms: only values whose JSON differs are decoded and
// compared with empty values dropped, which a release's deals (hundreds of
// them, mostly unchanged by a delivery) would otherwise cost on every
// update.
func same(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return true
	}
	return reflect.DeepEqual(normJSON(ja), normJSON(jb))
}

// sameList is same for two lists, element by element when their JSON
// differs: lists of one length are the same when each pair is, so a
// delivery that edits one track of an album decodes that track's JSON, not
// the whole tracklist's. Lists of different lengths are compared whole.
func sameList[T any](a, b []T) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	switch {
	case bytes.Equal(ja, jb):
		return true
	case len(a) != len(b):
		return reflect.DeepEqual(normJSON(ja), normJSON(jb))
	}
	for i := range a {
		if !same(a[i], b[i]) {
			return false
		}
	}
	return true
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
// already purged one is Unchanged; an older message is Stale. A purge by a
// party that does not own the release is rejected with an
// *OwnershipError, unless by is ByOperator. The owners stay with the
// purged release: only they may deliver it again.
func DecidePurge(cur State, p Purge, by Authority) (Decision, error) {
	owners, err := authorize(cur, p.Message, by)
	if err != nil {
		return Decision{}, err
	}
	if d, ok := stale(cur, p.Message); ok {
		return d, nil
	}
	if !cur.Exists() {
		reason := "no such release; nothing to purge"
		if cur.Purged {
			reason = "the release is already purged"
		}
		return Decision{Outcome: Unchanged, Next: cur, Reason: reason}, nil
	}
	evs := purgeEvents(cur, owners)
	next := State{ReleaseID: cur.ReleaseID, Version: cur.Version + int64(len(evs)), Message: p.Message, Owners: owners, Purged: true,
		Metadata: Metadata{UPC: cur.Metadata.UPC, GRid: cur.Metadata.GRid}, Tracks: []TrackInfo{}, Deals: []Deal{}}
	return Decision{Outcome: Accepted, Next: next, Reason: strings.TrimPrefix(transferred(cur, owners), "; "),
		Events: evs}, nil
}

// purgeEvents are a purge's events: Purged, and OwnersChanged when an
// operator's purge hands the release to the parties it speaks for.
func purgeEvents(cur State, owners []string) []Event {
	evs := []Event{{TypePurged, Purged{ReleaseID: cur.ReleaseID, UPC: cur.Metadata.UPC, GRid: cur.Metadata.GRid}}}
	if ownersChanged(cur, owners) {
		evs = append(evs, Event{TypeOwnersChanged, OwnersChanged{ReleaseID: cur.ReleaseID, Owners: owners}})
	}
	return evs
}
