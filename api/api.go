package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
)

// TrackReader finds a track and its offers in a territory that have not
// ended by now. It returns catalogue.ErrTrackNotFound (wrapped) for an
// unknown id.
type TrackReader interface {
	Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error)
}

// Config configures the API.
type Config struct {
	// DefaultCountry is the territory used when a request names none (GB,
	// as 7digital clients assume).
	DefaultCountry string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewHandler returns the API's HTTP handler:
//
//	GET /1.2/track/details, GET /track/details
//	GET /healthz
func NewHandler(cfg Config, tracks TrackReader, log *slog.Logger) (http.Handler, error) {
	if tracks == nil || log == nil {
		return nil, errors.New("api: track reader and logger are required")
	}
	if cfg.DefaultCountry == "" {
		cfg.DefaultCountry = "GB"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, tracks: tracks}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.Recover())
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/1.2/track/details", h.trackDetails)
	e.GET("/track/details", h.trackDetails)
	return e, nil
}

type handler struct {
	cfg    Config
	tracks TrackReader
}

// params matches query parameter names case-insensitively (trackId,
// trackid and TRACKID are one parameter).
type params url.Values

func (p params) get(name string) (string, bool) {
	for k, v := range p {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// Usage types a client may request with usageTypes.
const (
	usageDownload     = "download"
	usageSubscription = "subscriptionstreaming"
	usageAdSupported  = "adsupportedstreaming"
)

func (h *handler) trackDetails(c echo.Context) error {
	q := params(c.QueryParams())
	raw, ok := q.get("trackId")
	if !ok || strings.TrimSpace(raw) == "" {
		return &Error{Code: CodeMissingParameter, Message: "Missing parameter trackId"}
	}
	id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || id <= 0 {
		return &Error{Code: CodeInvalidParameter, Message: "Value of parameter trackId is not valid: " + raw}
	}
	country := h.cfg.DefaultCountry
	if v, ok := q.get("country"); ok && v != "" {
		t, err := release.ParseTerritory(v)
		if err != nil {
			return &Error{Code: CodeInvalidParameter, Message: "Value of parameter country is not valid: " + v}
		}
		country = t.String()
	}
	usages := map[string]bool{usageDownload: true}
	if v, ok := q.get("usageTypes"); ok && v != "" {
		usages = map[string]bool{}
		for _, u := range strings.Split(v, ",") {
			u = strings.ToLower(strings.TrimSpace(u))
			switch u {
			case usageDownload, usageSubscription, usageAdSupported:
				usages[u] = true
			default:
				return &Error{Code: CodeInvalidEnum, Message: "Value of parameter usageTypes is not valid: " + u +
					" (expected download, subscriptionstreaming or adsupportedstreaming)"}
			}
		}
	}
	t, err := h.tracks.Track(c.Request().Context(), id, country, h.cfg.Now())
	if err != nil {
		return err
	}
	if !t.Available() {
		return &Error{Code: CodeNotAvailable, Message: "Track " + raw + " is not available in " + country}
	}
	return writeXML(c, http.StatusOK, trackXML(t, usages))
}
