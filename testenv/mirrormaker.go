package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MirrorOptions says what a MirrorMaker of StartMirrorMaker copies, from
// where to where. Central, Region, Name and Prefix are required.
type MirrorOptions struct {
	// Central and Region are the bootstrap brokers of the source and the
	// target cluster.
	Central, Region []string
	// Name is the region's name, the target's cluster alias in
	// mm2.properties and the --clusters argument (such as "india").
	Name string
	// Prefix is CATALOG_TOPIC_PREFIX and CATALOG_GROUP_PREFIX: every topic
	// under it is mirrored (parking and internal topics excepted) and the
	// consumer groups under it are left out of offset translation.
	Prefix string
	// RefreshSeconds is how often MirrorMaker looks for new topics and
	// groups and re-syncs topic settings; 0 is 2 (a test's pace).
	RefreshSeconds int
	// Tasks is tasks.max; 0 is 1.
	Tasks int
	// ReplicationFactor is the region's replication factor for the
	// mirrored topics and MirrorMaker's own; 0 is 1.
	ReplicationFactor int
	// Heap is the JVM's -Xmx, such as "384m" (the default) or "1g".
	Heap string
}

// MirrorMaker is Apache Kafka's MirrorMaker 2 in dedicated mode
// (org.apache.kafka.connect.mirror.MirrorMaker, what
// bin/connect-mirror-maker.sh runs) from the jars of KafkaLibs, with
// deployments/regions/mm2.properties filled in: the one replicator a
// region has, run by tests and the benchmark harness the way
// deployments/regions/up.sh runs it. Its log is appended to by every start
// and its last lines are logged when the test fails.
//
// Start, Stop and Kill must not overlap; each may be called from any
// goroutine of the test, but only Start and Stop fail the test, so call
// them from the test's own.
type MirrorMaker struct {
	t     testing.TB
	argv  []string
	props string
	log   string

	mu   sync.Mutex
	p    *Process
	runs int
}

// mirrorLogTail bounds the MirrorMaker log a failed test prints.
const mirrorLogTail = 20000

// StartMirrorMaker renders deployments/regions/mm2.properties for
// o.Central -> o.Region and starts MirrorMaker 2 for that target only
// (--clusters o.Name), killed when the test ends. It returns once the JVM
// runs, not once it copies: callers wait for the mirrored data.
func StartMirrorMaker(t testing.TB, o MirrorOptions) *MirrorMaker {
	t.Helper()
	m := NewMirrorMaker(t, o)
	m.Start()
	return m
}

// NewMirrorMaker prepares what StartMirrorMaker starts, without starting
// it: a harness that times MirrorMaker from its start calls Start itself.
func NewMirrorMaker(t testing.TB, o MirrorOptions) *MirrorMaker {
	t.Helper()
	if len(o.Central) == 0 || len(o.Region) == 0 || o.Name == "" || o.Prefix == "" {
		t.Fatalf("testenv.StartMirrorMaker: Central, Region, Name and Prefix are required: %+v", o)
	}
	refresh, tasks, rf, heap := o.RefreshSeconds, o.Tasks, o.ReplicationFactor, o.Heap
	if refresh == 0 {
		refresh = 2
	}
	if tasks == 0 {
		tasks = 1
	}
	if rf == 0 {
		rf = 1
	}
	if heap == "" {
		heap = "384m"
	}
	libs, root := KafkaLibs(t), moduleRoot(t)
	tmpl, err := os.ReadFile(filepath.Join(root, "deployments", "regions", "mm2.properties"))
	if err != nil {
		t.Fatal(err)
	}
	// A prefix is a literal: its dots are matched as [.], as the template's
	// own expressions are (a .properties file drops a backslash).
	re := strings.ReplaceAll(regexp.QuoteMeta(o.Prefix), `\.`, "[.]")
	props := strings.NewReplacer(
		"@REGION@", o.Name, "@CENTRAL_BOOTSTRAP@", strings.Join(o.Central, ","), "@REGION_BOOTSTRAP@", strings.Join(o.Region, ","),
		"@TOPIC_PREFIX_RE@", re, "@GROUP_PREFIX_RE@", re, "@REFRESH_SECONDS@", strconv.Itoa(refresh),
		"@REGION_RF@", strconv.Itoa(rf), "@TASKS@", strconv.Itoa(tasks),
	).Replace(string(tmpl))
	if left := regexp.MustCompile(`@[A-Z_]+@`).FindString(props); left != "" {
		t.Fatalf("mm2.properties has a placeholder left: %s", left)
	}
	dir := t.TempDir()
	m := &MirrorMaker{t: t, props: filepath.Join(dir, "mm2.properties"), log: filepath.Join(dir, "mirrormaker.log")}
	if err := os.WriteFile(m.props, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	m.argv = []string{"java", "-Xms128m", "-Xmx" + heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(root, "deployments", "local", "log4j2.properties"),
		"-cp", filepath.Join(libs, "*"), "org.apache.kafka.connect.mirror.MirrorMaker", m.props, "--clusters", o.Name}
	t.Cleanup(func() {
		m.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(m.log)
			if len(b) > mirrorLogTail {
				b = b[len(b)-mirrorLogTail:]
			}
			t.Logf("--- MirrorMaker log (tail of %s) ---\n%s", m.log, b)
		}
	})
	return m
}

// Start starts MirrorMaker, again after Stop or Kill; it resumes from the
// source offsets it last committed in the region's cluster. Starting one
// that runs fails the test.
func (m *MirrorMaker) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil && !m.p.Exited() {
		m.t.Fatalf("MirrorMaker is running (pid %d)", m.p.Pid())
	}
	m.runs++
	p, err := StartProcess(fmt.Sprintf("mirrormaker-%d", m.runs), m.argv, os.Environ(), "", m.log, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	m.p = p
}

// Stop sends SIGTERM and waits for MirrorMaker to shut down (it commits
// how far it has copied); after 60 s it is killed and the test fails.
func (m *MirrorMaker) Stop() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return
	}
	if !m.p.Stop(syscall.SIGTERM, 60*time.Second) {
		m.t.Fatal("MirrorMaker did not stop within 60 s of SIGTERM")
	}
	m.p = nil
}

// Kill sends SIGKILL and waits until MirrorMaker has exited: what it
// copied since its last offset commit is copied again on the next Start.
func (m *MirrorMaker) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		m.p.Stop(syscall.SIGKILL, 10*time.Second)
		m.p = nil
	}
}

// Pid returns MirrorMaker's process id, 0 when it is not running.
func (m *MirrorMaker) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil || m.p.Exited() {
		return 0
	}
	return m.p.Pid()
}

// LogPath is the file every start appends MirrorMaker's output to.
func (m *MirrorMaker) LogPath() string { return m.log }
