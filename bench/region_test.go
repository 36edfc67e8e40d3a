//go:build bench

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/testenv"
)

// regionName is the bench's region, as in docs/regions.md.
const regionName = "india"

// The region's sections of BENCHMARKS.md.
const (
	mirrorSection = "Cross-region replication: MirrorMaker 2, central → region, whole topic from offset zero"
	crossSection  = "Cross-region freshness: accepted centrally → visible through the regional API"
)

// benchRegion is the run's own region: a single-node Kafka cluster of its
// own, a database of its own on the shared PostgreSQL, its own Redis key
// prefix, MirrorMaker 2 from the central cluster, and the projector and
// API roles with CATALOG_REGION set.
type benchRegion struct {
	s     stack
	kafka *testenv.Kafka
	mm    *testenv.MirrorMaker
	roles []*proc
}

// mirror sets the region up on the fully ingested log and measures how
// fast it fills: MirrorMaker 2 copying the whole releases topic from
// offset zero (nothing else reading or writing), next to ConsumerPerformance
// over the same topic, then the regional projector's first projection of
// the mirror, next to the central one. MirrorMaker, the regional projector
// and API keep running for the freshness run.
func (r *benchRun) mirror() {
	start := time.Now()
	reg := &benchRegion{kafka: testenv.StartKafka(r.b, 1)}
	r.region = reg
	reg.s = r.s
	reg.s.pgURL, reg.s.brokers = testenv.PostgresURL(r.b), reg.kafka.Brokers()
	reg.s.api, reg.s.projector = testenv.FreeAddr(r.b), testenv.FreeAddr(r.b)
	reg.s.ingest, reg.s.gateway = "", ""
	reg.s.env = append(append([]string(nil), r.s.env...),
		"CATALOG_REGION="+regionName,
		"CATALOG_PG_URL="+reg.s.pgURL,
		"CATALOG_KAFKA_BROKERS="+strings.Join(reg.s.brokers, ","),
		"CATALOG_REDIS_PREFIX="+r.s.prefix+regionName+":td:",
		"CATALOG_API_ADDR="+reg.s.api,
		"CATALOG_PROJECTOR_ADDR="+reg.s.projector,
	)
	r.logf("region %s: Kafka %s up in %s", regionName, strings.Join(reg.s.brokers, ","), time.Since(start).Round(time.Millisecond))

	// The central topic is complete and nothing writes to it until the
	// freshness run: the copy's end is central's end offsets now.
	central, err := endOffsets(r.s.brokers, r.topic)
	if err != nil {
		r.b.Fatal(err)
	}
	var records int64
	for _, n := range central {
		records += n
	}
	r.logf("central topics under %s (MirrorMaker leaves out the per-cluster *.poison ones): %s", r.s.prefix, strings.Join(r.prefixTopics(), ", "))
	// One task, as ConsumerPerformance is one consumer; a heap that holds
	// the producer's 64 MiB buffer and 16 MiB fetches with room.
	reg.mm = testenv.NewMirrorMaker(r.b, testenv.MirrorOptions{Central: r.s.brokers, Region: reg.s.brokers, Name: regionName,
		Prefix: r.s.prefix, Tasks: 1, Heap: "1g"})
	client := r.regionClient()
	defer client.Close()
	began := time.Now()
	reg.mm.Start()
	var first time.Time
	testenv.Eventually(r.b, time.Hour, func() error {
		var copied int64
		behind := 0
		for p, end := range central {
			n, err := client.GetOffset(r.topic, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("mirror %s/%d: %w", r.topic, p, err)
			}
			copied += n
			if n < end {
				behind++
			}
		}
		if copied > 0 && first.IsZero() {
			first = time.Now()
		}
		if behind > 0 {
			return fmt.Errorf("%d of %d records mirrored, %d partitions behind", copied, records, behind)
		}
		return nil
	})
	done := time.Now()
	fromStart, fromFirst := done.Sub(began), done.Sub(first)
	r.logf("MirrorMaker: %d records in %s from its start, %s from the first mirrored record", records, fromStart.Round(time.Millisecond), fromFirst.Round(time.Millisecond))

	rate, mb := fig(float64(records)/fromFirst.Seconds()), fig(r.topicMB/fromFirst.Seconds())
	consumerRate, consumerMB := r.consumerRate, r.consumerMB
	r.rep.Settings["region"] = fmt.Sprintf("%s: a single-node Kafka cluster of the run's own on the same machine, a database of its own on the same PostgreSQL, its own Redis key prefix; MirrorMaker 2 in dedicated mode (deployments/regions/mm2.properties, tasks.max=1, -Xmx1g)", regionName)
	r.rep.add(row{Section: mirrorSection, Measure: "MirrorMaker 2, from its first mirrored record until the mirror's end offsets equal central's", Unit: "records/s", Value: rate,
		Raw: "Kafka ConsumerPerformance over the central topic, same run (one consumer)", RawValue: &consumerRate,
		Note: fmt.Sprintf("%s records, %s s; one run; the mirror's end offsets polled every 50 ms", num(float64(records)), num(fromFirst.Seconds()))})
	r.rep.add(row{Section: mirrorSection, Measure: "MirrorMaker 2, from its first mirrored record (key and value bytes, as ConsumerPerformance counts them)", Unit: "MB/s", Value: mb,
		Raw: "Kafka ConsumerPerformance, same run", RawValue: &consumerMB,
		Note: fmt.Sprintf("%s MB (MiB) in the topic", num(r.topicMB))})
	r.rep.add(row{Section: mirrorSection, Measure: "MirrorMaker 2, from its process start (JVM start, topic creation and task assignment included)", Unit: "records/s",
		Value: fig(float64(records) / fromStart.Seconds()), Note: fmt.Sprintf("%s s wall; the first record reached the region %s s after the start", num(fromStart.Seconds()), num(first.Sub(began).Seconds()))})

	// The regional projector and API start on the complete mirror, so the
	// projector's catch-up is its first projection of the mirror, alone.
	start = time.Now()
	reg.roles = append(reg.roles, r.startIn(reg.s, regionName+"-project", "project", nil), r.startIn(reg.s, regionName+"-api", "api", nil))
	testenv.Eventually(r.b, 2*time.Hour, func() error { return reg.s.status(r.b).caughtUp() })
	d := time.Since(start)
	r.logf("regional first projection: %d events in %s", records, d.Round(time.Millisecond))
	central1 := r.rep.find("Projection and rebuild", "First projection of the whole log (live generation, from offset zero)").Value
	r.rep.add(row{Section: mirrorSection, Measure: "Regional projector: first projection of the mirror (live generation, from offset zero)", Unit: "events/s",
		Value: fig(float64(records) / d.Seconds()), Raw: "the central first projection, same run", RawValue: &central1,
		Note: fmt.Sprintf("%s s wall from the role's start, one run, polled once a second; MirrorMaker idle", num(d.Seconds()))})
	waitHTTP(r.b, "http://"+reg.s.api+"/healthz")
}

