package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/catalog-org/catalog/api/apiroutes"
	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
)

// TrackReader finds a track and its offers in a territory that have not
// ended by now. It returns catalogue.ErrTrackNotFound (wrapped) for an
// unknown id. The handler may call it from several goroutines at once.
type TrackReader interface {
	Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error)
}

// IdentifierReader answers the partner look-ups by industry identifier
// from the identifiers read model. Look-ups of an identifier the catalogue
// does not know return an empty slice or found false, not an error.
// identifierspg.Store implements it.
type IdentifierReader interface {
	// TracksByISRC returns every live track with the compact, upper-case
	// ISRC, one per release carrying the recording, in track id order.
	TracksByISRC(ctx context.Context, isrc string) ([]catalogue.IdentifiedTrack, error)
	// ReleaseByGTIN returns the live release with a barcode in its
	// 14-digit GTIN form, with its tracklist.
	ReleaseByGTIN(ctx context.Context, gtin string) (catalogue.IdentifiedRelease, bool, error)
	// ReleaseByGRid returns the live release with a GRid (upper case),
	// with its tracklist.
	ReleaseByGRid(ctx context.Context, grid string) (catalogue.IdentifiedRelease, bool, error)
	// ReleasesByParty returns a page (from 1) of pageSize live releases a
	// DDEX party owns, in release id order, and how many it owns.
	ReleasesByParty(ctx context.Context, party string, page, pageSize int) ([]catalogue.IdentifiedRelease, int, error)
}

