package release

// Event types of the release aggregate. They are part of the public stream
// contract (docs/events.md, docs/events/*.schema.json): never rename one.
const (
	TypeDelivered       = "catalog.release.delivered"
	TypeMetadataChanged = "catalog.release.metadata-changed"
	TypeTracksChanged   = "catalog.release.tracks-changed"
	TypeDealsReplaced   = "catalog.release.deals-replaced"
	TypeTakenDown       = "catalog.release.taken-down"
	TypePurged          = "catalog.release.purged"
)

// SchemaVersions gives the current payload schema version of each type.
// Consumers read older versions through upcasters (events.Upcasters).
var SchemaVersions = map[string]int{
	TypeDelivered:       2,
	TypeMetadataChanged: 1,
	TypeTracksChanged:   1,
	TypeDealsReplaced:   1,
	TypeTakenDown:       1,
	TypePurged:          1,
}

// Event is a decided event: its type and payload (one of the structs below).
type Event struct {
	Type    string
	Payload any
}

// Delivered (schema v2) records a release's first delivery, or its first
// delivery after a purge: the full metadata, tracklist and deal set, with
// the catalogue ids assigned to the release, its artists and its tracks.
type Delivered struct {
	ReleaseID int64 `json:"releaseId"`
	Metadata
	ArtistID int64       `json:"artistId"`
	Tracks   []TrackInfo `json:"tracks"`
	Deals    []Deal      `json:"deals"`
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

// Purged records that the release was removed entirely.
type Purged struct {
	ReleaseID int64  `json:"releaseId"`
	UPC       string `json:"upc,omitempty"`
	GRid      string `json:"grid,omitempty"`
}
