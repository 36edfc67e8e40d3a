package ingest_test

import (
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest"
)

// FuzzParseJSON: no input makes the JSON parser or the domain's validation
// panic, and every rejection is a list of named problems.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(validRelease))
	f.Add([]byte(`{"messageId":"p1","purge":{"upc":"00724349501058"}}`))
	f.Add([]byte(`{"upc":"00724349501058","deals":[{"territories":["Worldwide"],"excludedTerritories":["US"],"useTypes":["Stream"],"start":"2020-10-26T00:00:00","price":{"amount":"0.99","currency":"gbp"}}]}`))
	f.Add([]byte(`{"messageCreated":"2024-01-01T00:00:00","tracks":[{"disc":"1"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ingest.ParseJSON(data)
		if err != nil {
			assertProblems(t, err)
			return
		}
		if (d.Release == nil) == (d.Purge == nil) {
			t.Fatalf("parsed %q into %+v: want exactly one of release and purge", data, d)
		}
		if d.Release != nil {
			if _, err := release.New(*d.Release); err != nil {
				assertProblems(t, err)
			}
		} else if _, err := release.NewPurge(*d.Purge); err != nil {
			assertProblems(t, err)
		}
	})
}

func assertProblems(t *testing.T, err error) {
	t.Helper()
	v, ok := release.IsValidationError(err)
	if !ok || len(v.Problems) == 0 {
		t.Fatalf("error %v is not a list of problems", err)
	}
	for _, p := range v.Problems {
		if p.Field == "" || p.Reason == "" {
			t.Fatalf("problem without a field or a reason: %+v", p)
		}
	}
}
