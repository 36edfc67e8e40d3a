// Package catalogue is the customer's view of the catalogue: a track as it
// is offered in one territory, with its release, artists and the usages
// (download, subscription streaming, ad-supported streaming) available
// there, from when and at what price. Read models produce these values;
// the APIs render them.
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
	ID            int64
	UPC           string
	GRid          string
	CatalogNumber string
	Title         string
	Version       string
	Type          string
	Artist        Artist
	Label         string
	PLine         string
	ReleaseDate   string
	// Version of the read model row: the release's event sequence number.
	Sequence int64
}

// Price is what a usage costs in a territory.
type Price struct {
	Amount   string
	Currency string
	Code     string
}

// Offer is one usage of a track in a territory: available from From (nil:
// since before the catalogue knew) until To (nil: open-ended).
type Offer struct {
	From  *time.Time
	To    *time.Time
	Price *Price
}

// Track is a track as offered in one territory.
type Track struct {
	ID              int64
	ISRC            string
	Title           string
	Version         string
	Artist          Artist
	DurationSeconds int
	Disc            int
	Number          int
	PLine           string
	ParentalWarning string
	Release         Release
	Territory       string
	Download        *Offer
	Subscription    *Offer
	AdSupported     *Offer
}

// Explicit reports whether the track carries an explicit-content warning.
func (t Track) Explicit() bool { return t.ParentalWarning == "Explicit" }

// Available reports whether any usage is offered in the territory.
func (t Track) Available() bool {
	return t.Download != nil || t.Subscription != nil || t.AdSupported != nil
}
