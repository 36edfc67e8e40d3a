package ingest

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/catalog-org/catalog/domain/release"
)

// MaxBodyBytes caps a delivery's size.
const MaxBodyBytes = 10 << 20

// NewHTTPHandler serves the ingest API:
//
//	POST /v1/releases   a JSON release -> 202 accepted, 200 unchanged, 4xx problems, 503 dependency down
//	GET  /healthz
func NewHTTPHandler(svc *Service, log *slog.Logger) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("10M"))
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.POST("/v1/releases", func(c echo.Context) error {
		mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
		if mt != echo.MIMEApplicationJSON {
			return &unsupportedMediaError{got: mt}
		}
		j, err := DecodeJSON(c.Request().Body)
		if err != nil {
			return err
		}
		if j.MessageID == "" {
			j.MessageID = uuid.NewString()
		}
		res, err := svc.Deliver(c.Request().Context(), j.MessageID, j.Draft())
		if err != nil {
			var v *release.ValidationError
			if errors.As(err, &v) {
				return &rejectedError{messageID: j.MessageID, upc: j.UPC, v: v}
			}
			return err
		}
		status := http.StatusAccepted
		if res.Status == "unchanged" {
			status = http.StatusOK
		}
		return c.JSON(status, res)
	})
	return e
}

type rejectedError struct {
	messageID, upc string
	v              *release.ValidationError
}

func (e *rejectedError) Error() string { return e.v.Error() }
func (e *rejectedError) Unwrap() error { return e.v }

type unsupportedMediaError struct{ got string }

func (e *unsupportedMediaError) Error() string {
	return "Content-Type " + e.got + " is not supported; send application/json"
}

// errorHandler is the one place ingest errors become HTTP responses.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	type body struct {
		Status    string            `json:"status"`
		Error     string            `json:"error"`
		MessageID string            `json:"messageId,omitempty"`
		UPC       string            `json:"upc,omitempty"`
		Problems  []release.Problem `json:"problems,omitempty"`
	}
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var (
			rej  *rejectedError
			val  *release.ValidationError
			mt   *unsupportedMediaError
			he   *echo.HTTPError
			code int
			b    = body{Status: "rejected"}
		)
		switch {
		case errors.As(err, &rej):
			code, b.Error, b.MessageID, b.UPC, b.Problems = http.StatusBadRequest, "invalid release", rej.messageID, rej.upc, rej.v.Problems
		case errors.As(err, &val):
			code, b.Error, b.Problems = http.StatusBadRequest, "invalid release", val.Problems
		case errors.As(err, &mt):
			code, b.Error = http.StatusUnsupportedMediaType, mt.Error()
		case errors.As(err, &he):
			code, b.Error = he.Code, http.StatusText(he.Code)
			if m, ok := he.Message.(string); ok {
				b.Error = m
			}
		case errors.Is(err, ErrUnavailable):
			log.Error("delivery not accepted", "err", err)
			code, b.Status, b.Error = http.StatusServiceUnavailable, "error", "a dependency is unavailable; nothing was accepted, retry later"
		default:
			log.Error("ingest request failed", "err", err)
			code, b.Status, b.Error = http.StatusInternalServerError, "error", "internal error"
		}
		_ = c.JSON(code, b)
	}
}
