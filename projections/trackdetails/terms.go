package trackdetails

import (
	"cmp"
	"encoding/base64"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

// Term is the compact form of availability the read model stores: one
// usage, available in a set of territories (a bitmap over
// release.Territories()), from From until To, at Price. A release's 747
// per-territory deals typically fold into three terms.
type Term struct {
	Usage       release.Usage  `json:"u"`
	Territories string         `json:"t"` // base64 of a bitmap, bit i = release.Territories()[i]
	From        *time.Time     `json:"f,omitempty"`
	To          *time.Time     `json:"e,omitempty"`
	Price       *release.Price `json:"p,omitempty"`
}

// Covers reports whether the term includes territory.
func (t Term) Covers(territory string) bool {
	i, ok := release.TerritoryIndex(territory)
	if !ok {
		return false
	}
	// Only the four characters that encode the territory's byte are
	// decoded, on the stack: Covers runs for every term on every read.
	k := i / 8
	lo := 4 * (k / 3)
	if lo >= len(t.Territories) {
		return false
	}
	var src [4]byte
	m := copy(src[:], t.Territories[lo:])
	var dst [3]byte
	n, err := base64.RawStdEncoding.Decode(dst[:], src[:m])
	if err != nil || k%3 >= n {
		return false
	}
	return dst[k%3]&(1<<(i%8)) != 0
}

// Compact folds per-territory windows into terms: windows with the same
// usage, start, end and price share one term.
func Compact(windows []release.Window) []Term {
	// A deal set makes a handful of terms (three for an album on sale
	// everywhere) out of hundreds of windows: each window's key is
	// compared with the terms found so far, a few short comparisons
	// rather than a hash of its strings; a map takes over only for a set
	// with many distinct terms.
	type term struct {
		k key
		b []byte
		w release.Window // the first window of the term
	}
	var (
		terms []term
		index map[key]int
	)
	const linear = 16
	for _, w := range windows {
		k := key{usage: w.Usage, from: nanos(w.From), to: nanos(w.To)}
		if w.Price != nil {
			k.amount, k.currency, k.code = w.Price.Amount, w.Price.Currency, w.Price.Code
		}
		j := -1
		if index != nil {
			if at, ok := index[k]; ok {
				j = at
			}
		} else {
			for at := range terms {
				if terms[at].k == k {
					j = at
					break
				}
			}
		}
		if j < 0 {
			j = len(terms)
			terms = append(terms, term{k: k, b: make([]byte, (len(release.Territories())+7)/8), w: w})
			if index != nil {
				index[k] = j
			} else if len(terms) > linear {
				index = make(map[key]int, 2*len(terms))
				for at := range terms {
					index[terms[at].k] = at
				}
			}
		}
		i, _ := release.TerritoryIndex(w.Territory)
		terms[j].b[i/8] |= 1 << (i % 8)
	}
	slices.SortFunc(terms, func(a, b term) int { return a.k.compare(b.k) })
	// The terms own their times and prices, in one array of each, rather
	// than point into the deal set's: a term kept after its event (a
	// prepared change's, a row's) does not hold the whole set's arrays.
	out := make([]Term, len(terms))
	times := make([]time.Time, 0, 2*len(terms))
	prices := make([]release.Price, 0, len(terms))
	for i, t := range terms {
		w := t.w
		out[i] = Term{Usage: t.k.usage, Territories: base64.RawStdEncoding.EncodeToString(t.b)}
		if w.From != nil {
			times = append(times, *w.From)
			out[i].From = &times[len(times)-1]
		}
		if w.To != nil {
			times = append(times, *w.To)
			out[i].To = &times[len(times)-1]
		}
		if w.Price != nil {
			prices = append(prices, *w.Price)
			out[i].Price = &prices[len(prices)-1]
		}
	}
	return out
}

// key is what the windows of one term share.
type key struct {
	usage                  release.Usage
	from, to               int64 // Unix nanoseconds; math.MinInt64 for nil
	amount, currency, code string
}

// compare orders keys by usage, start, end, then price.
func (a key) compare(b key) int {
	return cmp.Or(
		cmp.Compare(a.usage, b.usage),
		cmp.Compare(a.from, b.from),
		cmp.Compare(a.to, b.to),
		cmp.Compare(a.amount, b.amount),
		cmp.Compare(a.currency, b.currency),
		cmp.Compare(a.code, b.code),
	)
}

func nanos(t *time.Time) int64 {
	if t == nil {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Terms derives the stored availability of a release from its deal set:
// the terms of the release's own deals, and, for each track that has deals
// of its own (or a takedown of its own), that track's terms.
func Terms(deals []release.Deal) (releaseTerms []Term, trackTerms map[string][]Term) {
	sp := windowScratch.Get().(*[]release.Window)
	defer windowScratch.Put(sp)
	compact := func(isrc string) []Term {
		w := release.TrackWindowsIn(*sp, deals, isrc)
		t := Compact(w) // the terms keep nothing of the windows
		clear(w)
		return t
	}
	releaseTerms = compact("")
	trackTerms = map[string][]Term{}
	for _, d := range deals {
		if d.Track != "" {
			if _, done := trackTerms[d.Track]; !done {
				trackTerms[d.Track] = compact(d.Track)
			}
		}
	}
	return releaseTerms, trackTerms
}

// windowScratch holds the slots Terms works a deal set's windows out in
// (release.TrackWindowsIn), all zero between uses: a fold per event
// would otherwise allocate and zero release.WindowSlots windows (40 KB)
// each time.
var windowScratch = sync.Pool{New: func() any { s := make([]release.Window, release.WindowSlots); return &s }}

// Offer is a usage's availability in one territory, picked from terms.
type Offer struct {
	From, To *time.Time
	Price    *release.Price
}

// OffersIn returns the offers terms make in territory that have not ended
// by now, by usage.
func OffersIn(terms []Term, territory string, now time.Time) map[release.Usage]Offer {
	out := map[release.Usage]Offer{}
	for _, t := range terms {
		if t.offeredIn(territory, now) {
			out[t.Usage] = Offer{From: t.From, To: t.To, Price: t.Price}
		}
	}
	return out
}

// offeredIn reports whether the term covers territory and has not ended by
// now.
func (t Term) offeredIn(territory string, now time.Time) bool {
	return (t.To == nil || t.To.After(now)) && t.Covers(territory)
}
