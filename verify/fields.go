package verify

import (
	"strconv"
	"strings"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// field is one compared value: its name in divergences and its text.
type field struct{ name, value string }

// diff returns the fields whose values differ, as (name, expected,
// served). Both lists name the same fields in the same order.
func diff(expected, served []field) []fieldDiff {
	var out []fieldDiff
	for i, e := range expected {
		if s := served[i]; s.value != e.value {
			out = append(out, fieldDiff{e.name, e.value, s.value})
		}
	}
	return out
}

type fieldDiff struct{ field, expected, served string }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// contentFields are a read-model track's content: everything but the
// territory and its offers. The read model's version of the release
// (Release.Sequence) is compared too: caches and entity tags are keyed by it.
func contentFields(t catalogue.Track) []field {
	r := t.Release
	return []field{
		{"id", itoa(t.ID)},
		{"isrc", t.ISRC},
		{"title", t.Title},
		{"version", t.Version},
		{"artist.id", itoa(t.Artist.ID)},
		{"artist.name", t.Artist.Name},
		{"duration", strconv.Itoa(t.DurationSeconds)},
		{"disc", strconv.Itoa(t.Disc)},
		{"number", strconv.Itoa(t.Number)},
		{"pline", t.PLine},
		{"parentalWarning", t.ParentalWarning},
		{"release.id", itoa(r.ID)},
		{"release.upc", r.UPC},
		{"release.grid", r.GRid},
		{"release.catalogNumber", r.CatalogNumber},
		{"release.title", r.Title},
		{"release.version", r.Version},
		{"release.type", r.Type},
		{"release.artist.id", itoa(r.Artist.ID)},
		{"release.artist.name", r.Artist.Name},
		{"release.label", r.Label},
		{"release.pline", r.PLine},
		{"release.releaseDate", r.ReleaseDate},
		{"release.sequence", itoa(r.Sequence)},
	}
}

// notOffered is the value of a usage that is not offered.
const notOffered = "not offered"

// offerFields are a track's three usages in its territory: each "offered"
// or "not offered", and when offered its window and price. A usage offered
// on one side only is one field (the usage), not one per part.
func offerFields(t catalogue.Track) [3][]field {
	one := func(name string, o *catalogue.Offer) []field {
		if o == nil {
			return []field{{name, notOffered}}
		}
		return []field{{name, "offered"}, {name + ".from", stamp(o.From)}, {name + ".to", stamp(o.To)}, {name + ".price", price(o.Price)}}
	}
	return [3][]field{one("download", t.Download), one("subscriptionStreaming", t.Subscription), one("adSupportedStreaming", t.AdSupported)}
}

// offerDiff compares the usages of two tracks in one territory.
func offerDiff(expected, served catalogue.Track) []fieldDiff {
	e, s := offerFields(expected), offerFields(served)
	var out []fieldDiff
	for i := range e {
		if len(e[i]) != len(s[i]) {
			out = append(out, fieldDiff{e[i][0].name, describe(e[i]), describe(s[i])})
			continue
		}
		out = append(out, diff(e[i], s[i])...)
	}
	return out
}

// describe writes a usage in one value: "not offered", or "offered from
// X until Y at P".
func describe(fs []field) string {
	if len(fs) == 1 {
		return fs[0].value
	}
	var b strings.Builder
	b.WriteString("offered")
	for _, f := range fs[1:] {
		if f.value != "" {
			b.WriteString(" " + f.name[strings.LastIndexByte(f.name, '.')+1:] + " " + f.value)
		}
	}
	return b.String()
}

func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func price(p *catalogue.Price) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(strings.Join([]string{p.Amount, p.Currency, p.Code}, " "))
}
