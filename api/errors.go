package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// 7digital error codes used by the API.
const (
	CodeMissingParameter = 1001
	CodeInvalidParameter = 1002
	CodeInvalidEnum      = 1006
	CodeNotFound         = 2001
	CodeNotAvailable     = 2002
	CodeInternal         = 9001
)

// Error is an API error in 7digital's terms.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// status maps a 7digital error code to the HTTP status sent with it.
func (e *Error) status() int {
	switch {
	case e.Code == CodeNotFound || e.Code == CodeNotAvailable:
		return http.StatusNotFound
	case e.Code >= 1000 && e.Code < 2000:
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// errorHandler is the one place API errors become HTTP responses: every
// error gets a 7digital error envelope.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var (
			ae *Error
			he *echo.HTTPError
		)
		switch {
		case errors.As(err, &ae):
		case errors.Is(err, catalogue.ErrTrackNotFound):
			ae = &Error{Code: CodeNotFound, Message: "Track not found"}
		case errors.As(err, &he) && he.Code == http.StatusNotFound:
			ae = &Error{Code: CodeNotFound, Message: "Resource not found: " + c.Request().URL.Path}
		case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
			_ = writeXML(c, he.Code, errorXML(&Error{Code: CodeInvalidParameter, Message: "Method not allowed"}))
			return
		default:
			log.Error("api request failed", "path", c.Request().URL.Path, "err", err)
			ae = &Error{Code: CodeInternal, Message: "Unexpected internal server error"}
		}
		if err := writeXML(c, ae.status(), errorXML(ae)); err != nil {
			log.Warn("writing error response", "err", err)
		}
	}
}
