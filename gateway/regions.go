package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/api/apiroutes"
)

// Central is the region that ingests and manages clients: the one writer.
// Every other region serves reads from its own mirror and is read-only.
const Central = "central"

// RegionHeader names, on every answer of a gateway, the region that gave
// it.
const RegionHeader = "X-Catalog-Region"

// HomeHeader names, on a 307 to another region, the region the request
// was sent to: a CDN can fetch from that region's gateway itself instead
// of passing the redirect on (docs/regions-routing.md).
const HomeHeader = "X-Catalog-Home"

// ErrBadRegion reports a region name that cannot be one.
var ErrBadRegion = errors.New("invalid region name")

var regionName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidRegion checks a region name: a lower-case letter, then up to 31
// lower-case letters, digits or '-' (central, india, eu-west).
func ValidRegion(name string) error {
	if !regionName.MatchString(name) {
		return fmt.Errorf("%w: %q: a lower-case letter, then up to 31 lower-case letters, digits or '-' (such as %q or %q)", ErrBadRegion, name, Central, "india")
	}
	return nil
}

// Pin homes some of a client's requests in a region: all of them (Route
// empty) or those of the API endpoints under Route.
type Pin struct {
	// Route is an endpoint prefix of the API's route table, without its
	// version prefix (/track/details covers /1.2/track/details and
	// /track/details/isrc); empty for every route.
	Route string
	// Region serves the requests the pin covers.
	Region string
	// Share is the percentage (1 to 100) of the client's daily limit that
	// Region counts; 0 when the pin names none (see Client.DailyLimitIn).
	Share int
}

// ErrBadPin reports a pin that cannot be stored.
var ErrBadPin = errors.New("invalid pin")

// MaxPinRouteLength bounds a pin's route.
const MaxPinRouteLength = 200

// NormalizePinRoute checks a pin's route and returns it as stored: an
// endpoint prefix of the API's route table (apiroutes), whole path
// segments, with or without the version prefix (/1.2/track/details is
// stored as /track/details). Ingest and admin are never pinned: the
// central region alone serves them.
func NormalizePinRoute(route string) (string, error) {
	r := strings.TrimSuffix(route, "/")
	if r == apiroutes.VersionPrefix || strings.HasPrefix(r, apiroutes.VersionPrefix+"/") {
		r = strings.TrimPrefix(r, apiroutes.VersionPrefix)
	}
	if r == "" || r[0] != '/' || len(r) > MaxPinRouteLength {
		return "", fmt.Errorf("%w: route %q: an API path such as /track/details (1 to %d characters)", ErrBadPin, route, MaxPinRouteLength)
	}
	var endpoints []string
	for _, pr := range apiroutes.Public() {
		if covers(r, pr.Endpoint) {
			return r, nil
		}
		if pr.Path == pr.Endpoint {
			endpoints = append(endpoints, pr.Endpoint)
		}
	}
	return "", fmt.Errorf("%w: route %q covers none of the API's endpoints (%s); ingest and admin are served by the %s region only",
		ErrBadPin, route, strings.Join(endpoints, ", "), Central)
}

// covers reports whether the pin route prefix covers endpoint, by whole
// path segments.
func covers(prefix, endpoint string) bool {
	return prefix == "" || endpoint == prefix || strings.HasPrefix(endpoint, prefix+"/")
}

// Home returns the region that serves the client's requests for endpoint
// (an apiroutes endpoint, without the version prefix): the region of the
// most specific pin covering it, else Central.
func (c Client) Home(endpoint string) string {
	home, best := Central, -1
	for _, p := range c.Pins {
		if covers(p.Route, endpoint) && len(p.Route) > best {
			home, best = p.Region, len(p.Route)
		}
	}
	return home
}

