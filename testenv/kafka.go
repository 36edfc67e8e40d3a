package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kafkaStartTimeout bounds how long a node may take to say it has
// started: a JVM start on two busy cores, plus, for the first start of a
// cluster, the controllers electing a leader.
const kafkaStartTimeout = 3 * time.Minute

// Kafka is an Apache Kafka cluster of a test's own: n nodes in KRaft mode,
// each a combined broker and controller, run from the jars make up fetched
// (KafkaLibs) with deployments/local's server.properties and Log4j 2
// settings, on free loopback ports. Node i (0-based) has node.id i+1, which
// is the broker id Kafka's metadata names. Tests use it to kill, stop and
// restart brokers; the shared broker of make up is never touched.
//
// Its methods may be called from any goroutine, but Start, Stop and Kill of
// one node must not overlap.
type Kafka struct {
	t     testing.TB
	libs  string
	root  string
	nodes []*kafkaNode
}

type kafkaNode struct {
	id         int // node.id
	dir        string
	props      string
	logPath    string
	addr       string // the PLAINTEXT (client) listener
	controller string // the CONTROLLER listener

	mu sync.Mutex
	p  *Process
}

// StartKafka starts a KRaft cluster of n combined broker+controller nodes
// (n = 1 or 3) on free loopback ports, data under t.TempDir(), from the jars
// of KafkaLibs(t), with deployments/local's settings, and waits until every
// node serves. With 3 nodes the controller quorum is the three of them
// (controller.quorum.voters) and Kafka's internal topics have three
// replicas with min.insync.replicas 2. Every node is killed when the test
// ends.
func StartKafka(t testing.TB, n int) *Kafka {
	t.Helper()
	k := NewKafka(t, n, "")
	if err := k.StartAll(); err != nil {
		t.Fatal(err)
	}
	return k
}

// NewKafka prepares the cluster StartKafka starts, without starting it:
// it writes each node's server.properties and formats its storage under
// dir ("" is a new t.TempDir()), one folder per node, node-1, node-2...
// StartAll starts it. A harness that keeps its folder when it fails passes
// one of its own.
func NewKafka(t testing.TB, n int, dir string) *Kafka {
	t.Helper()
	return newKafka(t, n, dir, nil)
}

