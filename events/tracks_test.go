package events_test

import (
	"reflect"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// TestTracksDecodeAsEncodingJSON decodes tracklists of every shape, those
// the producers write and others, through DecodePayload and through the
// ordinary decoder, and wants the same payload or the same error, for
// both events that carry a tracklist.
func TestTracksDecodeAsEncodingJSON(t *testing.T) {
	t.Parallel()
	written, err := jsonv1.Marshal([]release.TrackInfo{
		{TrackID: 1, ISRC: "GBBEN0000001", Title: "One", Artist: "A", ArtistID: 7, DurationSeconds: 200, Disc: 1, Number: 1,
			PLine: "2026 L", ParentalWarning: "NotExplicit", Artists: []release.Credit{{Name: "A", Role: "MainArtist"}}},
		{TrackID: 2, ISRC: "GBBEN0000002", Title: "Two", Version: "Live", Artist: "A", ArtistID: 7, DurationSeconds: 3, Disc: 1, Number: 2,
			PLine: "2026 L", Artists: []release.Credit{{Name: "A", Role: "MainArtist"}, {Name: "B", Role: "FeaturedArtist"}}},
		{TrackID: 9007199254740993, ISRC: "GBBEN0000003", Title: "Three", Artist: "C", ArtistID: -4, Disc: 2, Number: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, tracks := range map[string]string{
		"as written":               string(written),
		"no tracks":                `[]`,
		"null tracks":              `null`,
		"empty credits":            `[{"trackId":1,"isrc":"X","artists":[]}]`,
		"null credits":             `[{"trackId":1,"isrc":"X","artists":null}]`,
		"credit without role":      `[{"trackId":1,"artists":[{"name":"A"}]}]`,
		"credit unknown key":       `[{"trackId":1,"artists":[{"name":"A","x":1}]}]`,
		"credit repeated key":      `[{"trackId":1,"artists":[{"name":"A","name":"B"}]}]`,
		"credit not object":        `[{"trackId":1,"artists":["A"]}]`,
		"escaped":                  `[{"trackId":1,"title":"a\"b","artist":"\u0041"}]`,
		"as encoding/json escapes": `[{"trackId":1,"pLine":"2026 Cinder \u0026 Glass","title":"\u003cx\u003e \u2028"},{"trackId":2,"pLine":"2026 Cinder \u0026 Glass"}]`,
		"surrogate pair":           `[{"trackId":1,"title":"\ud83d\ude00"}]`,
		"lone surrogate":           `[{"trackId":1,"title":"\ud800x"}]`,
		"escaped slash":            `[{"trackId":1,"title":"a\/b\t\n\\"}]`,
		"invalid UTF-8":            "[{\"trackId\":1,\"title\":\"\xff\"}]",
		"null fields":              `[{"trackId":null,"title":null,"disc":null}]`,
		"unknown key":              `[{"trackId":1,"future":{"a":[1,2]}}]`,
		"other case":               `[{"TrackId":1,"ISRC":"X"}]`,
		"repeated key":             `[{"trackId":1,"trackId":2}]`,
		"fraction":                 `[{"trackId":1.5}]`,
		"integral fraction":        `[{"trackId":1.0}]`,
		"exponent":                 `[{"trackId":1e3}]`,
		"negative zero":            `[{"trackId":-0,"disc":-12}]`,
		"largest int64":            `[{"trackId":9223372036854775807}]`,
		"overflow":                 `[{"trackId":9223372036854775808}]`,
		"number as string":         `[{"trackId":"1"}]`,
		"string as number":         `[{"title":1}]`,
		"not a track":              `[1]`,
		"tracks not a list":        `{"trackId":1}`,
		"cut short":                `[{"trackId":1}`,
		"good then unknown":        `[{"trackId":1},{"x":1}]`,
		"shared then differs":      `[{"artist":"A","pLine":"P"},{"artist":"A","pLine":"Q"},{"artist":"B","pLine":"Q"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, ev := range []release.Payload{release.Delivered{}, release.TracksChanged{}} {
				value := []byte(`{"releaseId":9,"title":"T","tracks":` + tracks + `}`)
				ptr := reflect.New(reflect.TypeOf(ev))
				wantErr := jsonv1.Unmarshal(value, ptr.Interface())
				want := ptr.Elem().Interface()
				at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
				e, err := events.NewEnvelope(ev.EventType(), release.SchemaVersions[ev.EventType()], "/catalog/ingest", "5012345678900", 1, at, "m", struct{}{})
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
						t.Fatalf("%s: decoded %+v, want the ordinary decoder's error %v", ev.EventType(), p, wantErr)
					}
					if got := err.Error(); got != "malformed event: decode "+ev.EventType()+": "+wantErr.Error() {
						t.Errorf("%s: error %q, want the ordinary decoder's %q", ev.EventType(), got, wantErr)
					}
				case err != nil:
					t.Fatalf("%s: error %v; the ordinary decoder decodes it", ev.EventType(), err)
				case !reflect.DeepEqual(p, want):
					t.Errorf("%s: decoded\n%#v\nwant\n%#v", ev.EventType(), p, want)
				}
			}
		})
	}
}

// FuzzTracksDecodeAsEncodingJSON decodes any tracklist through
// DecodePayload and through the ordinary decoder and wants the same
// payload or an error from both.
func FuzzTracksDecodeAsEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`[{"trackId":1,"isrc":"GBBEN0000001","title":"One","artist":"A","artistId":7,"artists":[{"name":"A","role":"MainArtist"}],"durationSeconds":200,"disc":1,"number":1,"pLine":"2026 Cinder \u0026 Glass","parentalWarning":"NotExplicit"}]`,
		`[{"trackId":-0,"title":"\ud800x","artists":[]},{"trackId":1e3}]`,
		`[]`, `null`, `[{"TrackId":1}]`,
	} {
		f.Add(s)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, tracks string) {
		value := []byte(`{"releaseId":9,"tracks":` + tracks + `}`)
		var want release.TracksChanged
		wantErr := jsonv1.Unmarshal(value, &want)
		e, err := events.NewEnvelope(want.EventType(), release.SchemaVersions[want.EventType()], "/catalog/ingest", "5012345678900", 1, at, "m", struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		e.Data = value
		_, p, _, err := events.DecodePayload(e)
		switch {
		case (err != nil) != (wantErr != nil):
			t.Fatalf("error %v, the ordinary decoder's %v", err, wantErr)
		case err == nil && !reflect.DeepEqual(p, want):
			t.Fatalf("decoded\n%#v\nwant\n%#v", p, want)
		}
	})
}
