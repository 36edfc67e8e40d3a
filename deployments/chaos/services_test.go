package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/testenv"
)

// postgres is a PostgreSQL cluster of the harness's own, run by pg_ctl from
// the Debian packages (as the postgres user when the harness runs as root:
// PostgreSQL refuses to run as root).
type postgres struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
}

func pgBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("CATALOG_TEST_PG_BIN"); b != "" {
		return b
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (make up installs them) and CATALOG_TEST_PG_BIN is unset")
	return ""
}

// startPostgres initialises a cluster under root and starts it.
func startPostgres(t testing.TB, root string) *postgres {
	t.Helper()
	p := &postgres{bin: pgBin(t), dir: filepath.Join(root, "postgres"), port: testenv.FreePort(t)}
	p.data = filepath.Join(p.dir, "data")
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (the postgresql package makes it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if out, err := p.ctl("start"); err != nil {
		t.Fatalf("postgres start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = p.ctl("stop", "-m", "immediate") })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "create database catalog"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

func (p *postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd.CombinedOutput()
}

// ctl runs pg_ctl action with the cluster's options, waiting (-w) for it.
// fsync is off: the harness kills processes, never the machine, and the
// operating system keeps what a killed server wrote.
func (p *postgres) ctl(action string, args ...string) ([]byte, error) {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='%s' -c max_connections=200 -c fsync=off", p.port, p.dir)
	full := append([]string{"-D", p.data, "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "120"}, args...)
	if action != "stop" {
		full = append(full, "-o", opts)
	}
	return p.run("pg_ctl", append(full, action)...)
}

// restart is `pg_ctl restart -m mode`: fast (clients disconnected, a
// checkpoint) or immediate (no checkpoint; crash recovery on start).
func (p *postgres) restart(mode string) error {
	if out, err := p.ctl("restart", "-m", mode); err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %w\n%s", mode, err, out)
	}
	return nil
}

// redisServer is a redis-server of the harness's own, with an append-only
// file, as deployments/local runs it.
type redisServer struct {
	dir, addr string
	port      int
	p         *testenv.Process
}

func startRedis(t testing.TB, root string) *redisServer {
	t.Helper()
	r := &redisServer{dir: filepath.Join(root, "redis"), port: testenv.FreePort(t)}
	r.addr = fmt.Sprintf("127.0.0.1:%d", r.port)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.p.Stop(syscall.SIGKILL, 10*time.Second) })
	return r
}

func (r *redisServer) start() error {
	p, err := testenv.StartProcess("redis", []string{"redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--dir", r.dir, "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no",
		"--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"}, os.Environ(), r.dir, filepath.Join(r.dir, "redis.log"), nil)
	if err != nil {
		return err
	}
	r.p = p
	c := r.client()
	defer c.Close()
	return testenv.WaitFor(30*time.Second, func() error {
		if p.Exited() {
			return errors.New("redis-server exited: see redis.log")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	})
}

func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1, DialTimeout: time.Second})
}

// restart stops the server the way an operator does (SIGTERM: it writes
// the append-only file and exits) and starts it again on the same files,
// which bring back every entry it held.
func (r *redisServer) restart() error {
	r.p.Stop(syscall.SIGTERM, 30*time.Second)
	return r.start()
}

// pauseWrites is CLIENT PAUSE ms WRITE: reads go on, writes wait.
func (r *redisServer) pauseWrites(ms int) error {
	c := r.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, "CLIENT", "PAUSE", strconv.Itoa(ms), "WRITE").Err()
}
