package api

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/catalog-org/catalog/api/apiroutes"
	"github.com/catalog-org/catalog/domain/catalogue"
)

type noTracks struct{}

func (noTracks) Track(context.Context, int64, string, time.Time) (catalogue.Track, error) {
	return catalogue.Track{}, catalogue.ErrTrackNotFound
}

func (noTracks) TracksByISRC(context.Context, string) ([]catalogue.IdentifiedTrack, error) {
	return nil, nil
}
func (noTracks) ReleaseByGTIN(context.Context, string) (catalogue.IdentifiedRelease, bool, error) {
	return catalogue.IdentifiedRelease{}, false, nil
}
func (noTracks) ReleaseByGRid(context.Context, string) (catalogue.IdentifiedRelease, bool, error) {
	return catalogue.IdentifiedRelease{}, false, nil
}
func (noTracks) ReleasesByParty(context.Context, string, int, int) ([]catalogue.IdentifiedRelease, int, error) {
	return nil, 0, nil
}

// TestOpenAPIDescribesEveryRoute checks that the OpenAPI document is a
// valid OpenAPI 3.1 document and that its operations are exactly the GET
// routes the handler registers (with the identifier routes on), apart
// from the health check.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	// XML examples are strings, which the validator would check against
	// the (object) schemas as JSON; the JSON examples are checked below.
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	examples := 0
	for name, r := range doc.Components.Responses {
		mt := r.Value.Content.Get("application/json")
		if mt == nil || mt.Example == nil {
			continue
		}
		examples++
		if err := mt.Schema.Value.VisitJSON(mt.Example, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("response %s: JSON example does not match its schema: %v", name, err)
		}
	}
	if examples < 3 {
		t.Errorf("%d JSON examples checked, want at least 3", examples)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(documented)

	e, err := newEcho(Config{}, noTracks{}, slog.New(slog.NewTextHandler(io.Discard, nil)), WithIdentifiers(noTracks{}))
	if err != nil {
		t.Fatal(err)
	}
	served := routes(e)
	if !slices.Equal(documented, served) {
		t.Errorf("the document and the handler disagree:\n documented %q\n served     %q", documented, served)
	}
	for _, r := range served {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("non-GET route %s", r)
		}
	}
	// The handler serves exactly the shared route table the gateway proxies.
	var table, catalogueOnly []string
	for _, r := range apiroutes.Public() {
		table = append(table, "GET "+r.Path)
		if r.Service == apiroutes.ServiceCatalogue {
			catalogueOnly = append(catalogueOnly, "GET "+r.Path)
		}
	}
	slices.Sort(table)
	slices.Sort(catalogueOnly)
	if !slices.Equal(served, table) {
		t.Errorf("the handler and the route table disagree:\n table  %q\n served %q", table, served)
	}
	if len(served) != 10 {
		t.Errorf("served %d routes, want 10: %q", len(served), served)
	}

	plain, err := newEcho(Config{}, noTracks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := routes(plain); !slices.Equal(got, []string{"GET /1.2/track/details", "GET /track/details"}) || !slices.Equal(got, catalogueOnly) {
		t.Errorf("without identifiers: %q, want the table's catalogue routes %q", got, catalogueOnly)
	}
}

func TestOpenAPIIsACopy(t *testing.T) {
	a := OpenAPI()
	a[0] = 'X'
	if OpenAPI()[0] == 'X' {
		t.Error("OpenAPI returns the embedded document itself")
	}
}