// newKafka is NewKafka; with sec, each node also has sec's SASL_SSL
// listener.
func newKafka(t testing.TB, n int, dir string, sec *SecureListener) *Kafka {
	t.Helper()
	if n != 1 && n != 3 {
		t.Fatalf("testenv.NewKafka: %d nodes: a cluster here has 1 or 3", n)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("java is not installed (make up installs it): %v", err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	k := &Kafka{t: t, libs: KafkaLibs(t), root: moduleRoot(t)}
	tmpl, err := os.ReadFile(filepath.Join(k.root, "deployments", "local", "server.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k.nodes = append(k.nodes, &kafkaNode{
			id:         i + 1,
			dir:        filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
			addr:       FreeAddr(t),
			controller: FreeAddr(t),
		})
	}
	voters := make([]string, n)
	for i, nd := range k.nodes {
		voters[i] = fmt.Sprintf("%d@%s", nd.id, nd.controller)
	}
	minISR := 1
	if n >= 3 {
		minISR = 2
	}
	clusterID := newClusterID()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range k.nodes {
		nd.props, nd.logPath = filepath.Join(nd.dir, "server.properties"), filepath.Join(nd.dir, "kafka.log")
		props := strings.NewReplacer(
			"@NODE_ID@", strconv.Itoa(nd.id),
			"@VOTERS@", strings.Join(voters, ","),
			"@BROKER_PORT@", port(nd.addr),
			"@CONTROLLER_PORT@", port(nd.controller),
			"@LOG_DIR@", filepath.Join(nd.dir, "data"),
			"@REPLICATION@", strconv.Itoa(n),
			"@MIN_ISR@", strconv.Itoa(minISR),
		).Replace(string(tmpl))
		var scram []string
		if sec != nil {
			props += sec.properties(nd)
			scram = sec.scramArgs()
		}
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nd.props, []byte(props), 0o644); err != nil {
			t.Fatal(err)
		}
		// Every node is formatted with the same cluster id; the JVMs run
		// side by side to save start-up time.
		wg.Add(1)
		go func() {
			defer wg.Done()
			format := exec.Command("java", append(append(k.java(), "kafka.tools.StorageTool", "format", "-t", clusterID,
				"-c", nd.props, "--ignore-formatted"), scram...)...)
			if out, err := format.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("kafka storage format of node %d: %w\n%s", nd.id, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, nd := range k.nodes {
			nd.mu.Lock()
			if nd.p != nil {
				nd.p.Stop(syscall.SIGKILL, 10*time.Second)
			}
			nd.mu.Unlock()
		}
		if t.Failed() {
			for _, nd := range k.nodes {
				t.Logf("kafka node %d (%s), last lines of %s:\n%s", nd.id, nd.addr, nd.logPath, tailFile(nd.logPath, 15))
			}
		}
	})
	return k
}

// newClusterID returns a cluster id as `StorageTool random-uuid` prints it
// (16 random bytes in unpadded URL-safe base64); making it here saves a
// JVM start. Like Kafka's Uuid.randomUuid it draws again when the id starts
// with '-', which the tool's argument parser would read as an option.
func newClusterID() string {
	for {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		s := base64.RawURLEncoding.EncodeToString(id)
		if s[0] != '-' {
			return s
		}
	}
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// moduleRoot is the folder of go.mod above the test's working directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// java is the JVM's options: a small heap, since a test may run three
// nodes beside everything else on two cores.
func (k *Kafka) java() []string {
	return []string{"-Xms128m", "-Xmx384m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(k.root, "deployments", "local", "log4j2.properties"),
		"-cp", filepath.Join(k.libs, "*")}
}

// Brokers returns the bootstrap (client) address of every node, node 0
// first.
func (k *Kafka) Brokers() []string {
	out := make([]string, len(k.nodes))
	for i, nd := range k.nodes {
		out[i] = nd.addr
	}
	return out
}

// Nodes is the number of nodes.
func (k *Kafka) Nodes() int { return len(k.nodes) }

// NodeID returns node i's node.id (its broker id), i+1.
func (k *Kafka) NodeID(i int) int32 { return int32(k.node(i).id) }

// Dir returns node i's folder: server.properties, kafka.log and data/.
func (k *Kafka) Dir(i int) string { return k.node(i).dir }

// Pid returns the process id of node i, 0 when it is not running.
func (k *Kafka) Pid(i int) int {
	nd := k.node(i)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p == nil || nd.p.Exited() {
		return 0
	}
	return nd.p.Pid()
}

func (k *Kafka) node(i int) *kafkaNode {
	if i < 0 || i >= len(k.nodes) {
		k.t.Fatalf("kafka node %d: the cluster has nodes 0 to %d", i, len(k.nodes)-1)
	}
	return k.nodes[i]
}

// StartAll starts every node at once (a node of a quorum cannot finish
// starting alone) and waits until each serves.
func (k *Kafka) StartAll() error {
	errs := make([]error, len(k.nodes))
	var wg sync.WaitGroup
	for i := range k.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = k.Start(i) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Kill sends SIGKILL to node i and waits until it has exited: nothing it
// had not written to its files survives, as in a crash of the process.
func (k *Kafka) Kill(i int) {
	nd := k.node(i)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p != nil {
		nd.p.Stop(syscall.SIGKILL, 30*time.Second)
	}
}

// Stop sends SIGTERM to node i, a controlled shutdown (it hands its
// partitions' leadership over first), and waits until it has exited; after
// two minutes it is killed and the test fails.
func (k *Kafka) Stop(i int) {
	nd := k.node(i)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p != nil && !nd.p.Stop(syscall.SIGTERM, 2*time.Minute) {
		k.t.Errorf("kafka node %d did not stop within 2 minutes of SIGTERM; killed", nd.id)
	}
}

// Start starts node i, again on the same data and ports after Kill or
// Stop, and waits until it serves: "Kafka Server started" in its log and
// its client port open. Starting a node that runs is an error.
func (k *Kafka) Start(i int) error {
	nd := k.node(i)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p != nil && !nd.p.Exited() {
		return fmt.Errorf("kafka node %d is running (pid %d)", nd.id, nd.p.Pid())
	}
	var from int64
	if fi, err := os.Stat(nd.logPath); err == nil {
		from = fi.Size()
	}
	p, err := StartProcess(fmt.Sprintf("kafka node %d", nd.id), append(append([]string{"java"}, k.java()...), "kafka.Kafka", nd.props),
		os.Environ(), nd.dir, nd.logPath, nil)
	if err != nil {
		return err
	}
	nd.p = p
	return WaitFor(kafkaStartTimeout, func() error {
		if p.Exited() {
			return fmt.Errorf("kafka node %d exited during start-up (%v): see %s", nd.id, p.Err(), nd.logPath)
		}
		b, err := os.ReadFile(nd.logPath)
		if err != nil {
			return err
		}
		if int64(len(b)) < from || !bytes.Contains(b[from:], []byte("Kafka Server started")) {
			return fmt.Errorf("kafka node %d has not started yet", nd.id)
		}
		if !PortOpen(nd.addr) {
			return fmt.Errorf("kafka node %d does not take connections on %s yet", nd.id, nd.addr)
		}
		return nil
	})
}

// tailFile returns the last n lines of a file, or why it cannot.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
