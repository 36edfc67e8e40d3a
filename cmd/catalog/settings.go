package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/catalog-org/catalog/ingest"
)

// setting is one CATALOG_* environment variable a role reads: its name,
// its default (as the variable would be written; "" when unset means
// none) and what it means. settings is the one list: loadConfig takes
// every default from it, and `catalog --help` prints it.
type setting struct {
	Name    string
	Default string
	Meaning string
}

// settings lists every CATALOG_* setting of the roles and commands, in the
// order `catalog --help` prints them. docs/operations.md explains each at
// length.
var settings = []setting{
	{"CATALOG_PG_URL", "postgres://postgres@127.0.0.1:55432/catalog?sslmode=disable", "PostgreSQL URL (libpq form; sslmode=verify-full and sslrootcert for TLS)"},
	{"CATALOG_KAFKA_BROKERS", "127.0.0.1:59092", "Kafka bootstrap brokers, comma-separated"},
	{"CATALOG_KAFKA_TLS", "false", "true: connect to Kafka over TLS"},
	{"CATALOG_KAFKA_TLS_CA_FILE", "", "PEM file of the CA(s) that sign the brokers' certificates (unset: the system's)"},
	{"CATALOG_KAFKA_TLS_CERT_FILE", "", "PEM client certificate, for a cluster that asks for one (with CATALOG_KAFKA_TLS_KEY_FILE)"},
	{"CATALOG_KAFKA_TLS_KEY_FILE", "", "PEM private key of the client certificate"},
	{"CATALOG_KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (unset: no SASL)"},
	{"CATALOG_KAFKA_SASL_USER", "", "SASL user name"},
	{"CATALOG_KAFKA_SASL_PASSWORD", "", "SASL password"},
	{"CATALOG_TOPIC_PREFIX", "catalog.", "topic names are <prefix>releases"},
	{"CATALOG_TOPIC_PARTITIONS", "6", "partitions of a topic catalog creates (1-10000)"},
	{"CATALOG_TOPIC_REPLICATION", "auto", "replication factor of new topics: auto (one replica per broker, at most 3) or 1-7"},
	{"CATALOG_TOPICS", "manage", "manage: catalog creates its topics and keeps them infinite; verify: an operator owns them, catalog checks them and stops on a finite retention"},
	{"CATALOG_GROUP_PREFIX", "catalog.", "prefix of consumer group names"},
	{"CATALOG_REDIS_ADDR", "127.0.0.1:56379", "Redis for hot entries and daily quotas (none: no cache)"},
	{"CATALOG_REDIS_URL", "", "Redis by URL instead of CATALOG_REDIS_ADDR: redis://user:password@host:port/db, rediss:// for TLS, ?master_name=M for Sentinel"},
	{"CATALOG_REDIS_TLS_CA_FILE", "", "PEM file of the CA that signs Redis's certificate (with rediss://; unset: the system's)"},
	{"CATALOG_REDIS_PREFIX", "catalog:td:", "prefix of the hot entries' keys"},
	{"CATALOG_INGEST_ADDR", "127.0.0.1:8082", "ingest API listen address"},
	{"CATALOG_INGEST_BATCH", "32", "most deliveries the ingest role writes in one PostgreSQL transaction (group commit; 1-64, 1: one each)"},
	{"CATALOG_INGEST_WRITERS", "16", "group-commit transactions the ingest role runs at once (1-64; deliveries of one release share one)"},
	{"CATALOG_DPID", ingest.DefaultDPID, "catalog's DDEX party ids, comma-separated (at most 20)"},
	{"CATALOG_INGEST_REQUIRE_PARTIES", "false", "true: ingest refuses deliveries that did not come through the gateway"},
	{"CATALOG_API_ADDR", "127.0.0.1:8081", "catalogue API listen address"},
	{"CATALOG_API_LOCAL_CACHE_ENTRIES", "30000", "most hot entries the API keeps in process, kept coherent by Redis's invalidations (0: off; 0-10000000)"},
	{"CATALOG_API_LOCAL_CACHE_MB", "48", "most memory those entries take, in MiB (1-65536)"},
	{"CATALOG_API_LOCAL_CACHE_STALE_MS", "30000", "the API fetches a locally kept entry from Redis again at least this often (10-3600000)"},
	{"CATALOG_API_LOCAL_CACHE_SILENCE_MS", "250", "the API stops serving locally kept entries when Redis has not answered a ping for this long (5-60000)"},
	{"CATALOG_API_URL", "", "where the gateway proxies to (unset: http:// and CATALOG_API_ADDR)"},
	{"CATALOG_DEFAULT_COUNTRY", "GB", "territory when a request names none"},
	{"CATALOG_GATEWAY_ADDR", "127.0.0.1:8080", "gateway listen address"},
	{"CATALOG_GATEWAY_METRICS_ADDR", "127.0.0.1:8084", "gateway metrics and profiles address"},
	{"CATALOG_GATEWAY_TRUSTED_PROXIES", "", "CIDR networks whose X-Forwarded-For the gateway believes (at most 100)"},
	{"CATALOG_CLIENTS_RELOAD_SECONDS", "5", "how often the gateway reloads API clients (1-3600)"},
	{"CATALOG_QUOTA_STATUS", "429", "status of an answer over the daily limit (401-429)"},
	{"CATALOG_QUOTA_TIMEOUT_MS", "100", "how long a quota count may take in Redis (1-10000)"},
	{"CATALOG_QUOTA_ON_REDIS_DOWN", "open", "open: serve when quotas cannot be counted; closed: refuse"},
	{"CATALOG_QUOTA_PREFIX", "", "prefix of the daily-limit counters in Redis (unset: catalog:quota:, outside central catalog:quota:<region>:)"},
	{"CATALOG_QUOTA_LEASE_MAX", "256", "most requests a gateway reserves from a client's daily count at once (1-100000)"},
	{"CATALOG_QUOTA_LEASE_IDLE_MS", "1000", "how long an unused lease stays with an idle gateway (10-86400000)"},
	{"CATALOG_PROJECTOR_ADDR", "127.0.0.1:8083", "projector metrics, admin API and profiles address"},
	{"CATALOG_PROJECTOR_BATCH", "500", "records per projector batch (1-100000)"},
	{"CATALOG_PROJECTIONS", "", "projections `catalog project` runs, comma-separated (unset: all registered)"},
	{"CATALOG_READY_MAX_LAG", "10000", "the projector is ready (/readyz) while no live generation is more events behind the log (0-1000000000)"},
	{"CATALOG_REBUILD_DUTY", "0.25", "most share of time a rebuilding generation may spend on its batches (above 0, at most 1)"},
	{"CATALOG_REBUILD_DUTY_FLOOR", "0.05", "least share the live readers' latency may lower that to, so a rebuild finishes (above 0, at most CATALOG_REBUILD_DUTY)"},
	{"CATALOG_REBUILD_SLOWDOWN", "1.5", "the duty halves when the probe is this many times slower during a rebuild batch than between them (1-100)"},
	{"CATALOG_REBUILD_PROBE_URL", "", "a hot read of the API the projector times during a rebuild (unset: a Redis round trip; no Redis: a fixed duty)"},
	{"CATALOG_REBUILD_PROBE_MS", "50", "how often the projector probes during a rebuild (5-60000)"},
	{"CATALOG_ADMIN_TOKEN", "", "bearer token of the projector's admin API (unset: admin API off)"},
	{"CATALOG_REGION", "central", "region this process serves; outside central the stack is read-only"},
	{"CATALOG_REGION_URLS", "", "each region's public gateway URL, name=URL comma-separated (at most 32)"},
	{"CATALOG_REGIONS", "", "each read-only region's Kafka, name=host:port[|host:port] comma-separated, for `catalog regions status`"},
	{"CATALOG_CDN_URL", "", "the CDN in front of the gateway, for `catalog cdn`"},
	{"CATALOG_CDN_PURGE_URL", "", "where `catalog cdn-purge` sends surrogate-key purges (unset: purger off)"},
	{"CATALOG_CDN_SERVICE_ID", "local", "the CDN service whose keys are purged"},
	{"CATALOG_CDN_PURGE_TOKEN", "", "the CDN purge API's token"},
	{"CATALOG_CDN_PURGE_METRICS_ADDR", "127.0.0.1:8085", "CDN purger metrics address"},
	{"CATALOG_DEMO_KEY", "", "the demo client's key for `catalog dev --sample` (unset: generated)"},
	{"CATALOG_PID_FILE", "", "file a role writes its process id to"},
	{"CATALOG_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"CATALOG_LOG_FORMAT", "text", "text or json"},
	{"CATALOG_TEST_HOOK", "", "fault injection for catalog's own tests; never set in a deployment"},
}

// secretSettings are the settings that hold a secret: each may instead be
// read from a file named by the same name with _FILE appended (a mounted
// Kubernetes Secret, a Docker secret), never both.
var secretSettings = map[string]bool{
	"CATALOG_PG_URL":              true,
	"CATALOG_REDIS_URL":           true,
	"CATALOG_KAFKA_SASL_PASSWORD": true,
	"CATALOG_ADMIN_TOKEN":         true,
	"CATALOG_CDN_PURGE_TOKEN":     true,
}

// maxSecretFileBytes bounds a secret read from a _FILE setting.
const maxSecretFileBytes = 64 << 10

// readSecretFile reads the secret setting name from the file its _FILE
// variable names, without the trailing line break.
func readSecretFile(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("%s_FILE: %s is larger than %d bytes", name, path, maxSecretFileBytes)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// settingDefault is the default loadConfig uses for name; a name missing
// from settings is a programming error.
func settingDefault(name string) string {
	for _, s := range settings {
		if s.Name == name {
			return s.Default
		}
	}
	panic(fmt.Sprintf("setting %s is not in the settings list", name))
}

// writeSettings prints each setting on two lines: its name and default,
// then what it means.
func writeSettings(w io.Writer) {
	for _, s := range settings {
		def := s.Default
		if def == "" {
			def = "unset"
		}
		meaning := s.Meaning
		if secretSettings[s.Name] {
			meaning += "; or " + s.Name + "_FILE: a file holding it"
		}
		fmt.Fprintf(w, "  %s (default %s)\n      %s\n", s.Name, def, meaning)
	}
	fmt.Fprintf(w, "\nTracing is OpenTelemetry's, set by its standard variables (docs/operations.md, Tracing); off unless\n"+
		"OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names a collector (OTLP over HTTP):\n  %s\n",
		strings.Join(tracingEnv, ", "))
}
