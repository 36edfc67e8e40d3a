package api

import (
	_ "embed" // the OpenAPI document
	"slices"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3.1 document (YAML): every public
// route, its parameters, its XML and JSON bodies, status codes, caching
// headers and the oauth_consumer_key security scheme. The gateway serves
// it at /openapi.yaml. The caller gets its own copy.
func OpenAPI() []byte { return slices.Clone(openAPI) }
