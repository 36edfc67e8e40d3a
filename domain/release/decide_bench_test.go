package release_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

// BenchmarkDecideUpdate decides a redelivery of an album with 747 deals
// (three in each of the 249 territories) that changes one track title,
// against the state as the write side stores it (JSON, read back), as
// every update ingest takes does.
func BenchmarkDecideUpdate(b *testing.B) {
	d := release.Draft{
		Message: release.Message{Sender: "PADPIDA0000000001", ID: "m1", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		UPC:     "00724349501058", Title: "Album", Artist: "The Band", Label: "Label", Type: "Album", PLine: "2026 Label", ReleaseDate: "2026-01-01",
	}
	ids := release.IDs{Artists: map[string]int64{"The Band": 7}, Tracks: map[release.ISRC]int64{}}
	for k := 0; k < 12; k++ {
		isrc := fmt.Sprintf("GBBEN%07d", k)
		d.Tracks = append(d.Tracks, release.DraftTrack{ISRC: isrc, Title: fmt.Sprintf("Track %d", k+1), Duration: "PT3M25S", Disc: 1, Number: k + 1})
		ids.Tracks[release.MustParseISRC(isrc)] = int64(100 + k)
	}
	for _, t := range release.Territories() {
		d.Deals = append(d.Deals,
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: "2026-01-01", PriceAmount: "9.99", PriceCurrency: "EUR"},
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"OnDemandStream", "ConditionalDownload"}, CommercialModels: []string{"SubscriptionModel"}, Start: "2026-01-01"},
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, Start: "2026-01-01"})
	}
	first, err := release.New(d)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := release.Decide(release.State{ReleaseID: 1}, first, ids, release.BySender)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(dec.Next)
	if err != nil {
		b.Fatal(err)
	}
	var cur release.State
	if err := json.Unmarshal(raw, &cur); err != nil {
		b.Fatal(err)
	}
	d.Message.ID, d.Message.Created = "m2", d.Message.Created.Add(time.Hour)
	d.Tracks[0].Title = "Fresh"
	next, err := release.New(d)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dec, err := release.Decide(cur, next, ids, release.BySender)
		if err != nil || dec.Outcome != release.Accepted || len(dec.Events) != 1 || dec.Events[0].Type != release.TypeTracksChanged {
			b.Fatalf("decide: %v %+v", err, dec.Events)
		}
	}
}
