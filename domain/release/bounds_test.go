package release_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
)

// TestDurationBounds: a duration beyond MaxDuration, or one whose
// components would overflow, is refused with ErrInvalidDuration; the
// longest real recordings (a day) still fit.
func TestDurationBounds(t *testing.T) {
	t.Parallel()
	ok := map[string]int{
		"PT24H":        86400,
		"P1DT23H59M":   172740,
		"PT48H":        172800,
		"P2D":          172800,
		"PT172800S":    172800,
		"PT172800.4S":  172800,
		"PT13H23M32S":  48212,
		"PT0.5S":       1,
		"PT2879M60S":   172800,
		"PT4M12.000S":  252,
		"PT000000004M": 240,
	}
	for in, want := range ok {
		d, err := release.ParseDuration(in)
		if err != nil || d.Seconds() != want {
			t.Errorf("ParseDuration(%q) = %d s, %v; want %d s", in, d.Seconds(), err, want)
		}
	}
	for _, in := range []string{
		"PT2562047H47M16S",       // was stored as 633,437,444 s
		"PT5124096H",             // wrapped to 1,526 s
		"PT48H0M1S",              // one second over
		"PT172800.6S",            // rounds to one second over
		"P3D",                    // days over
		"P99999999999999999999D", // does not fit any integer
		"PT9223372036854775808S",
		"PT1" + strings.Repeat("0", 400) + "S",
		"PT17280000000000000000000000000000000000000M",
		"P1DT24H1S",
	} {
		d, err := release.ParseDuration(in)
		if !errors.Is(err, release.ErrInvalidDuration) {
			t.Errorf("ParseDuration(%.40q) = %d s, %v; want ErrInvalidDuration", in, d.Seconds(), err)
			continue
		}
		if !strings.Contains(err.Error(), "maximum track duration of PT48H") {
			t.Errorf("ParseDuration(%.40q): error %q does not name the maximum", in, err)
		}
		if len(err.Error()) > 400 {
			t.Errorf("ParseDuration(%.40q): error is %d bytes long", in, len(err.Error()))
		}
	}
	if _, err := release.DurationOfSeconds(172801); !errors.Is(err, release.ErrInvalidDuration) {
		t.Errorf("DurationOfSeconds(172801) = %v, want ErrInvalidDuration", err)
	}
	if d, err := release.DurationOfSeconds(172800); err != nil || d.String() != "PT48H" {
		t.Errorf("DurationOfSeconds(172800) = %s, %v", d, err)
	}
}

// TestDraftWithOverlongDurationIsRejected: release.New names the track's
// duration field and changes nothing.
func TestDraftWithOverlongDurationIsRejected(t *testing.T) {
	t.Parallel()
	d := release.Draft{Message: release.Message{Sender: "PADPIDA0000000001", ID: "m1"}, UPC: "00724349501058", Title: "T", Artist: "A",
		Tracks: []release.DraftTrack{{ISRC: "USCA29600191", Title: "One", Duration: "PT5124096H", Disc: 1, Number: 1}}}
	_, err := release.New(d)
	v, ok := release.IsValidationError(err)
	if !ok || len(v.Problems) != 1 || v.Problems[0].Field != "tracks[0].duration" || !strings.Contains(v.Problems[0].Reason, "maximum track duration") {
		t.Fatalf("New = %v, want one problem at tracks[0].duration naming the maximum", err)
	}
}

// TestPriceCurrencyIsISO4217: a price is in a current ISO 4217 currency a
// customer can pay in; ZZZ (not a code), XXX (no currency), XTS (testing),
// XAU (gold), withdrawn and fund codes are refused at the deal's price.
func TestPriceCurrencyIsISO4217(t *testing.T) {
	t.Parallel()
	draft := func(amount, currency string) release.Draft {
		return release.Draft{Message: release.Message{Sender: "PADPIDA0000000001", ID: "m1"}, UPC: "00724349501058", Title: "T", Artist: "A",
			Tracks: []release.DraftTrack{{ISRC: "USCA29600191", Title: "One", Duration: "PT3M", Disc: 1, Number: 1}},
			Deals: []release.DraftDeal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}, Start: "2024-01-01",
				PriceAmount: amount, PriceCurrency: currency}}}
	}
	for _, c := range []string{"GBP", "eur", "USD", "JPY", "XOF", "XCD", "VES", "SLE", "ZWG", "XCG"} {
		r, err := release.New(draft("0.99", c))
		if err != nil {
			t.Errorf("currency %s: %v", c, err)
			continue
		}
		if got := r.Deals()[0].Price.Currency; got != strings.ToUpper(c) {
			t.Errorf("currency %s kept as %s", c, got)
		}
	}
	for _, c := range []string{"ZZZ", "XXX", "XTS", "XAU", "XDR", "BOV", "HRK", "DEM", "AAA", "", "GB", strings.Repeat("Z", 5000)} {
		_, err := release.New(draft("0.99", c))
		v, ok := release.IsValidationError(err)
		if !ok || len(v.Problems) != 1 || v.Problems[0].Field != "deals[0].price" || !strings.Contains(v.Problems[0].Reason, "ISO 4217") {
			t.Errorf("currency %.20q: New = %v, want one problem at deals[0].price naming ISO 4217", c, err)
			continue
		}
		if len(v.Problems[0].Reason) > 300 {
			t.Errorf("currency %.20q: reason is %d bytes long", c, len(v.Problems[0].Reason))
		}
	}
	if _, err := release.New(draft("", "ZZZ")); err == nil {
		t.Error("a price code with currency ZZZ and no amount was accepted")
	}
}
