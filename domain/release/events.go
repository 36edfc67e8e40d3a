package release

import "encoding/json"

// Event types of the release aggregate. They are part of the public stream
// contract (docs/events.md, docs/events/*.schema.json): never rename one.
const (
	TypeDelivered       = "catalog.release.delivered"
	TypeMetadataChanged = "catalog.release.metadata-changed"
	TypeTracksChanged   = "catalog.release.tracks-changed"
	TypeDealsReplaced   = "catalog.release.deals-replaced"
	TypeTakenDown       = "catalog.release.taken-down"
	TypePurged          = "catalog.release.purged"
	TypeOwnersChanged   = "catalog.release.owners-changed"
)

// EventType describes one event type of the release stream, for the
// event registry (events.Registry): its name, the current schema version
// of its payload, a constructor of a zero payload to decode into, and the
// upcasters that bring older versions' payloads to the next one. A new
// event type is one entry of EventTypes (and its JSON Schema in
// docs/events); nothing else lists the types.
type EventType struct {
	// Name is the ce_type, e.g. catalog.release.delivered.
	Name string
	// Version is the current schema version of the payload.
	Version int
	// New returns a pointer to a zero payload of the type.
	New func() any
	// Upcasters maps schema version N to the function that turns a
	// version N payload into a version N+1 one; one for every version
	// below Version.
	Upcasters map[int]func(json.RawMessage) (json.RawMessage, error)
}

// EventTypes returns every event type of the release aggregate.
func EventTypes() []EventType {
	return []EventType{
		{Name: TypeDelivered, Version: 3, New: func() any { return &Delivered{} },
			Upcasters: map[int]func(json.RawMessage) (json.RawMessage, error){1: deliveredV1toV2, 2: deliveredV2toV3}},
		{Name: TypeMetadataChanged, Version: 1, New: func() any { return &MetadataChanged{} }},
		{Name: TypeTracksChanged, Version: 1, New: func() any { return &TracksChanged{} }},
		{Name: TypeDealsReplaced, Version: 1, New: func() any { return &DealsReplaced{} }},
		{Name: TypeTakenDown, Version: 1, New: func() any { return &TakenDown{} }},
		{Name: TypePurged, Version: 1, New: func() any { return &Purged{} }},
		{Name: TypeOwnersChanged, Version: 1, New: func() any { return &OwnersChanged{} }},
	}
}

// SchemaVersions gives the current payload schema version of each type
// (from EventTypes).
var SchemaVersions = func() map[string]int {
	m := map[string]int{}
	for _, t := range EventTypes() {
		m[t.Name] = t.Version
	}
	return m
}()

// Payload is the payload of a release event. The set is sealed: only this
// package's event types (Delivered, MetadataChanged, TracksChanged,
// DealsReplaced, TakenDown, Purged, OwnersChanged) implement it.
type Payload interface {
	// EventType returns the payload's ce_type.
	EventType() string
	// Release returns the catalogue id of the release the event is about.
	Release() int64
	sealed()
}

// Event is a decided event: its type and payload.
type Event struct {
	Type    string
	Payload Payload
}

// EventType implements Payload.
func (Delivered) EventType() string { return TypeDelivered }

// EventType implements Payload.
func (MetadataChanged) EventType() string { return TypeMetadataChanged }

// EventType implements Payload.
func (TracksChanged) EventType() string { return TypeTracksChanged }

// EventType implements Payload.
func (DealsReplaced) EventType() string { return TypeDealsReplaced }

// EventType implements Payload.
func (TakenDown) EventType() string { return TypeTakenDown }

// EventType implements Payload.
func (Purged) EventType() string { return TypePurged }

// EventType implements Payload.
func (OwnersChanged) EventType() string { return TypeOwnersChanged }

// Release implements Payload.
func (e Delivered) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e MetadataChanged) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e TracksChanged) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e DealsReplaced) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e TakenDown) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e Purged) Release() int64 { return e.ReleaseID }

// Release implements Payload.
func (e OwnersChanged) Release() int64 { return e.ReleaseID }

