// Package gen generates deterministic synthetic catalogues in catalog's JSON
// release format, for demos, tests and load. The same seed always gives the
// same releases; every one passes ingest's validation.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest"
)

var (
	wordList = strings.Fields(`velvet harbour midnight paper lantern signal river static golden hollow echo
		northern glass orbit cinder meadow neon quiet thunder silver atlas ember tide canyon satellite
		winter garden parade mirror falcon coral distant motel arcade summer ocean ghost honey`)
	firstNames  = strings.Fields(`Ada Miles Nina Otis Priya Ravi Sofia Theo Uma Vera Wes Yara Zane Lena Kofi Ines`)
	lastNames   = strings.Fields(`Hart Okafor Lindqvist Moreau Tanaka Reyes Novak Byrne Castillo Adeyemi Sato Kowalski`)
	bandWords   = strings.Fields(`Collective Orchestra Brothers Society Club Machines Tapes Choir Radio`)
	labels      = []string{"Northern Static Records", "Paper Lantern Music", "Golden Hollow", "Tidewater Sound", "Cinder & Glass"}
	territories = strings.Fields(`GB US DE FR IE NL SE NO DK FI ES IT PT BE AT CH PL JP AU NZ CA BR MX ZA`)
)

// Releases returns n releases generated from seed. Release i always has
// the same UPC, so regenerating updates rather than duplicates.
func Releases(seed uint64, n int) []ingest.JSONRelease {
	out := make([]ingest.JSONRelease, n)
	for i := range out {
		out[i] = one(seed, i)
	}
	return out
}

// names draws titles and artist names from r.
type names struct{ r *rand.Rand }

// title is n capitalised words.
func (n names) title(words int) string {
	ws := make([]string, words)
	for k := range ws {
		w := wordList[n.r.IntN(len(wordList))]
		ws[k] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(ws, " ")
}

// artist is a band ("The Golden Radio") or a person.
func (n names) artist() string {
	if n.r.IntN(3) == 0 {
		return "The " + n.title(1) + " " + bandWords[n.r.IntN(len(bandWords))]
	}
	return firstNames[n.r.IntN(len(firstNames))] + " " + lastNames[n.r.IntN(len(lastNames))]
}

func one(seed uint64, i int) ingest.JSONRelease {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	title, artist := names{r}.title, names{r}.artist
	main := artist()
	j := ingest.JSONRelease{
		MessageID: fmt.Sprintf("gen-%d-%d", seed, i),
		UPC:       release.WithCheckDigit(fmt.Sprintf("0%02d%010d", seed%100, i+1)),
		Title:     title(1 + r.IntN(3)),
		Artist:    main,
		Label:     labels[r.IntN(len(labels))],
	}
	nTracks := 1 + r.IntN(12)
	discs := 1
	if nTracks > 10 && r.IntN(2) == 0 {
		discs = 2
	}
	perDisc := (nTracks + discs - 1) / discs
	for k := 0; k < nTracks; k++ {
		t := ingest.JSONTrack{
			ISRC:   fmt.Sprintf("GBCTL%02d%05d", seed%100, (i*20+k)%100000),
			Title:  title(1 + r.IntN(4)),
			Disc:   1 + k/perDisc,
			Number: 1 + k%perDisc,
		}
		d, _ := release.DurationOfSeconds(90 + r.IntN(330))
		t.Duration = d.String()
		if r.IntN(5) == 0 {
			t.Artist = main + " feat. " + artist()
		}
		j.Tracks = append(j.Tracks, t)
	}
	start := time.Date(1990+r.IntN(35), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
	// GB is always offered, so the demo's GB look-ups find every track.
	picked := map[string]bool{"GB": true}
	for len(picked) < 1+r.IntN(len(territories)) {
		picked[territories[r.IntN(len(territories))]] = true
	}
	for _, code := range territories {
		if !picked[code] {
			continue
		}
		a := ingest.JSONAvailability{Territory: code, Download: start.Format(time.DateOnly)}
		if r.IntN(4) != 0 || code == "GB" {
			a.Streaming = start.AddDate(0, 0, r.IntN(30)).Format(time.DateOnly)
		}
		j.Availability = append(j.Availability, a)
	}
	return j
}
