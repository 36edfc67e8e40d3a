package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

// Upcaster turns the payload of one schema version of an event type into
// the next version's.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

type typeVersion struct {
	typ     string
	version int
}

// upcasters maps (type, version N) to the upcaster from N to N+1. Events in
// Kafka are never rewritten: consumers read old versions through these.
var upcasters = map[typeVersion]Upcaster{
	{release.TypeDelivered, 1}: deliveredV1toV2,
}

// Upcast brings e's payload to the current schema version of its type
// (release.SchemaVersions), applying upcasters in turn. Types it does not
// know are returned unchanged; a version newer than the current one is an
// error (the consumer is older than the producer).
func Upcast(e Envelope) (Envelope, error) {
	current, known := release.SchemaVersions[e.Type]
	if !known {
		return e, nil
	}
	if e.SchemaVersion > current {
		return e, fmt.Errorf("%w: %s schema version %d is newer than this consumer's %d", ErrMalformed, e.Type, e.SchemaVersion, current)
	}
	for e.SchemaVersion < current {
		up, ok := upcasters[typeVersion{e.Type, e.SchemaVersion}]
		if !ok {
			return e, fmt.Errorf("%w: no upcaster for %s version %d", ErrMalformed, e.Type, e.SchemaVersion)
		}
		data, err := up(e.Data)
		if err != nil {
			return e, fmt.Errorf("%w: upcast %s v%d: %w", ErrMalformed, e.Type, e.SchemaVersion, err)
		}
		e.Data, e.SchemaVersion = data, e.SchemaVersion+1
	}
	return e, nil
}

// deliveredV1 is catalog.release.delivered as the first version wrote it:
// availability as download and streaming start dates per territory.
type deliveredV1 struct {
	ReleaseID int64  `json:"releaseId"`
	UPC       string `json:"upc"`
	Title     string `json:"title"`
	Artist    struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"artist"`
	Label  string `json:"label"`
	Tracks []struct {
		TrackID int64  `json:"trackId"`
		ISRC    string `json:"isrc"`
		Title   string `json:"title"`
		Artist  struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"artist"`
		DurationSeconds int `json:"durationSeconds"`
		Disc            int `json:"disc"`
		Number          int `json:"number"`
	} `json:"tracks"`
	Availability []struct {
		Territory     string     `json:"territory"`
		DownloadFrom  *time.Time `json:"downloadFrom,omitempty"`
		StreamingFrom *time.Time `json:"streamingFrom,omitempty"`
	} `json:"availability"`
}

// deliveredV1toV2 maps v1's per-territory dates to deals: a download date
// becomes a PermanentDownload deal under PayAsYouGoModel, a streaming date
// an OnDemandStream deal under SubscriptionModel, in that territory.
func deliveredV1toV2(data json.RawMessage) (json.RawMessage, error) {
	var v1 deliveredV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	v2 := release.Delivered{
		ReleaseID: v1.ReleaseID,
		Metadata:  release.Metadata{UPC: v1.UPC, Title: v1.Title, Label: v1.Label, Artist: v1.Artist.Name},
		ArtistID:  v1.Artist.ID,
		Tracks:    []release.TrackInfo{},
		Deals:     []release.Deal{},
	}
	for _, t := range v1.Tracks {
		v2.Tracks = append(v2.Tracks, release.TrackInfo{TrackID: t.TrackID, ISRC: t.ISRC, Title: t.Title, Artist: t.Artist.Name,
			ArtistID: t.Artist.ID, DurationSeconds: t.DurationSeconds, Disc: t.Disc, Number: t.Number})
	}
	for _, a := range v1.Availability {
		if a.DownloadFrom != nil {
			v2.Deals = append(v2.Deals, release.Deal{Territories: []string{a.Territory}, UseTypes: []string{"PermanentDownload"},
				CommercialModels: []string{"PayAsYouGoModel"}, Start: a.DownloadFrom})
		}
		if a.StreamingFrom != nil {
			v2.Deals = append(v2.Deals, release.Deal{Territories: []string{a.Territory}, UseTypes: []string{"OnDemandStream"},
				CommercialModels: []string{"SubscriptionModel"}, Start: a.StreamingFrom})
		}
	}
	return json.Marshal(v2)
}
