package testenv

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server of a test's own, for tests that pause, kill or
// restart Redis: the shared one is never touched. It persists to an
// append-only file in its folder, fsynced before every write is answered,
// so what a test wrote is in the file when it kills the server.
type Redis struct {
	// Addr is where it listens, on loopback.
	Addr string
	// Dir is its data folder.
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis runs redis-server (the binary make up installs) on addr with
// its data in dir and waits until it answers. It is killed when the test
// ends.
func StartRedis(t testing.TB, addr, dir string) *Redis {
	t.Helper()
	NeedServices(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (make up installs it): %v", err)
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	r := &Redis{Addr: addr, Dir: dir, done: make(chan struct{}),
		cmd: exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "always")}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.Kill)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	Eventually(t, 10*time.Second, func() error { return rdb.Ping(context.Background()).Err() })
	return r
}

// Kill stops the server with SIGKILL (nothing more reaches its files) and
// waits for it to exit.
func (r *Redis) Kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Do runs one command on the server, such as CLIENT PAUSE.
func (r *Redis) Do(t testing.TB, args ...any) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	if err := rdb.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
}
