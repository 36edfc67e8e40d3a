package cdnpurge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// EndpointConfig locates a purge endpoint of Fastly's shape.
type EndpointConfig struct {
	// URL is the base URL of the purge API (https://api.fastly.com, or the
	// local Varnish's address).
	URL string
	// ServiceID is the {id} in POST /service/{id}/purge.
	ServiceID string
	// Token is sent in the Fastly-Key header.
	Token string
	// Timeout bounds one purge request (default 5 s).
	Timeout time.Duration
}

// DefaultPurgeTimeout is EndpointConfig.Timeout's default.
const DefaultPurgeTimeout = 5 * time.Second

// Validate reports missing or malformed settings, naming each.
func (c EndpointConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("cdn purge: URL %q is not an http(s) URL", c.URL))
	}
	if c.ServiceID == "" || strings.ContainsAny(c.ServiceID, "/?# ") {
		errs = append(errs, fmt.Errorf("cdn purge: service id %q is empty or not a path segment", c.ServiceID))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("cdn purge: token is required"))
	}
	return errors.Join(errs...)
}

// Endpoint sends surrogate-key purges. Safe for concurrent use.
type Endpoint struct {
	cfg    EndpointConfig
	url    string
	client *http.Client
}

// NewEndpoint builds the client of a purge endpoint.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPurgeTimeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Endpoint{
		cfg:    cfg,
		url:    strings.TrimRight(cfg.URL, "/") + "/service/" + url.PathEscape(cfg.ServiceID) + "/purge",
		client: &http.Client{Timeout: cfg.Timeout},
	}, nil
}

// Purge purges every cached object tagged with any of keys, in one request
// (callers send at most api.MaxPurgeKeys, Fastly's bound). A non-2xx answer
// is an error naming the status and the start of the body.
func (e *Endpoint) Purge(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, nil)
	if err != nil {
		return fmt.Errorf("purge request: %w", err)
	}
	req.Header.Set("Fastly-Key", e.cfg.Token)
	req.Header.Set("Surrogate-Key", strings.Join(keys, " "))
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("purge %d keys: %w", len(keys), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("purge %d keys: %s: %s", len(keys), resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
