package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/projector"
)

// config is every setting of every role, read from CATALOG_* environment
// variables; the defaults match deployments/local (make up).
type config struct {
	// getenv is where the settings were read from; tracing reads its own
	// (OpenTelemetry's OTEL_*) there too.
	getenv func(string) string
	// tracing is the role's tracer provider (withTracing); nil: off.
	tracing *sdktrace.TracerProvider

	PostgresURL  string
	KafkaBrokers []string
	// KafkaTLS encrypts the connections to Kafka (nil: plaintext).
	KafkaTLS *tls.Config
	// KafkaSASL authenticates them (no SASL when its Mechanism is empty).
	KafkaSASL events.SASL
	RedisAddr string
	// Redis is where Redis is (CATALOG_REDIS_URL, else CATALOG_REDIS_ADDR):
	// addresses, credentials, TLS, a Sentinel master; nil: no Redis.
	Redis            *redis.UniversalOptions
	RedisPrefix      string
	TopicPrefix      string
	TopicPartitions  int32
	TopicReplication int16 // events.ReplicationAuto: one replica per broker, up to 3
	// TopicsVerify is CATALOG_TOPICS=verify: an operator owns the topics;
	// catalog checks them and creates or alters none.
	TopicsVerify   bool
	GroupPrefix    string
	IngestAddr     string
	DPIDs          []string
	RequireParties bool
	IngestBatch    int
	IngestWriters  int
	APIAddr        string
	// APILocal bounds the API's in-process cache of hot entries
	// (CATALOG_API_LOCAL_CACHE_*); nil: off.
	APILocal           *projectionredis.LocalConfig
	APIURL             *url.URL
	GatewayAddr        string
	ProjectorAddr      string
	ProjectorBatch     int
	ReadyMaxLag        int64
	Projections        []string
	RebuildDuty        float64
	RebuildDutyFloor   float64
	RebuildSlowdown    float64
	RebuildProbeURL    string
	RebuildProbeEvery  time.Duration
	AdminToken         string
	GatewayMetricsAddr string
	TrustedProxies     []*net.IPNet
	OverLimitStatus    int
	QuotaTimeout       time.Duration
	QuotaFailClosed    bool
	QuotaPrefix        string
	QuotaLeaseMax      int
	QuotaLeaseIdle     time.Duration
	ClientsReload      time.Duration
	DefaultCountry     string
	DemoKey            string
	PIDFile            string
	TestHook           string
	LogLevel           string
	LogFormat          string
	CDNURL             string
	CDNPurgeURL        string
	CDNServiceID       string
	CDNPurgeToken      string
	CDNMetricsAddr     string
	// Region is the region this process serves (CATALOG_REGION): "central"
	// (gateway.Central: ingest and the log of record) or a read-only region
	// fed by MirrorMaker.
	Region string
	// RegionURLs are the regions' public gateway URLs
	// (CATALOG_REGION_URLS), by region name.
	RegionURLs map[string]*url.URL
	// Regions names each read-only region's Kafka bootstrap brokers
	// (CATALOG_REGIONS), for `catalog regions status`.
	Regions []regionKafka
}

// centralRegion is the region with ingest and the log of record.
const centralRegion = gateway.Central

// central reports whether this process serves the central region.
func (c config) central() bool { return c.Region == centralRegion }

// regionKafka is one read-only region's name and Kafka bootstrap brokers.
type regionKafka struct {
	Name    string
	Brokers []string
}

func (c config) releasesTopic() string { return c.TopicPrefix + "releases" }

// cdnPoisonTopic receives the CDN purges that failed past their retries.
func (c config) cdnPoisonTopic() string { return c.TopicPrefix + "cdn-purge.poison" }

// cdnPurgeGroup is the CDN purger's consumer group (a stable API); the
// group + ".resend" marks the poisoned purges already sent again.
func (c config) cdnPurgeGroup() string { return c.GroupPrefix + "cdn-purge" }

