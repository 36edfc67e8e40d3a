package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisURLParams are the query parameters CATALOG_REDIS_URL takes: the
// Sentinel master and further Sentinels (addr), and the master's
// credentials when the URL's own name the Sentinels'. Timeouts, pools and
// retries are catalog's own (CATALOG_QUOTA_TIMEOUT_MS and the cache's
// bounds), so go-redis's tuning parameters are refused.
var redisURLParams = []string{"master_name", "addr", "username", "password"}

// parseRedis reads where Redis is: CATALOG_REDIS_URL when set, else
// CATALOG_REDIS_ADDR (none: no Redis, nil). The URL is go-redis's form:
//
//	redis://[user:password@]host:port[/db]    one server
//	rediss://...                              the same over TLS (caFile: the CA, else the system's)
//	redis://[s-user:s-password@]sentinel:26379?master_name=NAME&addr=sentinel2:26379&password=P
//	                                          the master Sentinel names (credentials of the
//	                                          Sentinels in the userinfo, the master's as parameters)
//
// The result carries only the location, credentials and TLS; each user of
// Redis sets its own timeouts on it.
func parseRedis(rawURL, addr, caFile string) (*redis.UniversalOptions, error) {
	if rawURL == "" {
		if caFile != "" {
			return nil, errors.New("CATALOG_REDIS_TLS_CA_FILE needs CATALOG_REDIS_URL=rediss://...")
		}
		if addr == "" || addr == "none" {
			return nil, nil
		}
		return &redis.UniversalOptions{Addrs: []string{addr}}, nil
	}
	const want = "want redis://[user:password@]host:port[/db], rediss://... for TLS, or a Sentinel URL with ?master_name=NAME"
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		// The URL may hold a password: name its parts, never print it.
		return nil, fmt.Errorf("CATALOG_REDIS_URL is not a Redis URL: %s", want)
	}
	for k := range u.Query() {
		if !slices.Contains(redisURLParams, k) {
			return nil, fmt.Errorf("CATALOG_REDIS_URL: parameter %q is not taken (only %s; catalog sets timeouts and pools itself)", k, strings.Join(redisURLParams, ", "))
		}
	}
	var o *redis.UniversalOptions
	if u.Query().Has("master_name") {
		f, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_REDIS_URL (Sentinel): %s", redactRedisError(err, u))
		}
		o = &redis.UniversalOptions{Addrs: f.SentinelAddrs, MasterName: f.MasterName, SentinelUsername: f.SentinelUsername,
			SentinelPassword: f.SentinelPassword, Username: f.Username, Password: f.Password, DB: f.DB, TLSConfig: f.TLSConfig}
	} else {
		if u.Query().Has("addr") || u.Query().Has("username") || u.Query().Has("password") {
			return nil, errors.New("CATALOG_REDIS_URL: addr, username and password parameters are for a Sentinel URL (with master_name); put one server's credentials in the URL's user:password@")
		}
		s, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_REDIS_URL: %s", redactRedisError(err, u))
		}
		o = &redis.UniversalOptions{Addrs: []string{s.Addr}, Username: s.Username, Password: s.Password, DB: s.DB, TLSConfig: s.TLSConfig}
	}
	if caFile != "" {
		if o.TLSConfig == nil {
			return nil, errors.New("CATALOG_REDIS_TLS_CA_FILE is set but CATALOG_REDIS_URL is not rediss://")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_REDIS_TLS_CA_FILE: %w", err)
		}
		o.TLSConfig.RootCAs = x509.NewCertPool()
		if !o.TLSConfig.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CATALOG_REDIS_TLS_CA_FILE: %s holds no PEM certificate", caFile)
		}
	}
	return o, nil
}

// redactRedisError is err's text with the URL's password taken out.
func redactRedisError(err error, u *url.URL) string {
	s := err.Error()
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	if p := u.Query().Get("password"); p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}
