package main_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/testenv"
)

// startRedisProcess runs redis-server with args until the test ends.
func startRedisProcess(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// readThroughCache delivers a release through s's ingest, reads its track
// through the API until it answers, and returns the number of keys under
// s's Redis prefix on rdb afterwards.
func readThroughCache(t *testing.T, s stack, rdb *redis.Client, i int) int {
	t.Helper()
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	id := deliver(t, s.ingest, restartRelease(i, 1)).TrackIDs[fmt.Sprintf("GBRST%07d", 2*i)]
	testenv.Eventually(t, 60*time.Second, func() error {
		status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, id))
		if status != http.StatusOK || !strings.Contains(body, fmt.Sprintf("Release %d v1", i)) {
			return fmt.Errorf("status %d: %s", status, body)
		}
		return nil
	})
	var keys []string
	testenv.Eventually(t, 10*time.Second, func() error {
		var err error
		keys, err = rdb.Keys(context.Background(), s.prefix+"*").Result()
		if err == nil && len(keys) == 0 {
			err = fmt.Errorf("no key under %s", s.prefix)
		}
		return err
	})
	return len(keys)
}

// TestRedisByURL: CATALOG_REDIS_URL reaches a Redis that takes only TLS
// connections (checked against the test's CA) from an ACL user, the URL
// read from a file; and a master named by a Sentinel, with the master's
// password. Either way the API fills its hot entries there.
func TestRedisByURL(t *testing.T) {
	t.Parallel()
	t.Run("tls-and-acl", func(t *testing.T) {
		t.Parallel()
		pki := testenv.WritePKI(t, t.TempDir())
		addr := testenv.FreeAddr(t)
		port := addr[strings.LastIndexByte(addr, ':')+1:]
		startRedisProcess(t, "--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--tls-cert-file", pki.CertFile, "--tls-key-file", pki.KeyFile, "--tls-ca-cert-file", pki.CAFile,
			"--tls-auth-clients", "no", "--user", "default", "off", "--user", "catalog", "on", ">s3cret", "~*", "&*", "+@all")
		pem, _ := os.ReadFile(pki.CAFile)
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		rdb := redis.NewClient(&redis.Options{Addr: addr, Username: "catalog", Password: "s3cret",
			TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
		defer rdb.Close()
		testenv.Eventually(t, 10*time.Second, func() error { return rdb.Ping(context.Background()).Err() })

		urlFile := filepath.Join(t.TempDir(), "redis-url")
		if err := os.WriteFile(urlFile, []byte("rediss://catalog:s3cret@"+addr+"/0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newStack(t)
		s.env = append(s.env, "CATALOG_REDIS_URL_FILE="+urlFile, "CATALOG_REDIS_TLS_CA_FILE="+pki.CAFile)
		if n := readThroughCache(t, s, rdb, 41); n == 0 {
			t.Fatal("no hot entry in the TLS Redis")
		}
		// Without TLS the same server refuses the connection.
		plain := redis.NewClient(&redis.Options{Addr: addr, Username: "catalog", Password: "s3cret", DialTimeout: time.Second, ReadTimeout: time.Second})
		defer plain.Close()
		if err := plain.Ping(context.Background()).Err(); err == nil {
			t.Error("the TLS-only Redis answered a plaintext connection")
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		master, sentinel := testenv.FreeAddr(t), testenv.FreeAddr(t)
		mport, sport := master[strings.LastIndexByte(master, ':')+1:], sentinel[strings.LastIndexByte(sentinel, ':')+1:]
		startRedisProcess(t, "--port", mport, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", "masterpw")
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("port %s\nbind 127.0.0.1\nsentinel monitor primary 127.0.0.1 %s 1\nsentinel auth-pass primary masterpw\n", sport, mport)), 0o600); err != nil {
			t.Fatal(err)
		}
		startRedisProcess(t, conf, "--sentinel")
		rdb := redis.NewClient(&redis.Options{Addr: master, Password: "masterpw"})
		defer rdb.Close()
		sen := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
		defer sen.Close()
		testenv.Eventually(t, 10*time.Second, func() error {
			if err := rdb.Ping(context.Background()).Err(); err != nil {
				return err
			}
			return sen.GetMasterAddrByName(context.Background(), "primary").Err()
		})

		s := newStack(t)
		s.env = append(s.env, "CATALOG_REDIS_URL=redis://"+sentinel+"?master_name=primary&password=masterpw")
		if n := readThroughCache(t, s, rdb, 42); n == 0 {
			t.Fatal("no hot entry in the master the Sentinel names")
		}
	})
}
