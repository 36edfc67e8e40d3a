package api

import (
	"bytes"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// trackEnvelopes are track/details answers covering every optional part
// of the body: each usage block present or not, with and without a start
// date, a price or a label, and text that needs escaping.
func trackEnvelopes(text string) []envelope {
	h := &handler{cfg: Config{ImageBaseURL: DefaultImageBaseURL}}
	from := time.Date(1997, 7, 3, 0, 0, 0, 0, time.UTC)
	base := catalogue.Track{
		ID: 12345, ISRC: "USCA29600191", Title: "I Love You " + text, Version: text, Artist: catalogue.Artist{ID: 437, Name: text},
		DurationSeconds: 252, Disc: 1, Number: 5, PLine: text, ParentalWarning: "Explicit",
		Release: catalogue.Release{ID: 1302, UPC: "00724349501058", Title: text + " Come Down", Version: text, Type: "Album",
			Artist: catalogue.Artist{ID: 9, Name: "The Dandy Warhols"}, Label: text, Sequence: 7},
	}
	var out []envelope
	for i := range 64 {
		t := base
		if i&1 != 0 {
			t.Download = &catalogue.Offer{From: &from, Price: &catalogue.Price{Amount: "0.99", Currency: text}}
		}
		if i&2 != 0 {
			t.Download = &catalogue.Offer{Price: &catalogue.Price{Amount: ""}}
		}
		if i&4 != 0 {
			t.Subscription = &catalogue.Offer{From: &from}
		}
		if i&8 != 0 {
			t.AdSupported = &catalogue.Offer{}
		}
		if i&16 != 0 {
			t.Release.Label, t.PLine, t.ParentalWarning = "", "", ""
		}
		v := view{country: "GB", usages: usageSet{download: true, subscription: i&32 == 0, adSupported: true}, imageSize: 50}
		out = append(out, envelope{Status: "ok", Version: apiVersion, Track: h.trackRep(t, v)})
	}
	return out
}

func checkTrackXML(t *testing.T, text string) {
	for _, env := range trackEnvelopes(text) {
		want, err := marshalXML(env)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTrackXML(nil, env); !bytes.Equal(got, want) {
			t.Fatalf("appendTrackXML for %q:\n%s\nencoding/xml:\n%s", text, got, want)
		}
	}
}

func TestTrackXMLIsEncodingXMLs(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" & <tagged> 'single'`, "tab\tline\nreturn\r", "Sigur Rós – Ágætis byrjun",
		"\x00\x01\x1f\x7f", "\xff\xfe invalid", "\uFFFD", "\U0010FFFF \uFFFE \uD7FF", "]]>"} {
		checkTrackXML(t, s)
	}
}

func FuzzTrackXML(f *testing.F) {
	for _, s := range []string{"", "a&b", "\xc3", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(checkTrackXML)
}
