package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/catalog-org/catalog/api/apiroutes"
)

// ClientHeader carries the identified client's key to upstream services.
// Any value a caller sends is removed first.
const ClientHeader = "X-Catalog-Client"

// PartiesHeader carries, to the ingest upstream only, the DDEX party ids
// the identified client may deliver as: comma-separated, or AnyParty. Any
// value a caller sends is removed first, on every route. Ingest reads it
// under the same name (ingest.PartiesHeader).
const PartiesHeader = "X-Catalog-Parties"

// AnyParty, as a client's only party, lets it deliver as any party: an
// operator's or an aggregator's key.
const AnyParty = "*"

// MaxParties bounds the parties one client may deliver as.
const MaxParties = 100

// MaxPartyLength bounds one party id.
const MaxPartyLength = 64

// ErrBadParties reports a list of parties a client cannot be bound to.
var ErrBadParties = errors.New("invalid parties")

// ValidParties checks the parties a client is to be bound to: AnyParty
// alone, or 1 to MaxParties DDEX party ids (DPIDs such as
// PADPIDA2014120301W) of 1 to MaxPartyLength letters, digits, '_', '.'
// or '-'.
func ValidParties(parties []string) error {
	if len(parties) == 0 {
		return fmt.Errorf("%w: name at least one party id, or %q for any party", ErrBadParties, AnyParty)
	}
	if len(parties) > MaxParties {
		return fmt.Errorf("%w: %d party ids, at most %d", ErrBadParties, len(parties), MaxParties)
	}
	for _, p := range parties {
		if p == AnyParty {
			if len(parties) > 1 {
				return fmt.Errorf("%w: %q means any party and stands alone", ErrBadParties, AnyParty)
			}
			continue
		}
		if p == "" || len(p) > MaxPartyLength {
			return fmt.Errorf("%w: party id %q: 1 to %d characters", ErrBadParties, p, MaxPartyLength)
		}
		for _, r := range p {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
				return fmt.Errorf("%w: party id %q: letters, digits, '_', '.' and '-' only", ErrBadParties, p)
			}
		}
	}
	return nil
}

// authFailure is 7digital's plain-text answer to an unknown key.
const authFailure = "OAuth authentication error: Access to resource denied"

// The services a client can be granted. The API's own (catalogue and
// identifiers) are named by its route table, apiroutes, which says which
// path belongs to which.
const (
	ServiceCatalogue   = apiroutes.ServiceCatalogue
	ServiceIdentifiers = apiroutes.ServiceIdentifiers
	ServiceIngest      = "ingest"
	ServiceAdmin       = "admin"
)

// ErrUnknownService reports a service name that does not exist.
var ErrUnknownService = errors.New("unknown service (catalogue, identifiers, ingest, admin)")

// KnownService reports whether s names a service.
func KnownService(s string) bool {
	switch s {
	case ServiceCatalogue, ServiceIdentifiers, ServiceIngest, ServiceAdmin:
		return true
	}
	return false
}

// MaxKeyLength bounds a consumer key.
const MaxKeyLength = 128

// ValidKey reports whether key can be a consumer key: 1 to 128 printable
// ASCII characters, no spaces, quotes, commas or equals signs.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return fmt.Errorf("a consumer key has 1 to %d characters", MaxKeyLength)
	}
	for _, r := range key {
		if r <= ' ' || r > '~' || r == '"' || r == ',' || r == '=' {
			return fmt.Errorf("a consumer key has printable ASCII characters only, without spaces, quotes, commas or '='")
		}
	}
	return nil
}

// Client is an API client as the gateway sees it.
type Client struct {
	Key        string
	Name       string
	Enabled    bool
	DailyLimit int
	Services   []string
	// Parties are the DDEX party ids the client may deliver as through
	// the ingest service (a message's MessageSender and SentOnBehalfOf),
	// or AnyParty alone. Without any, the client may not deliver.
	Parties []string
	// Pins home some or all of the client's API requests in regions
	// other than Central (Home); without any, Central serves them all.
	Pins []Pin
}

// Allowed reports whether the client was granted service.
func (c Client) Allowed(service string) bool {
	for _, s := range c.Services {
		if s == service {
			return true
		}
	}
	return false
}

// Clients finds a client by key. ok is false for an unknown key.
type Clients interface {
	Client(ctx context.Context, key string) (c Client, ok bool, err error)
}

// Usage is a client's request count in the current UTC day.
type Usage struct {
	Allowed bool
	Count   int64
}

// Quota counts requests per client per UTC day, atomically across gateway
// processes.
type Quota interface {
	// Take counts one request of key against limit for the UTC day of now,
	// unless the limit is reached (rejected requests do not count).
	Take(ctx context.Context, key string, limit int, now time.Time) (Usage, error)
}