// Config configures the API.
type Config struct {
	// DefaultCountry is the territory used when a request names none (GB,
	// as 7digital clients assume).
	DefaultCountry string
	// ImageBaseURL prefixes release artwork URLs, which are
	// ImageBaseURL + "{releaseId}_{imageSize}.jpg" (default
	// DefaultImageBaseURL).
	ImageBaseURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultImageBaseURL is the default Config.ImageBaseURL: release 1302's
// sleeve at 50 pixels is http://artwork.catalog.example/sleeve/1302_50.jpg.
const DefaultImageBaseURL = "http://artwork.catalog.example/sleeve/"

// Option adds an optional capability to the handler built by NewHandler.
type Option func(*options)

type options struct {
	identifiers IdentifierReader
	metrics     prometheus.Registerer
}

// WithIdentifiers serves the industry identifier routes (track/details/isrc,
// release/details/upc, release/details/grid and party/releases, with and
// without the 1.2 prefix), resolving
// identifiers with ids. Without it (or with a nil ids) those routes do not
// exist and answer 404 with error 2001.
func WithIdentifiers(ids IdentifierReader) Option {
	return func(o *options) { o.identifiers = ids }
}

// pathHealth is the health check's path; it is not a public route. The
// public routes are apiroutes.Public(), each served for GET only.
const pathHealth = "/healthz"

// defaultImageSize is the sleeve width without imageSize (7digital's).
const defaultImageSize = 50

// NewHandler returns the API's HTTP handler:
//
//	GET /1.2/track/details, GET /track/details
//	GET /1.2/track/details/isrc, GET /track/details/isrc      (WithIdentifiers)
//	GET /1.2/release/details/upc, GET /release/details/upc   (WithIdentifiers)
//	GET /1.2/release/details/grid, GET /release/details/grid (WithIdentifiers)
//	GET /1.2/party/releases, GET /party/releases             (WithIdentifiers)
//	GET /healthz
//
// tracks and log are required. The handler is safe for concurrent use.
func NewHandler(cfg Config, tracks TrackReader, log *slog.Logger, opts ...Option) (http.Handler, error) {
	e, err := newEcho(cfg, tracks, log, opts...)
	if err != nil {
		return nil, err
	}
	return e, nil
}

func newEcho(cfg Config, tracks TrackReader, log *slog.Logger, opts ...Option) (*echo.Echo, error) {
	if tracks == nil || log == nil {
		return nil, errors.New("api: track reader and logger are required")
	}
	if cfg.DefaultCountry == "" {
		cfg.DefaultCountry = "GB"
	}
	country, err := release.ParseTerritory(cfg.DefaultCountry)
	if err != nil {
		return nil, fmt.Errorf("api: default country: %w", err)
	}
	cfg.DefaultCountry = country.String()
	if cfg.ImageBaseURL == "" {
		cfg.ImageBaseURL = DefaultImageBaseURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	h := &handler{cfg: cfg, tracks: tracks, ids: o.identifiers}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	// The metrics are outermost, so a request a panic ended counts as the
	// 500 Recover answers.
	var metrics *requestMetrics
	if o.metrics != nil {
		if metrics, err = newRequestMetrics(o.metrics); err != nil {
			return nil, fmt.Errorf("api: metrics: %w", err)
		}
		e.Use(metrics.middleware)
	}
	e.Use(middleware.Recover())
	// The route's pattern names the request for tracing (otelhttp's server
	// span takes it as net/http's ServeMux would set it).
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { c.Request().Pattern = c.Path(); return next(c) }
	})
	e.GET(pathHealth, func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	// The route table is shared with the gateway: a route without a
	// handler here is a start-up error, not a 404 the gateway would proxy.
	endpoints := map[string]echo.HandlerFunc{
		"/track/details":        h.trackDetails,
		"/track/details/isrc":   h.trackByISRC,
		"/release/details/upc":  h.releaseByUPC,
		"/release/details/grid": h.releaseByGRid,
		"/party/releases":       h.partyReleases,
	}
	for _, r := range apiroutes.Public() {
		if r.Service == apiroutes.ServiceIdentifiers && h.ids == nil {
			continue
		}
		fn, ok := endpoints[r.Endpoint]
		if !ok {
			return nil, fmt.Errorf("api: route %s (%s) has no handler", r.Path, r.Service)
		}
		e.GET(r.Path, fn)
	}
	if metrics != nil {
		metrics.routes = map[string]bool{}
		for _, r := range e.Routes() {
			if r.Method != echo.RouteNotFound {
				metrics.routes[r.Path] = true
			}
		}
	}
	return e, nil
}

// routes lists the public routes e serves as "METHOD path", sorted; the
// health check is not public.
func routes(e *echo.Echo) []string {
	var out []string
	for _, r := range e.Routes() {
		if r.Path == pathHealth || r.Method == echo.RouteNotFound {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	sort.Strings(out)
	return out
}

type handler struct {
	cfg    Config
	tracks TrackReader
	ids    IdentifierReader
}

// params matches query parameter names case-insensitively (trackId,
// trackid and TRACKID are one parameter).
type params url.Values

// get returns the first value of the parameter name. When a query repeats
// a name in different cases, the exact spelling wins, then the spelling
// that sorts first, so the answer never depends on map order.
func (p params) get(name string) (string, bool) {
	if v := p[name]; len(v) > 0 {
		return v[0], true
	}
	var best string
	found := false
	for k, v := range p {
		if strings.EqualFold(k, name) && len(v) > 0 && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return "", false
	}
	return p[best][0], true
}

// value returns the parameter's trimmed value; an empty value counts as
// absent.
func (p params) value(name string) (string, bool) {
	v, ok := p.get(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// required returns a parameter's value, or error 1001.
func (p params) required(name string) (string, error) {
	v, ok := p.value(name)
	if !ok {
		return "", &Error{Code: CodeMissingParameter, Message: "Missing parameter " + name}
	}
	return v, nil
}

func invalidParameter(name, value string) *Error {
	return &Error{Code: CodeInvalidParameter, Message: "Value of parameter " + name + " is not valid: " + value}
}

// Usage types a client may request with usageTypes.
const (
	usageDownload     = "download"
	usageSubscription = "subscriptionstreaming"
	usageAdSupported  = "adsupportedstreaming"
)

// usageSet is the set of usage blocks a request asked for.
type usageSet struct{ download, subscription, adSupported bool }

// String is the set's canonical form, in the documented order.
func (u usageSet) String() string {
	var s []string
	if u.download {
		s = append(s, usageDownload)
	}
	if u.subscription {
		s = append(s, usageSubscription)
	}
	if u.adSupported {
		s = append(s, usageAdSupported)
	}
	return strings.Join(s, ",")
}

// imageSizes are the sleeve sizes 7digital documents (pixels).
var imageSizes = []int{33, 50, 100, 180, 182, 200, 350, 500, 800}

// view is what a request asks to see of a resource: the territory, the
// usage blocks and the artwork size. Together with the response format it
// decides the representation.
type view struct {
	country   string
	usages    usageSet
	imageSize int
}

// view reads the parameters every catalogue route shares: country,
// usageTypes, imageSize and shopId.
func (h *handler) view(q params) (view, error) {
	v := view{country: h.cfg.DefaultCountry, usages: usageSet{download: true}, imageSize: defaultImageSize}
	if raw, ok := q.value("country"); ok {
		t, err := release.ParseTerritory(raw)
		if err != nil {
			return view{}, invalidParameter("country", raw)
		}
		v.country = t.String()
	}
	if raw, ok := q.value("usageTypes"); ok {
		v.usages = usageSet{}
		for _, u := range strings.Split(raw, ",") {
			switch u = strings.ToLower(strings.TrimSpace(u)); u {
			case usageDownload:
				v.usages.download = true
			case usageSubscription:
				v.usages.subscription = true
			case usageAdSupported:
				v.usages.adSupported = true
			default:
				return view{}, &Error{Code: CodeInvalidEnum, Message: "Value of parameter usageTypes is not valid: " + u +
					" (expected download, subscriptionstreaming or adsupportedstreaming)"}
			}
		}
	}
	if raw, ok := q.value("imageSize"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return view{}, invalidParameter("imageSize", raw)
		}
		if !documentedImageSize(n) {
			return view{}, &Error{Code: CodeOutOfRange, Message: "Value of parameter imageSize is out of allowable range: " + raw +
				" (expected 33, 50, 100, 180, 182, 200, 350, 500 or 800)"}
		}
		v.imageSize = n
	}
	// shopId picks a catalogue at 7digital; this catalogue has one shop, so
	// a well-formed shopId is accepted and changes nothing.
	if raw, ok := q.value("shopId"); ok {
		if _, err := strconv.ParseInt(raw, 10, 64); err != nil {
			return view{}, invalidParameter("shopId", raw)
		}
	}
	return v, nil
}

func documentedImageSize(n int) bool {
	for _, s := range imageSizes {
		if s == n {
			return true
		}
	}
	return false
}

func (h *handler) trackDetails(c echo.Context) error {
	q := params(c.QueryParams())
	raw, err := q.required("trackId")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return invalidParameter("trackId", raw)
	}
	v, err := h.view(q)
	if err != nil {
		return err
	}
	t, err := h.tracks.Track(c.Request().Context(), id, v.country, h.cfg.Now())
	if errors.Is(err, catalogue.ErrTrackNotFound) {
		return &Error{Code: CodeNotFound, Message: "Track not found", surrogateKeys: []string{trackKey(id)}}
	}
	if err != nil {
		return err
	}
	if !t.Available() {
		return &Error{Code: CodeNotAvailable, Message: "Track " + raw + " is not available in " + v.country,
			surrogateKeys: []string{trackKey(id), releaseKey(t.Release.ID)}}
	}
	return h.ok(c, v, okBody{
		envelope: envelope{Track: h.trackRep(t, v)},
		tag:      "t" + strconv.FormatInt(t.ID, 10) + "-r" + strconv.FormatInt(t.Release.ID, 10),
		sequence: t.Release.Sequence,
		keys:     []string{trackKey(t.ID), releaseKey(t.Release.ID)},
	})
}