// projector is the configuration the projectors of every projection share.
func (c config) projector() projector.Config {
	return projector.Config{Kafka: c.kafka("catalog-projector"), Topic: c.releasesTopic(), GroupPrefix: c.GroupPrefix,
		Batch: c.ProjectorBatch, RebuildDuty: c.RebuildDuty, RebuildDutyFloor: c.RebuildDutyFloor,
		RebuildSlowdown: c.RebuildSlowdown, RebuildProbeEvery: c.RebuildProbeEvery}
}

func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	get := func(k string) string {
		v := strings.TrimSpace(getenv(k))
		if secretSettings[k] {
			if path := strings.TrimSpace(getenv(k + "_FILE")); path != "" {
				if v != "" {
					errs = append(errs, fmt.Errorf("%s and %s_FILE are both set: want one", k, k))
					return v
				}
				s, err := readSecretFile(k, path)
				if err != nil {
					errs = append(errs, err)
				}
				v = s
			}
		}
		if v != "" {
			return v
		}
		return settingDefault(k)
	}
	num := func(k string, lo, hi int) int {
		s := get(k)
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer from %d to %d", k, s, lo, hi))
			n, _ = strconv.Atoi(settingDefault(k))
		}
		return n
	}
	c := config{
		getenv:             getenv,
		PostgresURL:        get("CATALOG_PG_URL"),
		KafkaBrokers:       strings.Split(get("CATALOG_KAFKA_BROKERS"), ","),
		RedisAddr:          get("CATALOG_REDIS_ADDR"),
		RedisPrefix:        get("CATALOG_REDIS_PREFIX"),
		TopicPrefix:        get("CATALOG_TOPIC_PREFIX"),
		TopicPartitions:    int32(num("CATALOG_TOPIC_PARTITIONS", 1, 10000)),
		GroupPrefix:        get("CATALOG_GROUP_PREFIX"),
		IngestAddr:         get("CATALOG_INGEST_ADDR"),
		APIAddr:            get("CATALOG_API_ADDR"),
		GatewayAddr:        get("CATALOG_GATEWAY_ADDR"),
		ProjectorAddr:      get("CATALOG_PROJECTOR_ADDR"),
		ProjectorBatch:     num("CATALOG_PROJECTOR_BATCH", 1, 100000),
		IngestBatch:        num("CATALOG_INGEST_BATCH", 1, 64),
		IngestWriters:      num("CATALOG_INGEST_WRITERS", 1, 64),
		ReadyMaxLag:        int64(num("CATALOG_READY_MAX_LAG", 0, 1000000000)),
		AdminToken:         get("CATALOG_ADMIN_TOKEN"),
		GatewayMetricsAddr: get("CATALOG_GATEWAY_METRICS_ADDR"),
		OverLimitStatus:    num("CATALOG_QUOTA_STATUS", 401, 429),
		QuotaTimeout:       time.Duration(num("CATALOG_QUOTA_TIMEOUT_MS", 1, 10000)) * time.Millisecond,
		QuotaLeaseMax:      num("CATALOG_QUOTA_LEASE_MAX", 1, 100000),
		QuotaLeaseIdle:     time.Duration(num("CATALOG_QUOTA_LEASE_IDLE_MS", 10, 86400000)) * time.Millisecond,
		Region:             get("CATALOG_REGION"),
		ClientsReload:      time.Duration(num("CATALOG_CLIENTS_RELOAD_SECONDS", 1, 3600)) * time.Second,
		DefaultCountry:     get("CATALOG_DEFAULT_COUNTRY"),
		DemoKey:            get("CATALOG_DEMO_KEY"),
		PIDFile:            get("CATALOG_PID_FILE"),
		TestHook:           get("CATALOG_TEST_HOOK"),
		LogLevel:           get("CATALOG_LOG_LEVEL"),
		LogFormat:          get("CATALOG_LOG_FORMAT"),
		CDNURL:             get("CATALOG_CDN_URL"),
		CDNPurgeURL:        get("CATALOG_CDN_PURGE_URL"),
		CDNServiceID:       get("CATALOG_CDN_SERVICE_ID"),
		CDNPurgeToken:      get("CATALOG_CDN_PURGE_TOKEN"),
		CDNMetricsAddr:     get("CATALOG_CDN_PURGE_METRICS_ADDR"),
	}
	if n := num("CATALOG_API_LOCAL_CACHE_ENTRIES", 0, 10000000); n > 0 {
		c.APILocal = &projectionredis.LocalConfig{
			MaxEntries:   n,
			MaxBytes:     int64(num("CATALOG_API_LOCAL_CACHE_MB", 1, 65536)) << 20,
			MaxStaleness: time.Duration(num("CATALOG_API_LOCAL_CACHE_STALE_MS", 10, 3600000)) * time.Millisecond,
			MaxSilence:   time.Duration(num("CATALOG_API_LOCAL_CACHE_SILENCE_MS", 5, 60000)) * time.Millisecond,
		}
	}
	var err error
	if c.Regions, err = parseRegions(get("CATALOG_REGIONS")); err != nil {
		errs = append(errs, err)
	}
	// CATALOG_TOPIC_REPLICATION is "auto" (one replica per broker, up to
	// three) or a number from 1 to 7, the most replicas Kafka clusters are
	// commonly run with; above the brokers the cluster has, catalog refuses
	// to create the topic (ensureTopics).
	if r := get("CATALOG_TOPIC_REPLICATION"); r != "auto" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 || n > 7 {
			errs = append(errs, fmt.Errorf("CATALOG_TOPIC_REPLICATION=%q: want auto or an integer from 1 to 7", r))
		} else {
			c.TopicReplication = int16(n)
		}
	}
	duty, err := strconv.ParseFloat(get("CATALOG_REBUILD_DUTY"), 64)
	if err != nil || duty <= 0 || duty > 1 {
		errs = append(errs, fmt.Errorf("CATALOG_REBUILD_DUTY: want a number above 0 and at most 1"))
		duty = 0.25
	}
	c.RebuildDuty = duty
	floor, err := strconv.ParseFloat(get("CATALOG_REBUILD_DUTY_FLOOR"), 64)
	if err != nil || floor <= 0 || floor > duty {
		errs = append(errs, fmt.Errorf("CATALOG_REBUILD_DUTY_FLOOR: want a number above 0 and at most CATALOG_REBUILD_DUTY"))
		floor = duty
	}
	c.RebuildDutyFloor = floor
	slow, err := strconv.ParseFloat(get("CATALOG_REBUILD_SLOWDOWN"), 64)
	if err != nil || slow < 1 || slow > 100 {
		errs = append(errs, fmt.Errorf("CATALOG_REBUILD_SLOWDOWN: want a number from 1 to 100"))
		slow = 1.5
	}
	c.RebuildSlowdown = slow
	c.RebuildProbeEvery = time.Duration(num("CATALOG_REBUILD_PROBE_MS", 5, 60000)) * time.Millisecond
	if c.RebuildProbeURL = get("CATALOG_REBUILD_PROBE_URL"); c.RebuildProbeURL != "" {
		if u, err := url.Parse(c.RebuildProbeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("CATALOG_REBUILD_PROBE_URL=%q: want an http or https URL", c.RebuildProbeURL))
		}
	}
	if err := gateway.ValidRegion(c.Region); err != nil {
		errs = append(errs, fmt.Errorf("CATALOG_REGION: %w", err))
	}
	// Each region counts its own part of a client's daily limit; a default
	// prefix naming the region keeps two regions' counts apart even where
	// they share a Redis by mistake.
	if c.QuotaPrefix = get("CATALOG_QUOTA_PREFIX"); c.QuotaPrefix == "" {
		c.QuotaPrefix = "catalog:quota:"
		if c.Region != gateway.Central {
			c.QuotaPrefix += c.Region + ":"
		}
	}
	if c.RegionURLs, err = parseRegionURLs(get("CATALOG_REGION_URLS")); err != nil {
		errs = append(errs, err)
	}
	for _, n := range strings.Split(get("CATALOG_PROJECTIONS"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.Projections = append(c.Projections, n)
		}
	}
	if _, err := projector.Select(registered(nil), c.Projections); err != nil {
		errs = append(errs, fmt.Errorf("CATALOG_PROJECTIONS: %w", err))
	}
	apiURL := get("CATALOG_API_URL")
	if apiURL == "" {
		apiURL = "http://" + c.APIAddr
	}
	u, err := url.Parse(apiURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		errs = append(errs, fmt.Errorf("CATALOG_API_URL: want an absolute URL such as http://127.0.0.1:8081"))
	}
	c.APIURL = u
	c.TrustedProxies, err = parseTrustedProxies(get("CATALOG_GATEWAY_TRUSTED_PROXIES"))
	if err != nil {
		errs = append(errs, err)
	}
	if c.KafkaTLS, err = loadKafkaTLS(get); err != nil {
		errs = append(errs, err)
	}
	c.KafkaSASL = events.SASL{Mechanism: get("CATALOG_KAFKA_SASL_MECHANISM"), User: get("CATALOG_KAFKA_SASL_USER"),
		Password: get("CATALOG_KAFKA_SASL_PASSWORD")}
	if err := (events.KafkaConfig{Brokers: c.KafkaBrokers, SASL: c.KafkaSASL}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("CATALOG_KAFKA_SASL_MECHANISM, _USER, _PASSWORD: %w", err))
	} else if c.KafkaSASL.Mechanism == events.SASLPlain && c.KafkaTLS == nil {
		errs = append(errs, errors.New("CATALOG_KAFKA_SASL_MECHANISM=PLAIN sends the password as is: set CATALOG_KAFKA_TLS=true too"))
	}
	if c.Redis, err = parseRedis(get("CATALOG_REDIS_URL"), c.RedisAddr, get("CATALOG_REDIS_TLS_CA_FILE")); err != nil {
		errs = append(errs, err)
	}
	switch v := get("CATALOG_TOPICS"); v {
	case "manage", "verify":
		c.TopicsVerify = v == "verify"
	default:
		errs = append(errs, fmt.Errorf("CATALOG_TOPICS=%q: want manage (catalog creates its topics and keeps their retention infinite) or verify (an operator owns them; catalog checks them and stops on a finite retention)", v))
	}
	switch v := get("CATALOG_QUOTA_ON_REDIS_DOWN"); v {
	case "open", "closed":
		c.QuotaFailClosed = v == "closed"
	default:
		errs = append(errs, fmt.Errorf("CATALOG_QUOTA_ON_REDIS_DOWN=%q: want open or closed", v))
	}
	switch v := get("CATALOG_INGEST_REQUIRE_PARTIES"); v {
	case "true", "false":
		c.RequireParties = v == "true"
	default:
		errs = append(errs, fmt.Errorf("CATALOG_INGEST_REQUIRE_PARTIES=%q: want true or false", v))
	}
	if c.DPIDs, err = parseDPIDs(get("CATALOG_DPID")); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// loadKafkaTLS reads CATALOG_KAFKA_TLS and its files: nil when TLS is off.
