package projector_test

import (
	"strings"
	"testing"

	"github.com/catalog-org/catalog/projections/projector"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

// TestSelect: CATALOG_PROJECTIONS picks registered projections in
// registration order, all when empty; an unknown name is an error naming it
// and the registered ones.
func TestSelect(t *testing.T) {
	t.Parallel()
	all := []projector.Projection{{Name: "track-details", Model: trackdetailspg.Model{}}, {Name: "identifiers", Model: trackdetailspg.Model{}}}
	for _, tc := range []struct {
		name    string
		names   []string
		want    string
		wantErr string
	}{
		{name: "all by default", want: "track-details, identifiers"},
		{name: "one", names: []string{"identifiers"}, want: "identifiers"},
		{name: "registration order", names: []string{"identifiers", "track-details"}, want: "track-details, identifiers"},
		{name: "unknown", names: []string{"track-details", "search"}, wantErr: `unknown projection "search" (registered: track-details, identifiers)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := projector.Select(all, tc.names)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || projector.Names(got) != tc.want {
				t.Fatalf("Select = %q, %v; want %q", projector.Names(got), err, tc.want)
			}
		})
	}
}

// TestProjectionValidate: a descriptor needs a name fit for group names,
// URLs and labels, and a Model.
func TestProjectionValidate(t *testing.T) {
	t.Parallel()
	if err := (projector.Projection{Name: "track-details", Model: trackdetailspg.Model{}}).Validate(); err != nil {
		t.Errorf("track-details: %v", err)
	}
	err := projector.Projection{Name: "Track Details"}.Validate()
	if err == nil || !strings.Contains(err.Error(), `projection name "Track Details": must match`) || !strings.Contains(err.Error(), "a Model is required") {
		t.Errorf("bad descriptor: %v", err)
	}
	if g := (projector.Config{GroupPrefix: "catalog."}).Group("track-details", 3); g != "catalog.projector.track-details.g3" {
		t.Errorf("group = %q", g)
	}
}