// DailyLimitIn returns the part of the client's daily limit that region
// counts, in its own Redis, for the requests it serves.
//
// A (client, endpoint) is served by exactly one region (Home), so the
// client's requests are split among its serving regions (the homes of the
// API's endpoints, and Central for a client granted ingest or admin, which
// only Central serves) and each counts only its own. A client served by one
// region has its whole limit there. A client split by route pins has its
// limit split too, so the regions' parts add up to at most the limit and
// the client's total stays honest without any cross-region counting: a
// region whose pins name a Share counts that percentage; the regions
// without one share what is left equally. Parts are rounded down.
func (c Client) DailyLimitIn(region string) int {
	if len(c.Pins) == 0 {
		// Most clients: Central serves them whole (the gateway asks this
		// on every request, so without building the route table).
		if region == Central {
			return c.DailyLimit
		}
		return 0
	}
	serving := map[string]bool{}
	for _, r := range apiroutes.Public() {
		serving[c.Home(r.Endpoint)] = true
	}
	if c.Allowed(ServiceIngest) || c.Allowed(ServiceAdmin) {
		serving[Central] = true
	}
	if !serving[region] {
		return 0
	}
	if len(serving) == 1 {
		return c.DailyLimit
	}
	share := map[string]int{}
	for _, p := range c.Pins {
		if p.Share > 0 && serving[p.Region] && p.Share > share[p.Region] {
			share[p.Region] = p.Share
		}
	}
	if s, ok := share[region]; ok {
		return c.DailyLimit * s / 100
	}
	left := 100
	for _, s := range share {
		left -= s
	}
	if left <= 0 {
		return 0
	}
	return c.DailyLimit * left / 100 / (len(serving) - len(share))
}

// Regions is what a gateway knows of the deployment's regions.
type Regions struct {
	// Self is the region this gateway serves (default Central). A gateway
	// of any other region is read-only: ingest and admin answer 421.
	Self string
	// URLs are the public gateway URLs of the regions (such as
	// central=https://api.example.com), where a gateway sends a request
	// that another region serves. A region without one is answered 421.
	URLs map[string]*url.URL
}

// validate checks the names and URLs.
func (r Regions) validate() error {
	if err := ValidRegion(r.Self); err != nil {
		return fmt.Errorf("gateway: this gateway's region: %w", err)
	}
	for name, u := range r.URLs {
		if err := ValidRegion(name); err != nil {
			return fmt.Errorf("gateway: region URLs: %w", err)
		}
		if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("gateway: region %s: want an absolute http(s) URL", name)
		}
	}
	return nil
}

// elsewhere returns the URL of path and query in region's gateway, or nil
// when its URL is unknown.
func (r Regions) elsewhere(region string, req *http.Request) *url.URL {
	base := r.URLs[region]
	if base == nil {
		return nil
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + req.URL.Path
	u.RawPath = ""
	u.RawQuery = req.URL.RawQuery
	u.Fragment = ""
	return &u
}

// readOnly answers, in a region other than Central, every ingest and admin
// request: 421 naming this region and the central gateway's URL when
// known (also as a Link header). Nothing is identified or counted.
func (g *gw) readOnly(c echo.Context) error {
	self, req := g.cfg.Regions.Self, c.Request()
	msg := fmt.Sprintf("This gateway serves the %s region, which is read-only: ingest and admin are served by the %s region only", self, Central)
	h := http.Header{}
	if u := g.cfg.Regions.elsewhere(Central, req); u != nil {
		msg += " at " + u.Scheme + "://" + u.Host + strings.TrimSuffix(g.cfg.Regions.URLs[Central].Path, "/")
		h.Set("Link", "<"+u.String()+`>; rel="alternate"`)
	} else {
		msg += " (its URL is not configured here: CATALOG_REGION_URLS)"
	}
	return &refusal{status: http.StatusMisdirectedRequest, body: msg, header: h}
}

// misrouted answers a request this gateway does not serve because another
// region is the client's home for it: 307 to the same path and query at
// that region's gateway (only GET and HEAD reach here), never cached, or
// 421 when that gateway's URL is unknown.
func (g *gw) misrouted(req *http.Request, endpoint, home string) error {
	u := g.cfg.Regions.elsewhere(home, req)
	if u == nil {
		return &refusal{status: http.StatusMisdirectedRequest, body: fmt.Sprintf(
			"This key's requests for %s are served by the %s region, whose gateway URL this gateway (region %s) does not know: CATALOG_REGION_URLS",
			endpoint, home, g.cfg.Regions.Self)}
	}
	h := http.Header{}
	h.Set("Location", u.String())
	h.Set("Cache-Control", "private, no-store")
	h.Set(HomeHeader, home)
	return &refusal{status: http.StatusTemporaryRedirect, header: h,
		body: fmt.Sprintf("This key's requests for %s are served by the %s region: %s", endpoint, home, u)}
}
