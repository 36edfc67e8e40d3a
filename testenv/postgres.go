package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configures a PostgreSQL server of a test's own.
type PostgresOptions struct {
	// Settings are extra server settings (name -> value), such as
	// wal_level=logical for a server that publishes changes.
	Settings map[string]string
}

// PostgresServer is a PostgreSQL server of a test's own, for tests that
// stop it, or need settings the shared one (make up) does not run with:
// the shared server is never touched. It listens on a free loopback port,
// with its data in a temporary folder, trusts every local connection as
// user postgres, and is stopped and removed when the test ends.
type PostgresServer struct {
	// Addr is where it listens, host:port on loopback.
	Addr string
	// Dir holds its data folder and socket.
	Dir  string
	bin  string
	opts PostgresOptions
}

// StartPostgres initialises and starts a PostgreSQL server with the
// binaries make up installs (the newest /usr/lib/postgresql/*/bin), with
// a database named catalog, and waits until it answers. As root, the
// server runs as user postgres (PostgreSQL refuses root), as
// deployments/local/up.sh runs it.
func StartPostgres(t testing.TB, opts PostgresOptions) *PostgresServer {
	t.Helper()
	NeedServices(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL's binaries are not installed under /usr/lib/postgresql (make up installs them)")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	dir, err := os.MkdirTemp("", "catalog-test-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// MkdirTemp's 0700 would keep the postgres user out.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &PostgresServer{Addr: FreeAddr(t), Dir: dir, bin: filepath.Dir(bins[len(bins)-1]), opts: opts}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop").Run() })
	s.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "create database catalog"); err != nil {
		t.Fatal(err)
	}
	return s
}

// pgMajor reads the major version from a /usr/lib/postgresql/N/bin path.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func (s *PostgresServer) data() string { return filepath.Join(s.Dir, "data") }

// command runs one of PostgreSQL's programs, as user postgres when root.
func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(s.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	port := s.Addr[strings.LastIndexByte(s.Addr, ':')+1:]
	o := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %s -c unix_socket_directories='%s' -c fsync=off -c max_connections=50", port, s.Dir)
	for k, v := range s.opts.Settings {
		o += fmt.Sprintf(" -c %s=%s", k, v)
	}
	if out, err := s.command("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.Dir, "postgres.log"), "-w", "-t", "60", "-o", o, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once (immediate mode: no checkpoint, like a
// crash of the host) and waits until it is gone.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if out, err := s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// URL returns the URL of database db on the server, as user postgres.
func (s *PostgresServer) URL(db string) string {
	return "postgres://postgres@" + s.Addr + "/" + db + "?sslmode=disable"
}

// Pool returns a pool on database db, closed when the test ends.
func (s *PostgresServer) Pool(t testing.TB, db string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), s.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
