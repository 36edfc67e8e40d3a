package projections

import (
	"encoding/base64"
	"sort"
	"strconv"
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

var territoryIndex = func() map[string]int {
	m := map[string]int{}
	for i, t := range release.Territories() {
		m[t] = i
	}
	return m
}()

// Covers reports whether the term includes territory.
func (t Term) Covers(territory string) bool {
	i, ok := territoryIndex[territory]
	if !ok {
		return false
	}
	b, err := base64.RawStdEncoding.DecodeString(t.Territories)
	if err != nil || i/8 >= len(b) {
		return false
	}
	return b[i/8]&(1<<(i%8)) != 0
}

// Compact folds per-territory windows into terms: windows with the same
// usage, start, end and price share one term.
func Compact(windows []release.Window) []Term {
	type key struct {
		usage    release.Usage
		from, to string
		price    string
	}
	bits := map[key][]byte{}
	sample := map[key]release.Window{}
	var order []key
	for _, w := range windows {
		k := key{usage: w.Usage, from: stamp(w.From), to: stamp(w.To)}
		if w.Price != nil {
			k.price = w.Price.Amount + "\x00" + w.Price.Currency + "\x00" + w.Price.Code
		}
		b, ok := bits[k]
		if !ok {
			b = make([]byte, (len(release.Territories())+7)/8)
			order = append(order, k)
			sample[k] = w
		}
		i := territoryIndex[w.Territory]
		b[i/8] |= 1 << (i % 8)
		bits[k] = b
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.usage != b.usage {
			return a.usage < b.usage
		}
		if a.from != b.from {
			return a.from < b.from
		}
		if a.to != b.to {
			return a.to < b.to
		}
		return a.price < b.price
	})
	out := make([]Term, len(order))
	for i, k := range order {
		w := sample[k]
		out[i] = Term{Usage: k.usage, Territories: base64.RawStdEncoding.EncodeToString(bits[k]), From: w.From, To: w.To, Price: w.Price}
	}
	return out
}

func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 36)
}

// Terms derives the stored availability of a release from its deal set:
// the terms of the release's own deals, and, for each track that has deals
// of its own (or a takedown of its own), that track's terms.
func Terms(deals []release.Deal) (releaseTerms []Term, trackTerms map[string][]Term) {
	releaseTerms = Compact(release.TrackWindows(deals, ""))
	trackTerms = map[string][]Term{}
	for _, d := range deals {
		if d.Track != "" {
			if _, done := trackTerms[d.Track]; !done {
				trackTerms[d.Track] = Compact(release.TrackWindows(deals, d.Track))
			}
		}
	}
	return releaseTerms, trackTerms
}

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
		if t.To != nil && !t.To.After(now) {
			continue
		}
		if t.Covers(territory) {
			out[t.Usage] = Offer{From: t.From, To: t.To, Price: t.Price}
		}
	}
	return out
}