// Upstreams are the internal services the gateway proxies to.
type Upstreams struct {
	// API serves the catalogue and identifier routes.
	API *url.URL
	// Ingest serves /ingest/... (without the prefix); nil: not offered.
	Ingest *url.URL
	// Admin serves /admin/...; nil: not offered.
	Admin *url.URL
}

// Config configures the gateway.
type Config struct {
	Upstreams Upstreams
	// UpstreamTimeout bounds one proxied request (default 10 s).
	UpstreamTimeout time.Duration
	// OverLimitStatus is the status of a request over the daily limit:
	// 429 (default, with Retry-After) or 401 (what 7digital sent).
	OverLimitStatus int
	// QuotaTimeout is the most a request waits for Redis (default 100 ms).
	QuotaTimeout time.Duration
	// QuotaFailClosed rejects requests (503) when Redis cannot count them;
	// by default they pass, counted by a per-process fallback counter.
	QuotaFailClosed bool
	// OpenAPI is served at /openapi.yaml, without a key.
	OpenAPI []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer receives the gateway's metrics (nil: none).
	Registerer prometheus.Registerer
	// AccessLog receives one line per request (nil: the gateway's logger).
	AccessLog *slog.Logger
	// TrustedProxies are the networks of the proxies in front of the
	// gateway (a CDN, a load balancer). X-Forwarded-For and X-Real-IP are
	// believed only from a peer in one of them; by default none is, and
	// the client's address is the TCP peer's.
	TrustedProxies []*net.IPNet
	// Regions names the region this gateway serves (default Central) and
	// the other regions' gateways. A gateway serves a client's request
	// only where the client is homed for it (Client.Home) and sends it to
	// its home otherwise; outside Central it is read-only.
	Regions Regions
	// Tracing, when set, traces each proxied request's upstream call (a
	// client span) and sends its W3C trace context upstream. Nil: nothing
	// is traced.
	Tracing trace.TracerProvider
}

// NewHandler returns the gateway's HTTP handler.
func NewHandler(cfg Config, clients Clients, quota Quota, log *slog.Logger) (http.Handler, error) {
	if cfg.Upstreams.API == nil || clients == nil || quota == nil || log == nil {
		return nil, errors.New("gateway: API upstream, clients, quota and logger are required")
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = 10 * time.Second
	}
	if cfg.OverLimitStatus == 0 {
		cfg.OverLimitStatus = http.StatusTooManyRequests
	}
	if cfg.OverLimitStatus != http.StatusTooManyRequests && cfg.OverLimitStatus != http.StatusUnauthorized {
		return nil, fmt.Errorf("gateway: over-limit status %d: want 429 or 401", cfg.OverLimitStatus)
	}
	if cfg.QuotaTimeout <= 0 {
		cfg.QuotaTimeout = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = log
	}
	for _, n := range cfg.TrustedProxies {
		if n == nil {
			return nil, errors.New("gateway: a trusted proxy network is nil")
		}
	}
	if cfg.Regions.Self == "" {
		cfg.Regions.Self = Central
	}
	if err := cfg.Regions.validate(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Registerer)
	g := &gw{cfg: cfg, clients: clients, quota: quota, log: log, m: m, fallback: map[string]int64{}}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(cfg.TrustedProxies)
	e.HTTPErrorHandler = answerError
	e.Use(middleware.Recover())
	// The route's pattern names the request for tracing (otelhttp's server
	// span takes it as net/http's ServeMux would set it).
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { c.Request().Pattern = c.Path(); return next(c) }
	})
	e.Use(g.accessLog)
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set(RegionHeader, cfg.Regions.Self)
			return next(c)
		}
	})
	// HEAD is served wherever GET is, and answers as GET does without
	// the body; on a guarded route it is a request like any other.
	getOrHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getOrHead, "/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	if len(cfg.OpenAPI) > 0 {
		e.Match(getOrHead, "/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", cfg.OpenAPI) })
	}
	api := newProxy(cfg.Upstreams.API, "", cfg.UpstreamTimeout, e.IPExtractor, log, true, cfg.Tracing)
	// Exactly the API's public routes, each under its service: the table
	// is the API's own (apiroutes), not a copy.
	for _, r := range apiroutes.Public() {
		e.Match(getOrHead, r.Path, g.guard(r.Service, r.Endpoint, api))
	}
	switch {
	case cfg.Regions.Self != Central:
		// One writer: outside the central region, ingest and admin are
		// answered, whatever the upstreams, and never proxied.
		e.Any("/ingest/*", g.readOnly)
		e.Any("/admin/*", g.readOnly)
	default:
		if u := cfg.Upstreams.Ingest; u != nil {
			p := newProxy(u, "/ingest", cfg.UpstreamTimeout, e.IPExtractor, log, false, cfg.Tracing)
			e.Any("/ingest/*", g.guard(ServiceIngest, "", p))
		}
		if u := cfg.Upstreams.Admin; u != nil {
			p := newProxy(u, "", cfg.UpstreamTimeout, e.IPExtractor, log, false, cfg.Tracing)
			e.Any("/admin/*", g.guard(ServiceAdmin, "", p))
		}
	}
	return cleanPaths(e), nil
}

