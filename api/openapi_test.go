package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/catalog-org/catalog/api"
)

// TestResponsesMatchOpenAPI sends requests for every route and outcome and
// validates each answer against the OpenAPI document: the status is
// documented, the documented headers are there and match, the Content-Type
// is one the response lists, and JSON bodies match their schemas (the same
// schemas describe the XML through their xml annotations; the XML
// structure is checked against 7digital's fixtures by the golden tests).
// Requests in canonical form are validated against the parameters too.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	for _, tc := range []struct {
		target       string
		status       int
		validRequest bool
	}{
		{"/1.2/track/details?trackId=12345&country=GB&usageTypes=download,subscriptionstreaming&imageSize=350&shopId=34", 200, true},
		{"/track/details?trackId=12345", 200, true},
		{"/1.2/track/details/isrc?isrc=USCA29600191&country=GB", 200, true},
		{"/track/details/isrc?isrc=USCA29600191&usageTypes=subscriptionstreaming", 200, true},
		{"/1.2/release/details/upc?upc=00724349501058&country=GB", 200, true},
		{"/release/details/upc?upc=00724349501058&country=IE&imageSize=800", 200, true},
		{"/1.2/track/details?trackId=999", 404, true},
		{"/1.2/track/details?trackId=12345&country=FR", 404, true},
		{"/1.2/track/details?trackId=abc", 400, false},
		{"/1.2/track/details?trackId=12345&imageSize=64", 400, false},
		{"/1.2/track/details/isrc?isrc=nope", 400, false},
		{"/1.2/release/details/upc?upc=4006381333931", 404, true},
		{"/release/details/upc", 400, false},
	} {
		for _, accept := range []string{"", "application/json"} {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			route, pathParams, err := router.FindRoute(req)
			if err != nil {
				t.Errorf("%s: not in the document: %v", tc.target, err)
				continue
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(ctx, in); (err == nil) != tc.validRequest {
				t.Errorf("%s: request validation: %v, want valid=%v", tc.target, err, tc.validRequest)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("%s (Accept %q): status %d, want %d", tc.target, accept, rec.Code, tc.status)
				continue
			}
			resp := route.Operation.Responses.Status(rec.Code)
			if resp == nil || resp.Value.Content.Get(rec.Header().Get("Content-Type")) == nil {
				t.Errorf("%s (Accept %q): %d with Content-Type %q is not documented", tc.target, accept, rec.Code, rec.Header().Get("Content-Type"))
				continue
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
				Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: accept == ""}}
			out.SetBodyBytes(rec.Body.Bytes())
			if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
				t.Errorf("%s (Accept %q): %v\n%s", tc.target, accept, err, rec.Body)
			}
		}
	}
}
