package verify

import (
	"hash/fnv"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
)

// Status is the kind of answer track/details must give.
type Status int

// The answers track/details gives.
const (
	// Found: the track is offered in the territory (HTTP 200).
	Found Status = iota
	// NotFound: no live release carries the id (404, error 2001).
	NotFound
	// NotAvailable: the track exists but nothing is offered in the
	// territory now or later (404, error 2002).
	NotAvailable
	// Unchecked: the track's release is held (the log cannot say).
	Unchecked
)

// String names the status as the API answers it.
func (s Status) String() string {
	switch s {
	case Found:
		return "200"
	case NotFound:
		return "404 2001"
	case NotAvailable:
		return "404 2002"
	}
	return "unchecked"
}

// Answer is what track/details must answer for a track in a territory.
type Answer struct {
	Status Status
	// Track is the track's content (for Found and NotAvailable) with the
	// offers in the territory (for Found); Release.Sequence is the
	// release's version.
	Track catalogue.Track
}

// Answer returns what track/details must answer for track id in territory
// at now.
func (e *Expected) Answer(id int64, territory string, now time.Time) Answer {
	if e.heldTracks[id] {
		return Answer{Status: Unchecked}
	}
	a, ok := e.answers[id]
	if !ok {
		return Answer{Status: NotFound}
	}
	t := a.content()
	t.Territory = territory
	t.Download, t.Subscription, t.AdSupported = offersIn(a.rel.deals, t.ISRC, territory, now)
	if !t.Available() {
		return Answer{Status: NotAvailable, Track: t}
	}
	return Answer{Status: Found, Track: t}
}

// content is the track without territory or offers.
func (a answerer) content() catalogue.Track {
	r, ti := a.rel, a.rel.tracks[a.track]
	return catalogue.Track{
		ID: ti.TrackID, ISRC: ti.ISRC, Title: ti.Title, Version: ti.Version,
		Artist:          catalogue.Artist{ID: ti.ArtistID, Name: ti.Artist},
		DurationSeconds: ti.DurationSeconds, Disc: ti.Disc, Number: ti.Number, PLine: ti.PLine, ParentalWarning: ti.ParentalWarning,
		Release: catalogue.Release{
			ID: r.id, UPC: r.meta.UPC, GRid: r.meta.GRid, CatalogNumber: r.meta.CatalogNumber, Title: r.meta.Title,
			Version: r.meta.Version, Type: r.meta.Type, Artist: catalogue.Artist{ID: r.artistID, Name: r.meta.Artist},
			Label: r.meta.Label, PLine: r.meta.PLine, ReleaseDate: r.meta.ReleaseDate, Sequence: r.version,
		},
	}
}

// offersIn evaluates the rules of docs/deals.md for one track in one
// territory, deal by deal, with the domain's own reading of a deal
// (Deal.Covers, Deal.Usages):
//   - a track with deals of its own (deals naming its ISRC) uses those,
//     else the release's deals (Track "");
//   - a takedown deal of the release or of the track that covers the
//     territory withdraws every usage there;
//   - deals for the same usage merge: the earliest start (none is
//     earliest), the latest end (none is latest), the price of the
//     earliest-starting deal (the first such in deal order on a tie);
//   - an offer whose end has passed by now is not offered; one that
//     starts later is.
func offersIn(deals []release.Deal, isrc, territory string, now time.Time) (download, subscription, adSupported *catalogue.Offer) {
	scope := ""
	for _, d := range deals {
		if isrc != "" && d.Track == isrc {
			scope = isrc
		}
	}
	for _, d := range deals {
		if d.TakeDown && (d.Track == "" || d.Track == isrc) && d.Covers(territory) {
			return nil, nil, nil
		}
	}
	type merged struct {
		set      bool
		from, to *time.Time
		price    *release.Price
	}
	var acc [3]merged
	for _, d := range deals {
		if d.Track != scope || !d.Covers(territory) {
			continue
		}
		for _, u := range d.Usages() {
			m := &acc[usageIndex(u)]
			if !m.set {
				*m = merged{set: true, from: d.Start, to: d.End, price: d.Price}
				continue
			}
			if m.from != nil && (d.Start == nil || d.Start.Before(*m.from)) {
				m.from, m.price = d.Start, d.Price
			}
			if m.to != nil && (d.End == nil || d.End.After(*m.to)) {
				m.to = d.End
			}
		}
	}
	offer := func(m merged) *catalogue.Offer {
		if !m.set || m.to != nil && !m.to.After(now) {
			return nil
		}
		o := &catalogue.Offer{From: m.from, To: m.to}
		if m.price != nil {
			o.Price = &catalogue.Price{Amount: m.price.Amount, Currency: m.price.Currency, Code: m.price.Code}
		}
		return o
	}
	return offer(acc[0]), offer(acc[1]), offer(acc[2])
}

func usageIndex(u release.Usage) int {
	switch u {
	case release.UsageDownload:
		return 0
	case release.UsageSubscription:
		return 1
	}
	return 2
}

// Territories returns the territories worth checking for a track of
// release id: every territory any of the release's deals names (in its
// territories or its exclusions), and one it names nowhere, picked by
// seed and the release id (which a Worldwide deal or an exclusion list
// covers, and a plain list does not). With all, every ISO 3166-1 code.
func (e *Expected) Territories(releaseID int64, all bool, seed uint64) []string {
	if all {
		return release.Territories()
	}
	r := e.releases[releaseID]
	named := map[string]bool{}
	if r != nil {
		for _, d := range r.deals {
			for _, l := range [][]string{d.Territories, d.ExcludedTerritories} {
				for _, t := range l {
					if t != release.Worldwide {
						named[t] = true
					}
				}
			}
		}
	}
	var out, others []string
	for _, t := range release.Territories() {
		if named[t] {
			out = append(out, t)
		} else {
			others = append(others, t)
		}
	}
	if len(others) > 0 {
		h := fnv.New64a()
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i], b[8+i] = byte(seed>>(8*i)), byte(uint64(releaseID)>>(8*i))
		}
		_, _ = h.Write(b[:])
		out = append(out, others[h.Sum64()%uint64(len(others))])
	}
	return out
}
