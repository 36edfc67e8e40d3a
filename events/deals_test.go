package events_test

import (
	"reflect"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// TestDealsDecodeAsEncodingJSON decodes deal sets of every shape, those
// the producers write and others, through DecodeRecord and through the
// ordinary decoder, and wants the same payload or the same error.
func TestDealsDecodeAsEncodingJSON(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2027, 6, 30, 12, 30, 0, 500, time.UTC)
	for name, deals := range map[string]string{
		"as written": mustDeals(t, []release.Deal{
			{Territories: []string{"GB", "IE"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &start, End: &end, Price: &release.Price{Amount: "0.99", Currency: "GBP", Code: "FRONT"}},
			{Track: "GBBEN0000001", Territories: []string{"Worldwide"}, ExcludedTerritories: []string{"US"},
				UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel", "AdvertisementSupportedModel"}},
			{Territories: []string{"FR"}, TakeDown: true},
			{Territories: []string{"ZZ-unheard-of"}, UseTypes: []string{"SomeNewUse"}, Price: &release.Price{Code: "X"}},
		}),
		"no deals":             `[]`,
		"null deals":           `null`,
		"empty lists":          `[{"territories":[],"useTypes":[]}]`,
		"escaped":              `[{"territories":["G\u0042"],"track":"a\"b"}]`,
		"invalid UTF-8":        "[{\"track\":\"\xff\"}]",
		"null fields":          `[{"territories":null,"start":null,"price":null,"track":null,"takeDown":null}]`,
		"unknown key":          `[{"territories":["GB"],"future":{"a":[1,2]}}]`,
		"other case":           `[{"Territories":["GB"],"TRACK":"x"}]`,
		"repeated key":         `[{"territories":["GB"],"territories":["FR"],"price":{"amount":"1"},"price":{"code":"C"}}]`,
		"time with offset":     `[{"start":"2026-01-01T01:00:00+01:00","end":"2026-02-01T00:00:00.123456789Z"}]`,
		"loose time":           `[{"start":"2026-01-01T00:00:00.Z"}]`,
		"price repeated field": `[{"price":{"amount":"1","amount":"2"}}]`,
		"price unknown field":  `[{"price":{"amount":"1","discount":"2"}}]`,
		"takeDown false":       `[{"takeDown":false,"territories":["GB"]}]`,
		"not a list":           `[{"territories":"GB"}]`,
		"a number":             `[{"territories":[1]}]`,
		"not a deal":           `[1]`,
		"bad time":             `[{"start":"yesterday"}]`,
		"not a bool":           `[{"takeDown":"yes"}]`,
		"deals not a list":     `{"territories":["GB"]}`,
		"cut short":            `[{"territories":["GB"]`,
		"one good one unknown": `[{"territories":["GB"]},{"x":1}]`,
		"good then wrong type": `[{"territories":["GB"]},{"territories":[true]}]`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			value := []byte(`{"releaseId":9,"title":"T","deals":` + deals + `}`)
			var want release.Delivered
			wantErr := jsonv1.Unmarshal(value, &want)
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			e, err := events.NewEnvelope(want.EventType(), release.SchemaVersions[want.EventType()], "/catalog/ingest", "5012345678900", 1, at, "m", struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			e.Data = value
			_, p, ok, err := events.DecodePayload(e)
			if !ok {
				t.Fatal("the type is not registered")
			}
			switch {
			case wantErr != nil:
				if err == nil {
					t.Fatalf("decoded %+v, want the ordinary decoder's error %v", p, wantErr)
				}
				if got := err.Error(); got != "malformed event: decode "+want.EventType()+": "+wantErr.Error() {
					t.Errorf("error %q, want the ordinary decoder's %q", got, wantErr)
				}
			case err != nil:
				t.Fatalf("error %v; the ordinary decoder decodes it", err)
			case !reflect.DeepEqual(p, want):
				t.Errorf("decoded\n%#v\nwant\n%#v", p.(release.Delivered).Deals, want.Deals)
			}
		})
	}
}

func mustDeals(t *testing.T, deals []release.Deal) string {
	b, err := jsonv1.Marshal(deals)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
