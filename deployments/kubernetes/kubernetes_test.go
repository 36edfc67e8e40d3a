package kubernetes_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"gopkg.in/yaml.v3"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// kubernetesVersion is the Kubernetes release the rendered chart is
// validated against (kubernetes-validate bundles its schemas).
const kubernetesVersion = "1.33.0"

// tool is a checker make tools installs into bin/.
func tool(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../bin", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (make tools installs it into bin/): %v", rel, err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// catalogHelp is `catalog --help` of the code in this repository: its
// subcommands and every setting.
func catalogHelp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "catalog")
	run(t, "go", "build", "-o", bin, "../../cmd/catalog")
	return run(t, bin, "--help")
}

// The chart lints, renders with its defaults and with the other common
// choices, and every rendered object is valid against the Kubernetes
// API's schemas (strict: an unknown field fails). Every role runs a real
// subcommand, every CATALOG_* variable is a real setting, every container
// has probes and resource limits.
func TestHelmChart(t *testing.T) {
	helm := tool(t, "helm")
	validate := tool(t, ".venv/bin/kubernetes-validate")
	help := catalogHelp(t)
	run(t, helm, "lint", "--strict", "catalog")

	variants := map[string][]string{
		"defaults": nil,
		"managed topics, plaintext Kafka, no Redis, CDN purger": {"--set", "kafka.topics=manage,kafka.tls.enabled=false,kafka.sasl.mechanism=,redis.urlSecret.name=,roles.cdn-purge.enabled=true,admin.tokenSecret.name=catalog-admin"},
		"no autoscaling, no migration Job":                      {"--set", "roles.api.autoscaling.enabled=false,roles.gateway.autoscaling.enabled=false,migrate.enabled=false"},
		"tracing to a collector":                                {"--set", "tracing.otlpEndpoint=http://otel-collector.observability:4318,tracing.sampleRatio=0.1"},
	}
	otel := regexp.MustCompile(`name: (OTEL_[A-Z_]+)`)
	setting := regexp.MustCompile(`name: (CATALOG_[A-Z0-9_]+)`)
	command := regexp.MustCompile(`args: \["?([a-z-]+)"?\]`)
	for name, args := range variants {
		out := run(t, helm, append([]string{"template", "catalog", "catalog", "--namespace", "music"}, args...)...)
		f := filepath.Join(t.TempDir(), "rendered.yaml")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, validate, "--strict", "--quiet", "-k", kubernetesVersion, f)
		for _, m := range setting.FindAllStringSubmatch(out, -1) {
			// A setting, or the file variant of a secret one.
			if !strings.Contains(help, "  "+m[1]+" (default") && !strings.Contains(help, "; or "+m[1]+": a file holding it") {
				t.Errorf("%s: the chart sets %s, which catalog --help does not list", name, m[1])
			}
		}
		for _, m := range otel.FindAllStringSubmatch(out, -1) {
			if !regexp.MustCompile(`\b` + m[1] + `\b`).MatchString(help) {
				t.Errorf("%s: the chart sets %s, which catalog --help does not name", name, m[1])
			}
		}
		if strings.Contains(name, "tracing") != strings.Contains(out, "OTEL_EXPORTER_OTLP_ENDPOINT") {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT set: %v", name, strings.Contains(out, "OTEL_EXPORTER_OTLP_ENDPOINT"))
		}
		commands := command.FindAllStringSubmatch(out, -1)
		if len(commands) == 0 {
			t.Errorf("%s: no container runs catalog", name)
		}
		for _, m := range commands {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(m[1]) + `\s`).MatchString(help) {
				t.Errorf("%s: a container runs catalog %s, which is not a subcommand", name, m[1])
			}
		}
		deployments := strings.Count(out, "\nkind: Deployment")
		for _, want := range []string{"livenessProbe:", "readinessProbe:", "startupProbe:"} {
			if n := strings.Count(out, want); n != deployments {
				t.Errorf("%s: %d Deployments but %d %s", name, deployments, n, want)
			}
		}
		// Every role's Go runtime keeps under its container's memory limit.
		if n := strings.Count(out, "name: GOMEMLIMIT"); n != deployments {
			t.Errorf("%s: %d Deployments but %d set GOMEMLIMIT", name, deployments, n)
		}
		if n := strings.Count(out, "limits:"); n < deployments {
			t.Errorf("%s: %d Deployments but %d resource limits", name, deployments, n)
		}
	}
}

// The image's build file passes hadolint.
func TestDockerfile(t *testing.T) {
	run(t, tool(t, ".venv/bin/hadolint"), "../container/Dockerfile")
}

// The Strimzi example's KafkaTopics are topics catalog accepts in verify
// mode: each is created on the real broker with the example's settings
// (one replica, the local broker being one) and events.Admin.VerifyTopics
// passes them; their names are catalog's default topics.
func TestStrimziTopicsPassVerification(t *testing.T) {
	b, err := os.ReadFile("examples/strimzi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	sa, err := sarama.NewClusterAdmin(kc.Brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	var specs []events.TopicSpec
	names := map[string]bool{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				TopicName  string         `yaml:"topicName"`
				Partitions int32          `yaml:"partitions"`
				Config     map[string]any `yaml:"config"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind != "KafkaTopic" {
			continue
		}
		names[doc.Spec.TopicName] = true
		cfg := map[string]*string{}
		for k, v := range doc.Spec.Config {
			if k == "min.insync.replicas" {
				continue // one broker here
			}
			s := fmt.Sprint(v)
			cfg[k] = &s
		}
		name := prefix + strings.TrimPrefix(doc.Spec.TopicName, "catalog.")
		if err := sa.CreateTopic(name, &sarama.TopicDetail{NumPartitions: doc.Spec.Partitions, ReplicationFactor: 1, ConfigEntries: cfg}, false); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, events.TopicSpec{Name: name, Partitions: doc.Spec.Partitions, ReplicationFactor: 1})
	}
	if !names["catalog.releases"] || !names["catalog.cdn-purge.poison"] {
		t.Fatalf("the example's KafkaTopics are %v, want catalog's topics catalog.releases and catalog.cdn-purge.poison", names)
	}
	admin, err := events.NewAdmin(context.Background(), kc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.VerifyTopics(context.Background(), specs, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("catalog would refuse the example's topics: %v", err)
	}
}
