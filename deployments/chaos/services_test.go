package chaos_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/testenv"
)

// process is a child process in a process group of its own, its output
// appended to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it ended, once done is closed
}

// startProcess starts argv with env in dir, appending its output to
// logPath, as the user cred names (nil: this one).
func startProcess(name string, argv, env []string, dir, logPath string, cred *syscall.Credential) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s: %s started at %s ===\n", name, strings.Join(argv, " "), time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, dir, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// signal sends sig to the process's whole group.
func (p *process) signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop sends sig and waits up to timeout for the process to end, then
// SIGKILLs it.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) {
	_ = p.signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitFor polls cond every 100 ms until it returns nil or timeout passes.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	p := &postgres{bin: pgBin(t), dir: filepath.Join(root, "postgres"), port: freePort(t)}
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
	p         *process
}

func startRedis(t testing.TB, root string) *redisServer {
	t.Helper()
	r := &redisServer{dir: filepath.Join(root, "redis"), port: freePort(t)}
	r.addr = fmt.Sprintf("127.0.0.1:%d", r.port)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.p.stop(syscall.SIGKILL, 10*time.Second) })
	return r
}

func (r *redisServer) start() error {
	p, err := startProcess("redis", []string{"redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--dir", r.dir, "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no",
		"--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"}, os.Environ(), r.dir, filepath.Join(r.dir, "redis.log"), nil)
	if err != nil {
		return err
	}
	r.p = p
	c := r.client()
	defer c.Close()
	return waitFor(30*time.Second, func() error {
		if p.exited() {
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
	r.p.stop(syscall.SIGTERM, 30*time.Second)
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

// kafkaBroker is a single-node Kafka (KRaft, combined broker and
// controller) of the harness's own, run from the jars make up fetched,
// with deployments/local's settings.
type kafkaBroker struct {
	libs, dir, props, logPath, addr string
	p                               *process
}

// newKafka formats a broker's storage under root; start starts it.
func newKafka(t testing.TB, root string) *kafkaBroker {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("java is not installed (make up installs it): %v", err)
	}
	k := &kafkaBroker{libs: testenv.KafkaLibs(t), dir: filepath.Join(root, "kafka")}
	broker, controller := freePort(t), freePort(t)
	k.addr = fmt.Sprintf("127.0.0.1:%d", broker)
	k.props, k.logPath = filepath.Join(k.dir, "server.properties"), filepath.Join(k.dir, "kafka.log")
	tmpl, err := os.ReadFile("../local/server.properties")
	if err != nil {
		t.Fatal(err)
	}
	props := strings.NewReplacer("@BROKER_PORT@", strconv.Itoa(broker), "@CONTROLLER_PORT@", strconv.Itoa(controller),
		"@LOG_DIR@", filepath.Join(k.dir, "data")).Replace(string(tmpl))
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.props, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	// A cluster id is 16 random bytes in unpadded URL-safe base64, what
	// `StorageTool random-uuid` prints; making it here saves a JVM start.
	// Like Kafka's Uuid.randomUuid, draw again when it starts with '-',
	// which the tool's argument parser would read as an option.
	var clusterID string
	for clusterID == "" || clusterID[0] == '-' {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		clusterID = base64.RawURLEncoding.EncodeToString(id)
	}
	format := exec.Command("java", append(k.java(), "kafka.tools.StorageTool", "format", "-t", clusterID,
		"-c", k.props, "--ignore-formatted")...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("kafka storage format: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if k.p != nil {
			k.p.stop(syscall.SIGKILL, 10*time.Second)
		}
	})
	return k
}

func (k *kafkaBroker) java() []string {
	log4j, _ := filepath.Abs("../local/log4j2.properties")
	return []string{"-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + log4j, "-cp", filepath.Join(k.libs, "*")}
}

// start starts the broker and waits until it says it has started and
// takes connections.
func (k *kafkaBroker) start() error {
	var from int64
	if fi, err := os.Stat(k.logPath); err == nil {
		from = fi.Size()
	}
	p, err := startProcess("kafka", append(append([]string{"java"}, k.java()...), "kafka.Kafka", k.props), os.Environ(), k.dir, k.logPath, nil)
	if err != nil {
		return err
	}
	k.p = p
	return waitFor(3*time.Minute, func() error {
		if p.exited() {
			return fmt.Errorf("kafka exited during start-up (%v): see %s", p.err, k.logPath)
		}
		b, err := os.ReadFile(k.logPath)
		if err != nil {
			return err
		}
		if int64(len(b)) < from || !bytes.Contains(b[from:], []byte("Kafka Server started")) {
			return errors.New("kafka has not started yet")
		}
		if !portOpen(k.addr) {
			return errors.New("kafka does not take connections yet")
		}
		return nil
	})
}