func (Delivered) sealed()       {}
func (MetadataChanged) sealed() {}
func (TracksChanged) sealed()   {}
func (DealsReplaced) sealed()   {}
func (TakenDown) sealed()       {}
func (Purged) sealed()          {}
func (OwnersChanged) sealed()   {}

// Delivered (schema v3) records a release's first delivery, or its first
// delivery after a purge: the full metadata, tracklist and deal set, with
// the catalogue ids assigned to the release, its artists and its tracks,
// and the parties that own it.
type Delivered struct {
	ReleaseID int64 `json:"releaseId"`
	Metadata
	ArtistID int64       `json:"artistId"`
	Tracks   []TrackInfo `json:"tracks"`
	Deals    []Deal      `json:"deals"`
	// Owners are the DDEX parties the release belongs to (State.Owners):
	// the sender and the party it sends on behalf of. Empty in an event
	// written before schema v3 (docs/events.md says how such a log folds).
	Owners []string `json:"owners,omitempty"`
}

// TrackInfo is a track as events carry it.
type TrackInfo struct {
	TrackID         int64    `json:"trackId"`
	ISRC            string   `json:"isrc"`
	Title           string   `json:"title"`
	Version         string   `json:"version,omitempty"`
	Artist          string   `json:"artist"`
	ArtistID        int64    `json:"artistId"`
	Artists         []Credit `json:"artists,omitempty"`
	DurationSeconds int      `json:"durationSeconds"`
	Disc            int      `json:"disc"`
	Number          int      `json:"number"`
	PLine           string   `json:"pLine,omitempty"`
	ParentalWarning string   `json:"parentalWarning,omitempty"`
}

// MetadataChanged records that a resend changed the release's metadata; it
// carries the whole new metadata.
type MetadataChanged struct {
	ReleaseID int64 `json:"releaseId"`
	Metadata
	ArtistID int64 `json:"artistId"`
}

// TracksChanged records that a resend changed the tracklist: tracks added,
// removed, re-sequenced or edited. Tracks is the whole new tracklist.
type TracksChanged struct {
	ReleaseID   int64       `json:"releaseId"`
	Added       []string    `json:"added,omitempty"`
	Removed     []string    `json:"removed,omitempty"`
	Resequenced bool        `json:"resequenced,omitempty"`
	Tracks      []TrackInfo `json:"tracks"`
}

// DealsReplaced records a new deal set; it replaces the previous one whole
// (deals left out are withdrawn).
type DealsReplaced struct {
	ReleaseID int64  `json:"releaseId"`
	Deals     []Deal `json:"deals"`
}

// TakenDown records a withdrawal: in Territories (ERN 3.8 TakeDown deals),
// or everywhere when Territories is empty (a resend with no deals). Deals is
// the whole resulting deal set.
type TakenDown struct {
	ReleaseID   int64    `json:"releaseId"`
	Territories []string `json:"territories,omitempty"`
	Deals       []Deal   `json:"deals"`
}

// OwnersChanged records that an operator handed an existing release to
// other parties (an override delivery or purge speaking for them); Owners
// is the whole new list. A first delivery names its owners in Delivered.
type OwnersChanged struct {
	ReleaseID int64    `json:"releaseId"`
	Owners    []string `json:"owners"`
}

// Purged records that the release was removed entirely.
type Purged struct {
	ReleaseID int64  `json:"releaseId"`
	UPC       string `json:"upc,omitempty"`
	GRid      string `json:"grid,omitempty"`
}

// TakeDeals returns the deal set an event carries (Delivered,
// DealsReplaced, TakenDown) and the event without it; has is false, and
// the event returned unchanged, for an event with no deal set. A reader
// that folds a deal set into something smaller as soon as it has read the
// event (or does not read deal sets at all) keeps the event without the
// set it no longer needs.
func TakeDeals(p Payload) (without Payload, deals []Deal, has bool) {
	switch ev := p.(type) {
	case Delivered:
		deals, ev.Deals = ev.Deals, nil
		return ev, deals, true
	case DealsReplaced:
		deals, ev.Deals = ev.Deals, nil
		return ev, deals, true
	case TakenDown:
		deals, ev.Deals = ev.Deals, nil
		return ev, deals, true
	}
	return p, nil, false
}
