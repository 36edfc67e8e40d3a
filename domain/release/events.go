package release

import "time"

// TypeDelivered is the event type of Delivered. Event type names are part of
// the public stream contract (docs/events.md): never rename one.
const TypeDelivered = "catalog.release.delivered"

// DeliveredSchemaVersion is the schema version of Delivered's payload.
const DeliveredSchemaVersion = 1

// Delivered records that a release's full content was delivered (first
// delivery or a changed resend). It carries the whole state of the release,
// with the catalogue ids assigned to the release, its artists and tracks,
// so a consumer needs no other source to build a read model.
type Delivered struct {
	ReleaseID    int64                   `json:"releaseId"`
	UPC          string                  `json:"upc"`
	Title        string                  `json:"title"`
	Artist       ArtistRef               `json:"artist"`
	Label        string                  `json:"label"`
	Tracks       []DeliveredTrack        `json:"tracks"`
	Availability []DeliveredAvailability `json:"availability"`
}

// ArtistRef names an artist and its catalogue id.
type ArtistRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// DeliveredTrack is one track of a Delivered release.
type DeliveredTrack struct {
	TrackID         int64     `json:"trackId"`
	ISRC            string    `json:"isrc"`
	Title           string    `json:"title"`
	Artist          ArtistRef `json:"artist"`
	DurationSeconds int       `json:"durationSeconds"`
	Disc            int       `json:"disc"`
	Number          int       `json:"number"`
}

// DeliveredAvailability is when the release becomes available for download
// and for streaming in one territory; nil means not offered there.
type DeliveredAvailability struct {
	Territory     string     `json:"territory"`
	DownloadFrom  *time.Time `json:"downloadFrom,omitempty"`
	StreamingFrom *time.Time `json:"streamingFrom,omitempty"`
}
