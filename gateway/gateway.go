package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// ClientHeader carries the identified client's key to upstream services.
// Any value a caller sends is removed first.
const ClientHeader = "X-Catalog-Client"

// authFailure is 7digital's plain-text answer to an unknown key.
const authFailure = "OAuth authentication error: Access to resource denied"

// Client is an API client as the gateway sees it.
type Client struct {
	Key     string
	Name    string
	Enabled bool
}

// Clients finds a client by key. ok is false for an unknown key.
type Clients interface {
	Client(ctx context.Context, key string) (c Client, ok bool, err error)
}

// Config configures the gateway.
type Config struct {
	// Upstream is the base URL of the catalogue API.
	Upstream *url.URL
	// UpstreamTimeout bounds one proxied request (default 10 s).
	UpstreamTimeout time.Duration
}

// NewHandler returns the gateway's HTTP handler.
func NewHandler(cfg Config, clients Clients, log *slog.Logger) (http.Handler, error) {
	if cfg.Upstream == nil || clients == nil || log == nil {
		return nil, errors.New("gateway: upstream, clients and logger are required")
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 10 * time.Second
	}
	proxy := newProxy(cfg, log)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	catalogue := e.Group("", identify(clients, log))
	forward := func(c echo.Context) error {
		proxy.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	catalogue.GET("/1.2/*", forward)
	catalogue.GET("/track/*", forward)
	return e, nil
}

// consumerKey finds the client's key: the oauth_consumer_key query
// parameter, else the Authorization header, either as
// "oauth_consumer_key=KEY" or as an OAuth 1.0 header.
func consumerKey(r *http.Request) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "oauth_consumer_key") && len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(auth) >= 6 && strings.EqualFold(auth[:6], "OAuth ") {
		auth = auth[6:]
	}
	for _, part := range strings.Split(auth, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "oauth_consumer_key") {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}

func identify(clients Clients, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := consumerKey(c.Request())
			if key == "" {
				return c.String(http.StatusUnauthorized, authFailure)
			}
			cl, ok, err := clients.Client(c.Request().Context(), key)
			if err != nil {
				// Identity fails closed: without the client list nobody passes.
				log.Error("client lookup failed", "err", err)
				return c.String(http.StatusServiceUnavailable, "Service temporarily unavailable")
			}
			if !ok || !cl.Enabled {
				return c.String(http.StatusUnauthorized, authFailure)
			}
			c.Request().Header.Set(ClientHeader, cl.Key)
			return next(c)
		}
	}
}

// newProxy builds the reverse proxy to the API. Rewrite (not the deprecated
// Director) runs after hop-by-hop and client X-Forwarded-* headers are
// removed; it drops X-Real-IP and sets fresh forwarding headers. The
// identity header was set by identify after the client's own was replaced.
func newProxy(cfg Config, log *slog.Logger) *httputil.ReverseProxy {
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamTimeout,
		ForceAttemptHTTP2:     false,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(cfg.Upstream)
			pr.Out.Host = cfg.Upstream.Host
			pr.Out.Header.Del("X-Real-IP")
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Error("upstream request failed", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("Bad gateway\n"))
		},
	}
}