// clientIP returns how the gateway finds a client's address. Without
// trusted proxies it is the TCP peer's, whatever the headers say. Behind
// them (echo's extractors, with only the configured networks trusted) it
// is the first address of X-Forwarded-For, read from the right, that is
// not a trusted proxy's, or, without X-Forwarded-For, X-Real-IP; both
// only when the peer itself is a trusted proxy, and the peer's address
// when a header is not an address.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, realIP := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if len(r.Header.Values(echo.HeaderXForwardedFor)) > 0 {
			return xff(r)
		}
		return realIP(r)
	}
}

// cleanPaths refuses request paths that could be read differently by the
// gateway and an upstream: dot segments, empty segments, encoded slashes
// or dots, and path parameters. Routing then matches paths exactly.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, raw := r.URL.Path, r.URL.EscapedPath()
		lower := strings.ToLower(raw)
		if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") ||
			strings.HasSuffix(p, "/.") || strings.Contains(p, ";") || strings.Contains(lower, "%2e") || strings.Contains(lower, "%2f") ||
			strings.Contains(lower, "%5c") || strings.Contains(p, "\\") || strings.ContainsAny(p, "\x00\r\n") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("Invalid request path\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

type gw struct {
	cfg     Config
	clients Clients
	quota   Quota
	log     *slog.Logger
	m       *metrics

	mu          sync.Mutex
	fallback    map[string]int64 // key + day -> requests counted while Redis was down
	lastWarning time.Time
}

// Why a request with two different consumer keys is refused, after
// authFailure: 7digital's clients recognise an authentication error by its
// "OAuth" prefix.
const (
	conflictQueryHeader = "the oauth_consumer_key query parameter and the Authorization header carry different consumer keys"
	conflictQuery       = "the query string carries different oauth_consumer_key values"
	conflictHeader      = "the Authorization header carries different consumer keys"
)

// queryKeys returns every oauth_consumer_key in the query string (name
// matched in any case).
func queryKeys(r *http.Request) []string {
	var keys []string
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "oauth_consumer_key") {
			keys = append(keys, v...)
		}
	}
	return keys
}

// headerKeys returns every consumer key in the Authorization headers,
// written "oauth_consumer_key=KEY" or as an OAuth 1.0 header.
func headerKeys(r *http.Request) []string {
	var keys []string
	for _, auth := range r.Header.Values("Authorization") {
		auth = strings.TrimSpace(auth)
		if len(auth) >= 6 && strings.EqualFold(auth[:6], "OAuth ") {
			auth = auth[6:]
		}
		for _, part := range strings.Split(auth, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "oauth_consumer_key") {
				v = strings.Trim(strings.TrimSpace(v), `"`)
				if u, err := url.QueryUnescape(v); err == nil {
					v = u
				}
				keys = append(keys, v)
			}
		}
	}
	return keys
}

// single returns the one key all of keys name ("" for none), and false
// when they name different keys.
func single(keys []string) (string, bool) {
	for _, k := range keys {
		if k != keys[0] {
			return "", false
		}
	}
	if len(keys) == 0 {
		return "", true
	}
	return keys[0], true
}

// identify returns the request's consumer key, from the query string or
// the Authorization header or both when they agree. key is "" when there
// is none, or a malformed one; conflict, when not empty, says which two
// places carry different keys.
func identify(r *http.Request) (key, conflict string) {
	q, ok := single(queryKeys(r))
	if !ok {
		return "", conflictQuery
	}
	h, ok := single(headerKeys(r))
	if !ok {
		return "", conflictHeader
	}
	switch {
	case q != "" && h != "" && q != h:
		return "", conflictQueryHeader
	case q == "":
		key = h
	default:
		key = q
	}
	if ValidKey(key) != nil {
		return "", ""
	}
	return key, ""
}

