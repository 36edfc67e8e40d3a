package release

import (
	"encoding/json"
	"time"
)

// deliveredV1 is catalog.delivered as the first version wrote it:
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
	v2 := Delivered{
		ReleaseID: v1.ReleaseID,
		Metadata:  Metadata{UPC: v1.UPC, Title: v1.Title, Label: v1.Label, Artist: v1.Artist.Name},
		ArtistID:  v1.Artist.ID,
		Tracks:    []TrackInfo{},
		Deals:     []Deal{},
	}
	for _, t := range v1.Tracks {
		v2.Tracks = append(v2.Tracks, TrackInfo{TrackID: t.TrackID, ISRC: t.ISRC, Title: t.Title, Artist: t.Artist.Name,
			ArtistID: t.Artist.ID, DurationSeconds: t.DurationSeconds, Disc: t.Disc, Number: t.Number})
	}
	for _, a := range v1.Availability {
		if a.DownloadFrom != nil {
			v2.Deals = append(v2.Deals, Deal{Territories: []string{a.Territory}, UseTypes: []string{"PermanentDownload"},
				CommercialModels: []string{"PayAsYouGoModel"}, Start: a.DownloadFrom})
		}
		if a.StreamingFrom != nil {
			v2.Deals = append(v2.Deals, Deal{Territories: []string{a.Territory}, UseTypes: []string{"OnDemandStream"},
				CommercialModels: []string{"SubscriptionModel"}, Start: a.StreamingFrom})
		}
	}
	return json.Marshal(v2)
}

// deliveredV2toV3 adds nothing: v3 adds the optional owners, which a v2
// event does not know. Consumers fold such a release as belonging to no
// party until an owners-changed event names its owners (docs/events.md).
func deliveredV2toV3(data json.RawMessage) (json.RawMessage, error) {
	return data, nil
}
