package release

import (
	"testing"
	"time"
)

// TestTrackWindowsOrder: windows come sorted by territory, then usage name,
// one per (territory, usage), whatever order the deals list them in.
func TestTrackWindowsOrder(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	deals := []Deal{
		{Territories: []string{"US", "GB", "AD"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel", "SubscriptionModel"}, Start: &start},
		{Territories: []string{Worldwide}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"}},
		{Territories: []string{"FR"}, TakeDown: true},
	}
	ws := TrackWindows(deals, "")
	if len(ws) != len(Territories())-1+6 {
		t.Fatalf("%d windows", len(ws))
	}
	for i := 1; i < len(ws); i++ {
		a, b := ws[i-1], ws[i]
		if a.Territory > b.Territory || (a.Territory == b.Territory && a.Usage >= b.Usage) {
			t.Fatalf("out of order at %d: %+v then %+v", i, a, b)
		}
		if b.Territory == "FR" {
			t.Fatal("a taken-down territory has a window")
		}
	}
}

func TestTerritoryIndex(t *testing.T) {
	for i, code := range Territories() {
		if got, ok := TerritoryIndex(code); !ok || got != i {
			t.Errorf("TerritoryIndex(%q) = %d, %v; want %d, true", code, got, ok, i)
		}
	}
	for _, code := range []string{"", "G", "GBR", "gb", "Gb", "ZZ", "AA", "@A", "A[", Worldwide, "\xff\xff"} {
		if i, ok := TerritoryIndex(code); ok {
			t.Errorf("TerritoryIndex(%q) = %d, true; want false", code, i)
		}
	}
}