// regionClient is a sarama client on the region's cluster that never asks
// for a topic to be created: the mirrored topic is MirrorMaker's to make.
func (r *benchRun) regionClient() sarama.Client {
	cfg := kafkaConfig()
	cfg.Metadata.AllowAutoTopicCreation = false
	client, err := sarama.NewClient(r.region.s.brokers, cfg)
	if err != nil {
		r.b.Fatal(err)
	}
	return client
}

// stopRegion ends the region once the freshness run is over, so the rest
// of the run measures the central stack alone as before; MirrorMaker's log
// is kept with the roles' under .data/bench/logs.
func (r *benchRun) stopRegion() {
	reg := r.region
	if reg == nil {
		return
	}
	reg.mm.Kill()
	if b, err := os.ReadFile(reg.mm.LogPath()); err == nil {
		_ = os.WriteFile(filepath.Join(r.work, "logs", regionName+"-mirrormaker.log"), b, 0o644)
	}
	for _, p := range reg.roles {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		p.done <- nil // for the cleanup
	}
	reg.kafka.Kill(0)
}

// startIn runs `catalog role` with s's environment (plus env), logging to
// .data/bench/logs/NAME.log, killed when the run ends.
func (r *benchRun) startIn(s stack, name, role string, env []string) *proc {
	dir := filepath.Join(r.work, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.b.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.b.Fatal(err)
	}
	args := []string{role}
	if r.cfg.profile && s.prefix == r.s.prefix && s.pgURL == r.s.pgURL && (name == "ingest" || name == "api") {
		// CATALOG_BENCH_CPUPROFILE: the role profiles itself until
		// stopProfiled stops it.
		if err := os.MkdirAll(filepath.Join(r.work, "profiles"), 0o755); err != nil {
			r.b.Fatal(err)
		}
		args = append(args, "--cpuprofile", filepath.Join(r.work, "profiles", name+"-run.pprof"))
	}
	p := &proc{cmd: exec.Command(catalogBin, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(append([]string(nil), s.env...), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		r.b.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	r.b.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// prefixTopics lists the central cluster's topics under the run's prefix,
// what MirrorMaker's topic filter starts from.
func (r *benchRun) prefixTopics() []string {
	admin, err := sarama.NewClusterAdmin(r.s.brokers, kafkaConfig())
	if err != nil {
		r.b.Fatal(err)
	}
	defer admin.Close()
	all, err := admin.ListTopics()
	if err != nil {
		r.b.Fatal(err)
	}
	var out []string
	for name := range all {
		if strings.HasPrefix(name, r.s.prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
