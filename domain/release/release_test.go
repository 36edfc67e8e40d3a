package release_test

import (
	"errors"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
)

func TestParseValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parse func(string) error
		in    string
		want  error
	}{
		{"isrc compact", func(s string) error { _, err := release.ParseISRC(s); return err }, "USCA29600191", nil},
		{"isrc hyphenated lower", func(s string) error { _, err := release.ParseISRC(s); return err }, "us-ca2-96-00191", nil},
		{"isrc short", func(s string) error { _, err := release.ParseISRC(s); return err }, "USCA2960019", release.ErrInvalidISRC},
		{"upc with leading zeros", func(s string) error { _, err := release.ParseUPC(s); return err }, "00724349501058", nil},
		{"ean13", func(s string) error { _, err := release.ParseUPC(s); return err }, "5012345678900", nil},
		{"upc bad check digit", func(s string) error { _, err := release.ParseUPC(s); return err }, "00724349501059", release.ErrInvalidUPC},
		{"upc letters", func(s string) error { _, err := release.ParseUPC(s); return err }, "0072434950105X", release.ErrInvalidUPC},
		{"territory", func(s string) error { _, err := release.ParseTerritory(s); return err }, "gb", nil},
		{"territory unassigned", func(s string) error { _, err := release.ParseTerritory(s); return err }, "XX", release.ErrInvalidTerritory},
		{"duration", func(s string) error { _, err := release.ParseDuration(s); return err }, "PT4M12S", nil},
		{"duration zero", func(s string) error { _, err := release.ParseDuration(s); return err }, "PT0S", release.ErrInvalidDuration},
		{"duration garbage", func(s string) error { _, err := release.ParseDuration(s); return err }, "4:12", release.ErrInvalidDuration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.parse(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("parse(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
	if got := release.MustParseISRC("us-ca2-96-00191").String(); got != "USCA29600191" {
		t.Errorf("ISRC normalised to %q", got)
	}
	if d, _ := release.ParseDuration("PT1H2M3S"); d.Seconds() != 3723 || d.String() != "PT1H2M3S" {
		t.Errorf("duration = %d s, %s", d.Seconds(), d)
	}
	if got := release.WithCheckDigit("0072434950105"); got != "00724349501058" {
		t.Errorf("WithCheckDigit = %s", got)
	}
}
