// Package testenv connects tests to the real services that
// deployments/local (make up) runs: PostgreSQL, Kafka and Redis on loopback.
// Each test gets a database and a topic prefix of its own, so tests run in
// parallel and leave nothing behind.
//
// Addresses come from CATALOG_TEST_PG_URL, CATALOG_TEST_KAFKA_BROKERS and
// CATALOG_TEST_REDIS_ADDR, defaulting to deployments/local's ports. Under
// `go test -short` the tests that need services are skipped; otherwise a
// service that cannot be reached fails the test.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// NeedServices skips the test under -short.
func NeedServices(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL, Kafka and Redis (make up); skipped with -short")
	}
}

// Suffix returns a random lower-case hex string for unique names.
func Suffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// KafkaBrokers returns the test broker addresses.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	NeedServices(t)
	brokers := strings.Split(env("CATALOG_TEST_KAFKA_BROKERS", "127.0.0.1:59092"), ",")
	conn, err := net.DialTimeout("tcp", brokers[0], 3*time.Second)
	if err != nil {
		t.Fatalf("kafka at %s is not reachable (run make up): %v", brokers[0], err)
	}
	conn.Close()
	return brokers
}

// TopicPrefix returns a topic and group prefix unique to this test.
func TopicPrefix(t testing.TB) string {
	return "test." + strings.NewReplacer("/", ".", " ", "_").Replace(t.Name()) + "." + Suffix() + "."
}

// CleanupKafka deletes, when the test ends, every topic and consumer group
// whose name starts with prefix.
func CleanupKafka(t testing.TB, brokers []string, prefix string) {
	t.Cleanup(func() {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		admin, err := sarama.NewClusterAdmin(brokers, cfg)
		if err != nil {
			t.Logf("kafka cleanup: %v", err)
			return
		}
		defer admin.Close()
		if groups, err := admin.ListConsumerGroups(); err == nil {
			for g := range groups {
				if strings.HasPrefix(g, prefix) {
					_ = admin.DeleteConsumerGroup(g)
				}
			}
		}
		if topics, err := admin.ListTopics(); err == nil {
			for name := range topics {
				if strings.HasPrefix(name, prefix) {
					_ = admin.DeleteTopic(name)
				}
			}
		}
	})
}

// KafkaLibs returns the folder of the Kafka jars make up installed, for
// tests that run Kafka's own Java tools beside catalog: CATALOG_TEST_KAFKA_LIBS,
// or .data/kafka/libs at the module root.
func KafkaLibs(t testing.TB) string {
	t.Helper()
	NeedServices(t)
	dir := os.Getenv("CATALOG_TEST_KAFKA_LIBS")
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), ".data", "kafka", "libs")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "kafka-clients-*.jar")); len(m) == 0 {
		t.Fatalf("no Kafka jars in %s (run make up)", dir)
	}
	return dir
}

// RedisAddr returns the test Redis address.
func RedisAddr(t testing.TB) string {
	t.Helper()
	NeedServices(t)
	return env("CATALOG_TEST_REDIS_ADDR", "127.0.0.1:56379")
}

// PostgresURL creates an empty database for this test, dropped when the
// test ends, and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	NeedServices(t)
	base := env("CATALOG_TEST_PG_URL", "postgres://postgres@127.0.0.1:55432/catalog?sslmode=disable")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("postgres at %s is not reachable (run make up): %v", base, err)
	}
	defer admin.Close(ctx)
	name := "catalog_test_" + Suffix()
	if _, err := admin.Exec(ctx, "create database "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "drop database if exists "+name+" with (force)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("CATALOG_TEST_PG_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a pool on a new database of this test's own.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), PostgresURL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago. The port is drawn below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where no outgoing connection takes it
// between this call and the test's process binding it: a port the kernel
// handed out with ":0" is an ephemeral one, and on a busy machine one of
// the many connections to Kafka, PostgreSQL and Redis could take it first.
// Ports handed out in this process are not handed out again.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo := ephemeralLow()
	freeMu.Lock()
	defer freeMu.Unlock()
	for range 200 {
		port := freeFloor + mrand.IntN(lo-freeFloor)
		if freeGiven[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		freeGiven[port] = true
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freeFloor is the lowest port FreeAddr hands out: above the ports of
// common local services and of catalog's own defaults (8080-8085).
const freeFloor = 20000

var (
	freeMu    sync.Mutex
	freeGiven = map[int]bool{}
)

// ephemeralLow is the lowest port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > freeFloor+1000 {
				return n
			}
		}
	}
	return 32768
}

// Eventually polls cond every 50 ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
