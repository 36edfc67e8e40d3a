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

// DefaultReuse is the share of generated releases that are compilations or
// reissues of earlier releases' recordings, as in real catalogues (5-10%).
const DefaultReuse = 0.07

// minShared is the first release that may reuse recordings: a compilation
// draws from at least this many earlier releases.
const minShared = 10

// Catalogue returns n releases as first deliveries (albums of 8-20 tracks,
// some on two or three discs, EPs and singles; several artists on some
// tracks; deals in 1 to 249 territories under download, subscription and
// ad-supported models with staggered start dates), followed by later
// deliveries for about 20% of them: metadata updates, deal changes,
// takedowns and purges (about 5% each).
//
// A share reuse (from 0 to 1; DefaultReuse is realistic) of the releases
// after the first ten carry recordings of earlier ones under their ISRCs: two
// thirds are compilations ("Various Artists", 8-20 tracks drawn from
// earlier releases), one third reissues (an earlier release's whole
// tracklist, remastered, sometimes with a bonus track of its own). Each is
// a release of its own, with its own UPC and deals, and gets later
// deliveries like any other. The same seed and reuse give the same
// catalogue, and release i depends only on them and on the releases before
// it, so a larger n keeps the first releases as they were. Catalogue panics
// if reuse is outside [0, 1].
func Catalogue(seed uint64, n int, reuse float64) []Delivery {
	if reuse < 0 || reuse > 1 || reuse != reuse {
		panic(fmt.Sprintf("gen.Catalogue: reuse %v is not a share from 0 to 1", reuse))
	}
	var first, later []Delivery
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)))
		var j ingest.JSONRelease
		// Whether release i reuses recordings is drawn from a stream of its
		// own, so the share does not change what the other releases are.
		if pick := rand.New(rand.NewPCG(seed^0x2545f4914f6cdd1d, uint64(i))); i >= minShared && pick.Float64() < reuse {
			j = sharedRelease(r, seed, i, first)
		} else {
			j = richRelease(r, seed, i)
		}
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

// sharedRelease is release i as a compilation of tracks of earlier releases
// or a reissue of one of them: their recordings (ISRC, title, duration,
// artists) on a release of its own.
func sharedRelease(r *rand.Rand, seed uint64, i int, earlier []Delivery) ingest.JSONRelease {
	j := releaseHeader(r, seed, i)
	if r.IntN(3) < 2 {
		j.Title = names{r}.title(1+r.IntN(2)) + " Hits"
		j.Type = "Album"
		j.Artist = "Various Artists"
		j.Artists = []ingest.JSONArtist{{Name: j.Artist, Role: "MainArtist"}}
		want := min(8+r.IntN(13), 20)
		seen := map[string]bool{}
		for tries := 0; len(j.Tracks) < want && tries < 4*want; tries++ {
			src := earlier[r.IntN(len(earlier))].Release
			t := src.Tracks[r.IntN(len(src.Tracks))]
			if seen[t.ISRC] {
				continue
			}
			seen[t.ISRC] = true
			j.Tracks = append(j.Tracks, recording(src, t, 1, len(j.Tracks)+1))
		}
	} else {
		src := earlier[r.IntN(len(earlier))].Release
		j.Title, j.Type, j.Version, j.Genre = src.Title, src.Type, "Remastered", src.Genre
		j.Artist, j.Artists = src.Artist, src.Artists
		j.OriginalReleaseDate = src.ReleaseDate
		if src.OriginalReleaseDate != "" {
			j.OriginalReleaseDate = src.OriginalReleaseDate
		}
		for _, t := range src.Tracks {
			j.Tracks = append(j.Tracks, recording(src, t, t.Disc, t.Number))
		}
		if last := j.Tracks[len(j.Tracks)-1]; r.IntN(2) == 0 && len(j.Tracks) < 20 {
			d, _ := release.DurationOfSeconds(60 + r.IntN(420))
			j.Tracks = append(j.Tracks, ingest.JSONTrack{ISRC: isrc(seed, i*20), Title: names{r}.title(2) + " (Demo)",
				Duration: d.String(), Disc: last.Disc, Number: last.Number + 1, Artist: j.Artist, Artists: j.Artists,
				PLine: j.PLine, ParentalWarning: "NotExplicit"})
		}
	}
	j.Deals = generateDeals(r, j.Type)
	return j
}

// recording is track t of release src as another release carries it: the
// same ISRC, title, duration and artists, at disc and number.
func recording(src ingest.JSONRelease, t ingest.JSONTrack, disc, number int) ingest.JSONTrack {
	t.Disc, t.Number = disc, number
	if t.Artist == "" {
		t.Artist = src.Artist
	}
	t.Artists = append([]ingest.JSONArtist(nil), t.Artists...)
	return t
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

// releaseHeader is what every generated release has whatever its
// content: message, UPC, catalogue number, label, lines, genre and dates.
func releaseHeader(r *rand.Rand, seed uint64, i int) ingest.JSONRelease {
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	return ingest.JSONRelease{
		MessageID:      fmt.Sprintf("cat-%d-%07d", seed, i),
		Sender:         "PADPIDA0000000000C",
		MessageCreated: created.Format(time.RFC3339),
		UPC:            release.WithCheckDigit(fmt.Sprintf("9%03d%08d", seed%1000, i)),
		CatalogNumber:  fmt.Sprintf("CAT%07d", i),
		Label:          labels[r.IntN(len(labels))],
		PLine:          fmt.Sprintf("%d %s", 1990+r.IntN(35), labels[r.IntN(len(labels))]),
		Genre:          genres[r.IntN(len(genres))],
		ReleaseDate:    fmt.Sprintf("%d-%02d-%02d", 1990+r.IntN(35), 1+r.IntN(12), 1+r.IntN(28)),
	}
}

// richRelease is release i with recordings of its own: an album, EP or
// single by one main artist, with featured artists on some tracks.
func richRelease(r *rand.Rand, seed uint64, i int) ingest.JSONRelease {
	j := releaseHeader(r, seed, i)
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
	j.Title, j.Type, j.Artist = title(1+r.IntN(3)), kind, main
	j.Artists = []ingest.JSONArtist{{Name: main, Role: "MainArtist"}}
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
	j.Deals = generateDeals(r, kind)
	return j
}

// generateDeals is a release's deals: a territory set of 1 to 249
// countries (or Worldwide) under download and subscription, and
// ad-supported streaming on half of them, with staggered start dates.
func generateDeals(r *rand.Rand, kind string) []ingest.JSONDeal {
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
	deals := []ingest.JSONDeal{
		{Territories: terr, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
			Start: start.Format(time.DateOnly), Price: &ingest.JSONPrice{Amount: price, Currency: "EUR"}},
		{Territories: terr, UseTypes: []string{"OnDemandStream", "ConditionalDownload"}, CommercialModels: []string{"SubscriptionModel"},
			Start: start.AddDate(0, 0, r.IntN(30)).Format(time.DateOnly)},
	}
	if r.IntN(2) == 0 {
		deals = append(deals, ingest.JSONDeal{Territories: terr, UseTypes: []string{"OnDemandStream"},
			CommercialModels: []string{"AdvertisementSupportedModel"}, Start: start.AddDate(0, 3, 0).Format(time.DateOnly)})
	}
	return deals
}
