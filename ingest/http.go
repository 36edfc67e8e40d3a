package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/ingest/ern"
)

// MaxBodyBytes caps a delivery's size (10 MiB; the largest public ERN
// samples are well under 1 MiB).
const MaxBodyBytes = 10 << 20

// Format is a delivery format.
type Format string

// The delivery formats ingest reads.
const (
	FormatERN  Format = "ern"
	FormatJSON Format = "json"
)

// FormatOf maps a Content-Type to a delivery format.
func FormatOf(contentType string) (Format, bool) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/json":
		return FormatJSON, true
	case "application/xml", "text/xml":
		return FormatERN, true
	}
	return "", false
}

// Parse reads one delivery in format f.
func Parse(f Format, data []byte) (Delivery, error) {
	if f == FormatJSON {
		return ParseJSON(data)
	}
	p, err := ern.Parse(data)
	if err != nil {
		return Delivery{}, err
	}
	return Delivery{Release: p.Release, Purge: p.Purge}, nil
}

// Submit applies a parsed delivery; d.Override applies it as an operator
// override (release.ByOperator).
func (s *Service) Submit(ctx context.Context, d Delivery) (Result, error) {
	by := release.BySender
	if d.Override {
		by = release.ByOperator
	}
	var (
		res Result
		err error
	)
	switch {
	case d.Release != nil:
		res, err = s.deliver(ctx, *d.Release, by)
	case d.Purge != nil:
		res, err = s.purge(ctx, *d.Purge, by)
	default:
		err = &release.ValidationError{Problems: []release.Problem{{Field: "(body)", Reason: "neither a release nor a purge"}}}
	}
	s.outcomes.count(res, err)
	return res, err
}

// NewHTTPHandler serves the ingest API:
//
//	POST /v1/deliveries   an ERN message (application/xml, text/xml) or a JSON delivery (application/json)
//	                      -> 202 accepted, 200 unchanged or stale, 4xx problems (403: the sender does
//	                      not own the release, or the API client named in the gateway's
//	                      PartiesHeader may not deliver as it), 503 dependency down
//	POST /v1/releases     the same (the first name of the endpoint)
//	GET  /healthz
func NewHTTPHandler(svc *Service, log *slog.Logger) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.Recover())
	// The route's pattern names the request for tracing (otelhttp's server
	// span takes it as net/http's ServeMux would set it).
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { c.Request().Pattern = c.Path(); return next(c) }
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	post := func(c echo.Context) error {
		ct := c.Request().Header.Get(echo.HeaderContentType)
		f, ok := FormatOf(ct)
		if !ok {
			return &unsupportedMediaError{got: ct}
		}
		d, err := svc.ReadDelivery(c.Request().Context(), f, c.Request().Body, c.Request().ContentLength)
		if err != nil {
			return err
		}
		if err := svc.checkClient(c.Request().Header, d); err != nil {
			return err
		}
		res, err := svc.Submit(c.Request().Context(), d)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if res.Status == string(release.Accepted) {
			status = http.StatusAccepted
		}
		return c.JSON(status, res)
	}
	e.POST("/v1/deliveries", post)
	e.POST("/v1/releases", post)
	return e
}

type unsupportedMediaError struct{ got string }

func (e *unsupportedMediaError) Error() string {
	return fmt.Sprintf("Content-Type %s is not supported; send application/xml (DDEX ERN) or application/json", release.Quote(e.got))
}

// errorHandler is the one place ingest errors become HTTP responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	type body struct {
		Status   string            `json:"status"`
		Error    string            `json:"error"`
		Message  *MessageRef       `json:"message,omitempty"`
		Problems []release.Problem `json:"problems,omitempty"`
	}
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var (
			val  *release.ValidationError
			own  *release.OwnershipError
			pty  *PartyError
			mt   *unsupportedMediaError
			big  *TooLargeError
			he   *echo.HTTPError
			code int
			b    = body{Status: "rejected"}
		)
		switch {
		case errors.As(err, &val):
			code, b.Error, b.Problems = http.StatusBadRequest, "invalid delivery", val.Problems
			b.Message = &MessageRef{Sender: release.Clip(val.Message.Sender), ID: release.Clip(val.Message.ID)}
		case errors.As(err, &own):
			code, b.Error = http.StatusForbidden, "not an owner of the release"
			b.Problems = []release.Problem{{Field: own.Field, Reason: own.Reason()}}
			b.Message = &MessageRef{Sender: release.Clip(own.Message.Sender), ID: release.Clip(own.Message.ID)}
		case errors.As(err, &pty):
			code, b.Error = http.StatusForbidden, "not a party this API client may deliver as"
			b.Problems = []release.Problem{{Field: pty.Field, Reason: pty.Reason()}}
			b.Message = &MessageRef{Sender: release.Clip(pty.Message.Sender), ID: release.Clip(pty.Message.ID)}
		case errors.As(err, &mt):
			code, b.Error = http.StatusUnsupportedMediaType, mt.Error()
		case errors.As(err, &big):
			code, b.Error = http.StatusRequestEntityTooLarge, big.Error()
		case errors.Is(err, ErrBusy):
			c.Response().Header().Set("Retry-After", "1")
			code, b.Status, b.Error = http.StatusServiceUnavailable, "error", "ingest is reading as many delivery bytes as it may at once; nothing was read or changed; retry after a second"
		case errors.Is(err, context.Canceled):
			code, b.Error = http.StatusBadRequest, "the request was cancelled"
		case errors.Is(err, errReading):
			code, b.Error = http.StatusBadRequest, release.Clip(err.Error())
		case errors.As(err, &he):
			code, b.Error = he.Code, http.StatusText(he.Code)
			if m, ok := he.Message.(string); ok {
				b.Error = m
			}
		case errors.Is(err, events.ErrBlocked):
			log.Error("delivery refused: its release is blocked in the outbox", "err", err)
			code, b.Status, b.Error = http.StatusServiceUnavailable, "error",
				"this release's events are held in the outbox behind one Kafka cannot accept; an operator must clear it "+
					"(catalog_outbox_blocked_rows; docs/operations.md). Retry after that: "+err.Error()
		case errors.Is(err, ErrUnavailable):
			log.Error("delivery not acknowledged", "err", err)
			code, b.Status, b.Error = http.StatusServiceUnavailable, "error",
				"a dependency is unavailable; the delivery was either not taken or is queued for Kafka exactly once; retry to confirm"
		default:
			log.Error("ingest request failed", "err", err)
			code, b.Status, b.Error = http.StatusInternalServerError, "error", "internal error"
		}
		_ = c.JSON(code, b)
	}
}
