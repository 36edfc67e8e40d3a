package release_test

import (
	"errors"
	"strings"
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

func exampleDraft() release.Draft {
	return release.Draft{
		UPC: "00724349501058", Title: "Come Down", Artist: "The Band", Label: "Label",
		Tracks: []release.DraftTrack{
			{ISRC: "USCA29600192", Title: "Two", Duration: "PT3M", Disc: 1, Number: 2},
			{ISRC: "USCA29600191", Title: "One", Duration: "PT4M12S", Disc: 1, Number: 1, Artist: "Guest"},
		},
		Availability: []release.DraftAvailability{{Territory: "GB", Download: "1997-07-03", Streaming: "1997-07-03T00:00:00Z"}},
	}
}

func TestNewListsEveryProblem(t *testing.T) {
	t.Parallel()
	d := exampleDraft()
	d.UPC = "123"
	d.Title = ""
	d.Tracks[0].ISRC = "nope"
	d.Tracks[1].Duration = ""
	d.Tracks[1].Number = 2
	d.Availability = append(d.Availability, release.DraftAvailability{Territory: "ZZ"})
	_, err := release.New(d)
	v, ok := release.IsValidationError(err)
	if !ok {
		t.Fatalf("New = %v, want a ValidationError", err)
	}
	want := []string{"upc", "title", "tracks[0].isrc", "tracks[1].duration", "tracks[1].number", "availability[1].territory", "availability[1]"}
	var got []string
	for _, p := range v.Problems {
		got = append(got, p.Field)
		if p.Reason == "" {
			t.Errorf("problem %s has no reason", p.Field)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("fields = %v\nwant     %v", got, want)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	r, err := release.New(exampleDraft())
	if err != nil {
		t.Fatal(err)
	}
	ids := release.IDs{
		Artists: map[string]int64{"The Band": 7, "Guest": 8},
		Tracks:  map[release.ISRC]int64{release.MustParseISRC("USCA29600191"): 11, release.MustParseISRC("USCA29600192"): 12},
	}
	first := release.Decide(release.Stream{ReleaseID: 3}, r, ids)
	if first.Unchanged || first.Sequence != 1 || first.Event == nil {
		t.Fatalf("first delivery: %+v", first)
	}
	ev := first.Event
	if ev.ReleaseID != 3 || ev.Artist.ID != 7 || len(ev.Tracks) != 2 || ev.Tracks[0].TrackID != 11 || ev.Tracks[0].Artist.ID != 8 ||
		ev.Tracks[0].DurationSeconds != 252 || ev.Tracks[1].Artist.Name != "The Band" {
		t.Fatalf("event = %+v", ev)
	}
	again := release.Decide(first.Next, r, ids)
	if !again.Unchanged || again.Event != nil {
		t.Fatalf("same content again: %+v", again)
	}
	d := exampleDraft()
	d.Title = "Come Down (Remastered)"
	r2, _ := release.New(d)
	changed := release.Decide(first.Next, r2, ids)
	if changed.Unchanged || changed.Sequence != 2 || changed.Event.Title != d.Title {
		t.Fatalf("changed delivery: %+v", changed)
	}
}