// The daily-limit headers of every answer past identity, as 7digital
// names them (X-RateLimit-Limit, ...), in the canonical form net/http
// stores and sends header names in.
const (
	headerLimit   = "X-Ratelimit-Limit"
	headerCurrent = "X-Ratelimit-Current"
	headerReset   = "X-Ratelimit-Reset"
)

// noParties answers a client granted ingest but bound to no party.
const noParties = "This key is bound to no DDEX party, so it may not deliver through the gateway: " +
	"an operator names the parties it sends as with `catalog clients parties KEY DPID...`"

// refusal is an answer the gateway gives itself instead of proxying: a
// status, a plain-text body in 7digital's style, and headers.
type refusal struct {
	status int
	body   string
	header http.Header
}

func (r *refusal) Error() string { return strconv.Itoa(r.status) + " " + r.body }

// refuse returns the gateway's own answer status with body.
func refuse(status int, body string) error { return &refusal{status: status, body: body} }

// answerError is the gateway's one place that turns a handler's error into
// an answer: a refusal as plain text with its headers, anything else (the
// router's 404 and 405) as echo answers it.
func answerError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var r *refusal
	if !errors.As(err, &r) {
		c.Echo().DefaultHTTPErrorHandler(err, c)
		return
	}
	h := c.Response().Header()
	for k, v := range r.header {
		h[k] = v
	}
	_ = c.String(r.status, r.body)
}

// guard identifies the client, checks its access to service, sends the
// request to the client's home region for endpoint when that is not this
// gateway's (endpoint is empty for ingest and admin, which only the central
// region serves), checks its daily quota, and proxies.
func (g *gw) guard(service, endpoint string, proxy http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set("service", service)
		key, conflict := identify(c.Request())
		if conflict != "" {
			return refuse(http.StatusUnauthorized, authFailure+": "+conflict)
		}
		if key == "" {
			return refuse(http.StatusUnauthorized, authFailure)
		}
		cl, ok, err := g.clients.Client(c.Request().Context(), key)
		if err != nil {
			// Identity fails closed: without the client list nobody passes.
			g.log.Error("client lookup failed", "err", err)
			return refuse(http.StatusServiceUnavailable, "Service temporarily unavailable")
		}
		if !ok || !cl.Enabled {
			return refuse(http.StatusUnauthorized, authFailure)
		}
		c.Set("client", cl.Name)
		if !cl.Allowed(service) {
			return refuse(http.StatusForbidden, "Access to the "+service+" service is not granted to this key")
		}
		if service == ServiceIngest && len(cl.Parties) == 0 {
			return refuse(http.StatusForbidden, noParties)
		}
		if endpoint != "" {
			if home := cl.Home(endpoint); home != g.cfg.Regions.Self {
				return g.misrouted(c.Request(), endpoint, home)
			}
		}
		// This region's part of the daily limit, counted in its own Redis.
		cl.DailyLimit = cl.DailyLimitIn(g.cfg.Regions.Self)
		now := g.cfg.Now().UTC()
		usage, err := g.take(c.Request().Context(), cl, now)
		if err != nil {
			return refuse(http.StatusServiceUnavailable, "Service temporarily unavailable")
		}
		reset := strconv.Itoa(int(now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now).Seconds()))
		// Assigned under their canonical names: Header.Set would canonicalise
		// (and copy) each name on every request.
		h := c.Response().Header()
		h[headerLimit] = []string{strconv.Itoa(cl.DailyLimit)}
		h[headerCurrent] = []string{strconv.FormatInt(usage.Count, 10)}
		h[headerReset] = []string{reset}
		if !usage.Allowed {
			g.m.quotaRejections.WithLabelValues(cl.Name).Inc()
			if g.cfg.OverLimitStatus == http.StatusTooManyRequests {
				h["Retry-After"] = []string{reset}
			}
			return refuse(g.cfg.OverLimitStatus, fmt.Sprintf("You have exceeded your daily request limit of %d", cl.DailyLimit))
		}
		req := c.Request()
		req.Header.Del(ClientHeader)
		req.Header.Set(ClientHeader, cl.Key)
		req.Header.Del(PartiesHeader)
		if service == ServiceIngest {
			req.Header.Set(PartiesHeader, strings.Join(cl.Parties, ","))
		}
		proxy.ServeHTTP(c.Response(), req)
		return nil
	}
}