func loadKafkaTLS(get func(string) string) (*tls.Config, error) {
	ca, cert, key := get("CATALOG_KAFKA_TLS_CA_FILE"), get("CATALOG_KAFKA_TLS_CERT_FILE"), get("CATALOG_KAFKA_TLS_KEY_FILE")
	switch v := get("CATALOG_KAFKA_TLS"); v {
	case "false":
		if ca != "" || cert != "" || key != "" {
			return nil, errors.New("CATALOG_KAFKA_TLS_CA_FILE, _CERT_FILE or _KEY_FILE is set but CATALOG_KAFKA_TLS is not true")
		}
		return nil, nil
	case "true":
	default:
		return nil, fmt.Errorf("CATALOG_KAFKA_TLS=%q: want true or false", v)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_KAFKA_TLS_CA_FILE: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CATALOG_KAFKA_TLS_CA_FILE: %s holds no PEM certificate", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("CATALOG_KAFKA_TLS_CERT_FILE and CATALOG_KAFKA_TLS_KEY_FILE: set both (a client certificate) or neither")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_KAFKA_TLS_CERT_FILE, CATALOG_KAFKA_TLS_KEY_FILE: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// maxDPIDs bounds CATALOG_DPID.
const maxDPIDs = 20

var partyID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// parseDPIDs reads CATALOG_DPID: catalog's DDEX party id, then any other
// ids deliveries may address it by, comma-separated.
func parseDPIDs(s string) ([]string, error) {
	var ids []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !partyID.MatchString(f) {
			return nil, fmt.Errorf("CATALOG_DPID: %q is not a party id: want a comma-separated list of DPIDs such as PADPIDA2014120301W (letters, digits, _ . -, at most 64 each)", f)
		}
		ids = append(ids, f)
	}
	if len(ids) > maxDPIDs {
		return nil, fmt.Errorf("CATALOG_DPID: %d party ids, want at most %d", len(ids), maxDPIDs)
	}
	return ids, nil
}

// maxRegions bounds CATALOG_REGION_URLS.
const maxRegions = 32

// parseRegionURLs reads CATALOG_REGION_URLS: comma-separated name=URL
// pairs, each region's public gateway URL (empty: none known).
func parseRegionURLs(s string) (map[string]*url.URL, error) {
	const want = "want comma-separated region=URL pairs such as central=https://api.example.com,india=https://in.api.example.com"
	out := map[string]*url.URL{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		name, raw, ok := strings.Cut(f, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok {
			return nil, fmt.Errorf("CATALOG_REGION_URLS: %q has no '=': %s", f, want)
		}
		if err := gateway.ValidRegion(name); err != nil {
			return nil, fmt.Errorf("CATALOG_REGION_URLS: %w", err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("CATALOG_REGION_URLS: region %s is named twice", name)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("CATALOG_REGION_URLS: region %s: %q is not an absolute http(s) URL without query or credentials: %s", name, raw, want)
		}
		out[name] = u
	}
	if len(out) > maxRegions {
		return nil, fmt.Errorf("CATALOG_REGION_URLS: %d regions, want at most %d", len(out), maxRegions)
	}
	return out, nil
}

// maxTrustedProxies bounds CATALOG_GATEWAY_TRUSTED_PROXIES.
const maxTrustedProxies = 100

// parseTrustedProxies reads a comma-separated list of CIDR networks
// (empty: none).
func parseTrustedProxies(s string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("CATALOG_GATEWAY_TRUSTED_PROXIES: %q is not a CIDR network: want a comma-separated list such as 10.0.0.0/8,127.0.0.1/32,::1/128", f)
		}
		nets = append(nets, n)
	}
	if len(nets) > maxTrustedProxies {
		return nil, fmt.Errorf("CATALOG_GATEWAY_TRUSTED_PROXIES: %d networks, want at most %d", len(nets), maxTrustedProxies)
	}
	return nets, nil
}

// parseRegions reads CATALOG_REGIONS: a comma-separated list of
// NAME=BROKERS, BROKERS being one or more host:port joined by | (empty: no
// regions), such as india=127.0.0.1:59192 or india=k1:9092|k2:9092.
func parseRegions(s string) ([]regionKafka, error) {
	var out []regionKafka
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		name, brokers, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || gateway.ValidRegion(name) != nil || name == centralRegion {
			return nil, fmt.Errorf("CATALOG_REGIONS: %q: want NAME=HOST:PORT[|HOST:PORT...] with NAME a region other than central (lower-case letters, digits, -), such as india=127.0.0.1:59192", f)
		}
		if seen[name] {
			return nil, fmt.Errorf("CATALOG_REGIONS: region %s is named twice", name)
		}
		seen[name] = true
		r := regionKafka{Name: name}
		for _, b := range strings.Split(brokers, "|") {
			b = strings.TrimSpace(b)
			if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
				return nil, fmt.Errorf("CATALOG_REGIONS: region %s: %q is not a Kafka broker address: want HOST:PORT, several joined by |", name, b)
			}
			r.Brokers = append(r.Brokers, b)
		}
		out = append(out, r)
	}
	if len(out) > maxRegions {
		return nil, fmt.Errorf("CATALOG_REGIONS: %d regions, want at most %d", len(out), maxRegions)
	}
	return out, nil
}
