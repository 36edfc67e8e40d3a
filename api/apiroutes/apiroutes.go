// Package apiroutes is the catalogue API's published route table: every
// public path the API serves and the service (the grant a client needs) each
// belongs to. It is the one source of truth for both sides of the edge: the
// api package registers a handler for each route here (and only those), and
// the gateway guards and proxies exactly these paths, each under its
// service. It holds no handlers and imports nothing, so the gateway depends
// on the API's contract without importing the API (adapters never import
// each other).
//
// Adding a public API route is one line here plus its handler in api; the
// gateway follows without a change.
package apiroutes

// The services of the API's routes: a client must be granted a route's
// service to call it through the gateway.
const (
	// ServiceCatalogue is the catalogue by catalog ids (track/details).
	ServiceCatalogue = "catalogue"
	// ServiceIdentifiers is the lookups by industry identifiers (ISRC,
	// UPC/EAN/GTIN, GRid, DDEX party id), the partner API.
	ServiceIdentifiers = "identifiers"
)

// VersionPrefix is 7digital's API version prefix. Every route is served
// with it and, as 7digital's own stub serves them, without it.
const VersionPrefix = "/1.2"

// Route is one public API route: served for GET (and, at the gateway, for
// HEAD) on exactly Path, and open to clients granted Service.
type Route struct {
	// Path is the exact request path, such as /1.2/track/details.
	Path string
	// Service is the service the route belongs to: ServiceCatalogue or
	// ServiceIdentifiers.
	Service string
	// Endpoint is Path without VersionPrefix: the API's handler for the
	// route, served under both spellings.
	Endpoint string
}

// endpoints are the API's endpoints, each served with and without
// VersionPrefix.
var endpoints = []struct{ path, service string }{
	{"/track/details", ServiceCatalogue},
	{"/track/details/isrc", ServiceIdentifiers},
	{"/release/details/upc", ServiceIdentifiers},
	{"/release/details/grid", ServiceIdentifiers},
	{"/party/releases", ServiceIdentifiers},
}

// Public returns every public route of the API, each endpoint first with
// VersionPrefix and then without it. The slice is the caller's own.
func Public() []Route {
	out := make([]Route, 0, 2*len(endpoints))
	for _, e := range endpoints {
		out = append(out,
			Route{Path: VersionPrefix + e.path, Service: e.service, Endpoint: e.path},
			Route{Path: e.path, Service: e.service, Endpoint: e.path})
	}
	return out
}