// take counts the request in Redis, within QuotaTimeout. When Redis fails,
// the policy decides: fail closed (an error), or fail open with a
// per-process counter against the same limit.
func (g *gw) take(ctx context.Context, cl Client, now time.Time) (Usage, error) {
	qctx, cancel := context.WithTimeout(ctx, g.cfg.QuotaTimeout)
	defer cancel()
	u, err := g.quota.Take(qctx, cl.Key, cl.DailyLimit, now)
	if err == nil {
		return u, nil
	}
	g.m.redisErrors.Inc()
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.lastWarning) > 10*time.Second {
		g.lastWarning = time.Now()
		policy := "open, counting in this process"
		if g.cfg.QuotaFailClosed {
			policy = "closed"
		}
		g.log.Warn("quota store unavailable; failing "+policy, "err", err)
	}
	if g.cfg.QuotaFailClosed {
		return Usage{}, err
	}
	k := cl.Key + "|" + now.Format("20060102")
	if g.fallback[k] >= int64(cl.DailyLimit) {
		return Usage{Allowed: false, Count: g.fallback[k]}, nil
	}
	g.fallback[k]++
	g.m.fallbackCounted.Inc()
	return Usage{Allowed: true, Count: g.fallback[k]}, nil
}

// accessLog writes one structured line per request and its metrics.
func (g *gw) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		client, _ := c.Get("client").(string)
		service, _ := c.Get("service").(string)
		d := time.Since(start)
		g.m.requests.WithLabelValues(client, service, strconv.Itoa(status)).Inc()
		g.m.latency.WithLabelValues(service).Observe(d.Seconds())
		// LogAttrs, not Info: the same line without boxing each value.
		g.cfg.AccessLog.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path), slog.Int("status", status),
			slog.String("client", client), slog.String("service", service),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", c.RealIP()))
		return nil
	}
}

// bufferPool lends ReverseProxy its copy buffers. httputil ships the
// interface but no implementation, and without one every proxied response
// allocates a fresh 32 KB buffer (the gateway's largest allocation under
// load); a sync.Pool of them is the whole implementation.
type bufferPool struct{ p sync.Pool }

// copyBuffers is shared by every upstream's proxy.
var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}}

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte { return *b.p.Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == 32*1024 {
		buf = buf[:cap(buf)]
		b.p.Put(&buf)
	}
}

// newProxy builds a reverse proxy to one upstream. Rewrite (not the
// deprecated Director) runs after hop-by-hop and client X-Forwarded-*
// headers are removed; it drops X-Real-IP, sets fresh forwarding headers
// (X-Forwarded-For: the one address clientIP found, never what a client
// wrote), and keeps the identity and parties headers the guard set, whatever a
// Connection header names. A HEAD goes upstream as a GET (the API serves
// GET only); the server drops the body it answers. stripPrefix is cut
// from the path. With tp, the upstream call is traced (otelhttp) and
// carries the W3C trace context.
func newProxy(upstream *url.URL, stripPrefix string, timeout time.Duration, clientIP echo.IPExtractor, log *slog.Logger, catalogue bool, tp trace.TracerProvider) *httputil.ReverseProxy {
	var transport http.RoundTripper = &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	if tp != nil {
		transport = otelhttp.NewTransport(transport, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagation.TraceContext{}))
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			client, parties := pr.In.Header.Get(ClientHeader), pr.In.Header.Get(PartiesHeader)
			pr.SetURL(upstream)
			if stripPrefix != "" {
				pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, stripPrefix)
				if pr.Out.URL.Path == "" {
					pr.Out.URL.Path = "/"
				}
				pr.Out.URL.RawPath = ""
			}
			pr.Out.Host = upstream.Host
			pr.Out.Header.Del("X-Real-IP")
			// A client's trace context stays at the gateway (its server span
			// links it): upstream, only the gateway's own is sent, by the
			// traced transport.
			pr.Out.Header.Del("Traceparent")
			pr.Out.Header.Del("Tracestate")
			pr.Out.Header.Del(ClientHeader)
			if client != "" {
				pr.Out.Header.Set(ClientHeader, client)
			}
			pr.Out.Header.Del(PartiesHeader)
			if parties != "" {
				pr.Out.Header.Set(PartiesHeader, parties)
			}
			if pr.In.Method == http.MethodHead {
				pr.Out.Method = http.MethodGet
			}
			pr.SetXForwarded()
			if ip := clientIP(pr.In); ip != "" {
				pr.Out.Header.Set("X-Forwarded-For", ip)
			} else {
				pr.Out.Header.Del("X-Forwarded-For")
			}
		},
		Transport:  transport,
		BufferPool: copyBuffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Error("upstream request failed", "path", r.URL.Path, "err", err)
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			if catalogue {
				w.Header().Set("Content-Type", "application/xml; charset=utf-8")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
					`<response status="error" version="1.2"><error code="7003"><errorMessage>The catalogue service is unavailable; retry later</errorMessage></error></response>` + "\n"))
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("Upstream service unavailable\n"))
		},
	}
}
