package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// 7digital error codes used by the API.
const (
	// CodeMissingParameter: a required parameter is missing (HTTP 400).
	CodeMissingParameter = 1001
	// CodeInvalidParameter: a parameter's value is malformed (HTTP 400).
	CodeInvalidParameter = 1002
	// CodeOutOfRange: a parameter's value is outside the allowed values
	// (HTTP 400).
	CodeOutOfRange = 1003
	// CodeInvalidEnum: a parameter names an unknown enumeration value
	// (HTTP 400).
	CodeInvalidEnum = 1006
	// CodeNotFound: no such resource (HTTP 404).
	CodeNotFound = 2001
	// CodeNotAvailable: the resource exists but is not offered in the
	// requested territory (HTTP 404).
	CodeNotAvailable = 2002
	// CodeInternal: an unexpected server error (HTTP 500).
	CodeInternal = 9001
)

// Error is an API error in 7digital's terms: a code from the constants
// above and the message sent as errorMessage.
type Error struct {
	// Code is the 7digital error code; it decides the HTTP status.
	Code int
	// Message is sent to the client as errorMessage.
	Message string

	// surrogateKeys tag a cacheable (404) error for CDN purges, so the
	// delivery that creates the resource can clear a cached "not found".
	surrogateKeys []string
}

// Error returns the message.
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

// errorHandler is the one place errors become HTTP responses: every error
// gets a 7digital error envelope, in the format the request's Accept
// prefers, with Cache-Control: no-store, except a 404 (2001, 2002), which a
// CDN may keep for 10 seconds.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var (
			ae *Error
			he *echo.HTTPError
		)
		status := 0
		switch {
		case errors.As(err, &ae):
		case errors.Is(err, catalogue.ErrTrackNotFound):
			ae = &Error{Code: CodeNotFound, Message: "Track not found"}
		case errors.Is(err, catalogue.ErrNotAvailable):
			ae = &Error{Code: CodeNotAvailable, Message: "Track not available in this territory"}
		case errors.As(err, &he) && he.Code == http.StatusNotFound:
			ae = &Error{Code: CodeNotFound, Message: "Resource not found: " + c.Request().URL.Path}
		case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
			ae, status = &Error{Code: CodeInvalidParameter, Message: "Method not allowed"}, he.Code
		default:
			log.Error("api request failed", "path", c.Request().URL.Path, "err", err)
			ae = &Error{Code: CodeInternal, Message: "Unexpected internal server error"}
		}
		if status == 0 {
			status = ae.status()
		}
		hd := c.Response().Header()
		hd.Del("ETag")
		hd.Del("Surrogate-Key")
		hd.Set("Vary", "Accept")
		if status == http.StatusNotFound {
			hd.Set("Cache-Control", cacheNotFound)
			if len(ae.surrogateKeys) > 0 {
				hd.Set("Surrogate-Key", strings.Join(ae.surrogateKeys, " "))
			}
		} else {
			hd.Set("Cache-Control", cacheNever)
		}
		body, contentType, err := encode(nil, negotiate(c.Request()), envelope{Status: "error",
			Error: &errorRep{Code: ae.Code, Message: ae.Message}})
		if err == nil {
			err = c.Blob(status, contentType, body)
		}
		if err != nil {
			log.Warn("writing error response", "err", err)
		}
	}
}
