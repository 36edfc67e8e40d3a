// Package catalogue is the customer's view of the catalogue: a track as it
// is offered in one territory, with its release, artists and the usages
// (download, streaming) available there and from when. Read models produce
// these values; the APIs render them.
package catalogue

import (
	"errors"
	"time"
)

// Sentinel errors of catalogue look-ups.
var (
	// ErrTrackNotFound reports a track id the catalogue does not know.
	ErrTrackNotFound = errors.New("track not found")
	// ErrNotAvailable reports a known track that is not offered in the
	// requested territory.
	ErrNotAvailable = errors.New("track not available in territory")
)

// Artist is a credited artist.
type Artist struct {
	ID   int64
	Name string
}

// Release is the release a track appears on.
type Release struct {
	ID      int64
	UPC     string
	Title   string
	Artist  Artist
	Label   string
	Version int64
}

// Track is a track as offered in one territory.
type Track struct {
	ID              int64
	ISRC            string
	Title           string
	Artist          Artist
	DurationSeconds int
	Disc            int
	Number          int
	Release         Release
	Territory       string
	// DownloadFrom and StreamingFrom are when the usage starts in Territory;
	// nil when it is not offered there.
	DownloadFrom  *time.Time
	StreamingFrom *time.Time
}

// Available reports whether any usage is offered in the territory.
func (t Track) Available() bool { return t.DownloadFrom != nil || t.StreamingFrom != nil }
