package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest"
)

// Delivery is one generated delivery: a release (first or later) or a
// purge, in catalog's JSON form, which ERN43 renders as DDEX ERN 4.3.
type Delivery struct {
	// Name sorts deliveries in the order they were sent.
	Name    string
	Release ingest.JSONRelease
}

// Purge reports whether the delivery is a PurgeReleaseMessage.
func (d Delivery) Purge() bool { return d.Release.Purge != nil }

// Catalogue returns n releases as first deliveries (albums of 8-20 tracks,
// some on two or three discs, EPs and singles; several artists on some
// tracks; deals in 1 to 249 territories under download, subscription and
// ad-supported models with staggered start dates), followed by later
// deliveries for about 5% of them each: metadata updates, deal changes,
// takedowns and purges. The same seed gives the same catalogue.
func Catalogue(seed uint64, n int) []Delivery {
	var first, later []Delivery
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)))
		j := richRelease(r, seed, i)
		first = append(first, Delivery{Name: fmt.Sprintf("1-new-%07d", i), Release: j})
		created, _ := time.Parse(time.RFC3339, j.MessageCreated)
		next := func(kind string, day int) ingest.JSONRelease {
			u := j
			u.MessageID = fmt.Sprintf("%s-%s", j.MessageID, kind)
			u.MessageCreated = created.AddDate(0, 0, day).Format(time.RFC3339)
			return u
		}
		switch roll := r.IntN(100); {
		case roll < 5:
			u := next("update", 30)
			u.Title += " (Deluxe Edition)"
			u.Genre = "Pop"
			later = append(later, Delivery{Name: fmt.Sprintf("2-update-%07d", i), Release: u})
		case roll < 10:
			u := next("deals", 40)
			u.Deals = changedDeals(u.Deals)
			later = append(later, Delivery{Name: fmt.Sprintf("2-deals-%07d", i), Release: u})
		case roll < 15:
			u := next("takedown", 50)
			u.Deals = nil
			later = append(later, Delivery{Name: fmt.Sprintf("2-takedown-%07d", i), Release: u})
		case roll < 20:
			p := ingest.JSONRelease{MessageID: j.MessageID + "-purge", Sender: j.Sender,
				MessageCreated: created.AddDate(0, 0, 60).Format(time.RFC3339), Purge: &ingest.JSONPurge{UPC: j.UPC}}
			later = append(later, Delivery{Name: fmt.Sprintf("3-purge-%07d", i), Release: p})
		}
	}
	return append(first, later...)
}

// isrc returns the n-th generated ISRC of a seed: the registrant code
// carries the seed and the year and designation code carry n, so up to ten
// million tracks (500,000 releases) per seed are distinct.
func isrc(seed uint64, n int) string {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	reg := string([]byte{'G', alnum[seed/36%36], alnum[seed%36]})
	return fmt.Sprintf("GB%s%02d%05d", reg, n/100000%100, n%100000)
}

// changedDeals is a deal change as labels send them: the download price goes
// up and the ad-supported stream (when there is one) ends a year after it
// started; without one, the subscription stream does.
func changedDeals(in []ingest.JSONDeal) []ingest.JSONDeal {
	out := append([]ingest.JSONDeal(nil), in...)
	if p := out[0].Price; p != nil {
		out[0].Price = &ingest.JSONPrice{Amount: "19.99", Currency: p.Currency}
	}
	last := &out[len(out)-1]
	if start, err := time.Parse(time.DateOnly, last.Start); err == nil {
		last.End = start.AddDate(1, 0, 0).Format(time.DateOnly)
	}
	return out
}

var genres = strings.Fields(`Pop Rock Electronic Jazz Classical Hip-Hop Folk Soundtrack`)

func richRelease(r *rand.Rand, seed uint64, i int) ingest.JSONRelease {
	title, artist := names{r}.title, names{r}.artist
	kind, tracks, discs := "Album", 8+r.IntN(13), 1
	switch x := r.IntN(10); {
	case x < 2:
		kind, tracks = "Single", 1+r.IntN(2)
	case x < 4:
		kind, tracks = "EP", 3+r.IntN(4)
	case x < 5:
		discs = 2 + r.IntN(2)
	}
	main := artist()
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	j := ingest.JSONRelease{
		MessageID:      fmt.Sprintf("cat-%d-%07d", seed, i),
		Sender:         "PADPIDA0000000000C",
		MessageCreated: created.Format(time.RFC3339),
		UPC:            release.WithCheckDigit(fmt.Sprintf("9%03d%08d", seed%1000, i)),
		CatalogNumber:  fmt.Sprintf("CAT%07d", i),
		Title:          title(1 + r.IntN(3)),
		Type:           kind,
		Label:          labels[r.IntN(len(labels))],
		Artist:         main,
		Artists:        []ingest.JSONArtist{{Name: main, Role: "MainArtist"}},
		PLine:          fmt.Sprintf("%d %s", 1990+r.IntN(35), labels[r.IntN(len(labels))]),
		Genre:          genres[r.IntN(len(genres))],
		ReleaseDate:    fmt.Sprintf("%d-%02d-%02d", 1990+r.IntN(35), 1+r.IntN(12), 1+r.IntN(28)),
	}
	perDisc := (tracks + discs - 1) / discs
	for k := 0; k < tracks; k++ {
		d, _ := release.DurationOfSeconds(60 + r.IntN(420))
		t := ingest.JSONTrack{
			ISRC:     isrc(seed, i*20+k),
			Title:    title(1 + r.IntN(4)),
			Duration: d.String(),
			Disc:     1 + k/perDisc,
			Number:   1 + k%perDisc,
			Artists:  []ingest.JSONArtist{{Name: main, Role: "MainArtist"}},
			PLine:    j.PLine,
		}
		if r.IntN(4) == 0 {
			guest := artist()
			t.Artist = main + " feat. " + guest
			t.Artists = []ingest.JSONArtist{{Name: main, Role: "MainArtist"}, {Name: guest, Role: "FeaturedArtist"}}
		}
		if r.IntN(8) == 0 {
			t.ParentalWarning = "Explicit"
		} else {
			t.ParentalWarning = "NotExplicit"
		}
		j.Tracks = append(j.Tracks, t)
	}
	// Deals: a territory set of 1 to 249 countries, with staggered start dates.
	all := release.Territories()
	var terr []string
	switch x := r.IntN(10); {
	case x < 3:
		terr = []string{"Worldwide"}
	default:
		count := 1 + r.IntN(len(all))
		for _, p := range r.Perm(len(all))[:count] {
			terr = append(terr, all[p])
		}
	}
	start := time.Date(2000+r.IntN(26), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	price := fmt.Sprintf("%d.99", 5+r.IntN(10))
	if kind == "Single" {
		price = "1.29"
	}
	j.Deals = append(j.Deals,
		ingest.JSONDeal{Territories: terr, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
			Start: start.Format(time.DateOnly), Price: &ingest.JSONPrice{Amount: price, Currency: "EUR"}},
		ingest.JSONDeal{Territories: terr, UseTypes: []string{"OnDemandStream", "ConditionalDownload"}, CommercialModels: []string{"SubscriptionModel"},
			Start: start.AddDate(0, 0, r.IntN(30)).Format(time.DateOnly)},
	)
	if r.IntN(2) == 0 {
		j.Deals = append(j.Deals, ingest.JSONDeal{Territories: terr, UseTypes: []string{"OnDemandStream"},
			CommercialModels: []string{"AdvertisementSupportedModel"}, Start: start.AddDate(0, 3, 0).Format(time.DateOnly)})
	}
	return j
}
