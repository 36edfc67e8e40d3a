package ingest

import (
	"fmt"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// The largest release catalog accepts (docs/ingest.md). A box set of 900
// tracks, each with four deals listing every country one by one, fits all
// of them; its delivered event is about 5.2 MB.
const (
	// MaxTracks bounds the tracks of one release.
	MaxTracks = 1000
	// MaxDeals bounds the deals of one release (four per track at MaxTracks).
	MaxDeals = 4000
	// MaxDealTerritories bounds the territories one deal lists, included and
	// excluded together: there are 249 ISO 3166-1 countries, plus Worldwide.
	MaxDealTerritories = 250
	// MaxEventBytes bounds each event a delivery produces, as a Kafka record
	// (events.MaxEventBytes, 6 MiB).
	MaxEventBytes = events.MaxEventBytes
)

// checkCounts reports the parts of d over the count bounds. It runs before
// validation, so an oversized delivery costs little.
func checkCounts(d release.Draft) []release.Problem {
	var ps []release.Problem
	field := func(f string) string {
		if src := d.Source[f]; src != "" {
			return src
		}
		return f
	}
	if n := len(d.Tracks); n > MaxTracks {
		ps = append(ps, release.Problem{Field: field("tracks"),
			Reason: fmt.Sprintf("%d tracks; a release may have at most %d", n, MaxTracks)})
	}
	if n := len(d.Deals); n > MaxDeals {
		ps = append(ps, release.Problem{Field: field("deals"),
			Reason: fmt.Sprintf("%d deals; a release may have at most %d", n, MaxDeals)})
	}
	for i, dd := range d.Deals {
		if n := len(dd.Territories) + len(dd.ExcludedTerritories); n > MaxDealTerritories {
			ps = append(ps, release.Problem{Field: field(fmt.Sprintf("deals[%d].territories", i)),
				Reason: fmt.Sprintf("%d territories; a deal may list at most %d (included and excluded together)", n, MaxDealTerritories)})
		}
	}
	return ps
}

// checkEventSize rejects an event too large to be one Kafka record.
func checkEventSize(msg release.Message, env events.Envelope) error {
	if n := events.RecordSize(env); n > MaxEventBytes {
		return &release.ValidationError{Message: msg, Problems: []release.Problem{{Field: "(release)",
			Reason: fmt.Sprintf("its %s event would be %d bytes; an event may be at most %d bytes (%d MiB): send fewer tracks, deals or territories per deal",
				env.Type, n, MaxEventBytes, MaxEventBytes>>20)}}}
	}
	return nil
}
