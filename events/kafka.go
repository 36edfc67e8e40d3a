package events

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// KafkaConfig locates the Kafka cluster.
type KafkaConfig struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// ClientID names this process to the brokers (shows in their logs and quotas).
	ClientID string
	// TLS, when set, encrypts every connection (the listener's CA, and a
	// client certificate where the cluster asks for one); nil is plaintext.
	TLS *tls.Config
	// SASL authenticates every connection (none when its Mechanism is
	// empty).
	SASL SASL
}

// Validate reports missing settings.
func (c KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: no brokers configured")
	}
	return c.SASL.validate()
}

// SaramaConfig returns the base client settings shared by every role,
// with c's TLS and SASL (Secure). The protocol version is pinned so sarama
// never falls back to pre-2.1 requests, which Kafka 4 no longer accepts.
func (c KafkaConfig) SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = c.ClientID
	if cfg.ClientID == "" {
		cfg.ClientID = "catalog"
	}
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Net.DialTimeout = 5 * time.Second
	// A fetch starts small (1 MiB a partition) and grows up to the largest
	// batch a topic may hold, so the biggest event is always readable.
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.Fetch.Max = FetchMaxBytes
	c.Secure(cfg)
	return cfg
}

// The size bounds of the event log, from the innermost out (docs/events.md).
// Each layer leaves headroom over the one inside it, so an event ingest
// accepts is always accepted by the producer, the topic and every reader.
const (
	// MaxEventBytes bounds one event as a Kafka record: key, value and
	// headers, uncompressed, measured as the producer measures it
	// (RecordSize). Ingest rejects a delivery any of whose events is larger.
	MaxEventBytes = 6 << 20
	// ProducerMaxMessageBytes is the producer's Producer.MaxMessageBytes: the
	// largest record it sends, and the largest uncompressed batch it builds
	// for one partition. A record above it fails before it is sent.
	ProducerMaxMessageBytes = 7 << 20
	// TopicMaxMessageBytes is the max.message.bytes of every catalog topic:
	// the largest (compressed) record batch the broker appends. It is above
	// the producer's limit, so the broker never refuses a batch the producer
	// built.
	TopicMaxMessageBytes = 8 << 20
	// FetchMaxBytes is the most a consumer asks for from one partition in
	// one fetch (Consumer.Fetch.Max); it is at least the largest batch.
	FetchMaxBytes = 16 << 20
)

// TopicSpec is a topic catalog owns.
type TopicSpec struct {
	Name       string
	Partitions int32
	// ReplicationFactor is the number of replicas of each partition, or
	// ReplicationAuto.
	ReplicationFactor int16
}

// ReplicationAuto as a TopicSpec's ReplicationFactor gives a new topic one
// replica per broker the cluster has, up to three (MaxAutoReplication).
const ReplicationAuto int16 = 0

// MaxAutoReplication is the most replicas ReplicationAuto gives a topic:
// three survive the loss of one broker while two stay in sync
// (SafeMinInSyncReplicas), so acks=all writes go on.
const MaxAutoReplication = 3

// SafeMinInSyncReplicas is the min.insync.replicas of a catalog topic with
// three or more replicas: an acknowledged write (acks=all) is then on at
// least two brokers, so the death of any one of them loses nothing. Topics
// with fewer replicas keep the broker's default (1): with two, requiring
// both would stop every write when either broker dies.
const SafeMinInSyncReplicas = 2

// ReplicationError reports a topic that cannot be created with the
// replication factor asked for: the cluster has fewer brokers that are up.
type ReplicationError struct {
	Topic             string
	ReplicationFactor int16
	Brokers           int
}

func (e *ReplicationError) Error() string {
	return fmt.Sprintf("topic %s: replication factor %d is above the %d broker(s) the cluster has up", e.Topic, e.ReplicationFactor, e.Brokers)
}

// replication returns the replication factor a new topic of spec gets on a
// cluster of brokers live brokers, and the min.insync.replicas to set on it
// ("" to keep the broker's default).
func replication(spec TopicSpec, brokers int) (int16, string, error) {
	rf := spec.ReplicationFactor
	if rf == ReplicationAuto {
		rf = int16(max(1, min(MaxAutoReplication, brokers)))
	}
	if rf < 0 {
		return 0, "", fmt.Errorf("topic %s: replication factor %d: want %d (auto) or more", spec.Name, rf, ReplicationAuto)
	}
	if int(rf) > brokers {
		return 0, "", &ReplicationError{Topic: spec.Name, ReplicationFactor: rf, Brokers: brokers}
	}
	if rf >= MaxAutoReplication {
		return rf, strconv.Itoa(SafeMinInSyncReplicas), nil
	}
	return rf, "", nil
}

// topicConfig is applied to every catalog topic: the event log is kept
// forever (never deleted by time or size, never compacted), because read
// models are rebuilt from offset zero and analysts read history from the start.
func topicConfig() map[string]*string {
	minus1, del := "-1", "delete"
	return map[string]*string{
		"retention.ms":    &minus1,
		"retention.bytes": &minus1,
		"cleanup.policy":  &del,
	}
}

// newTopicConfig is topicConfig plus the largest record batch the topic
// accepts (TopicMaxMessageBytes), for a topic catalog creates.
func newTopicConfig() map[string]*string {
	c := topicConfig()
	m := strconv.Itoa(TopicMaxMessageBytes)
	c["max.message.bytes"] = &m
	return c
}

// Admin is one connection to the Kafka cluster for administrative calls:
// topics, end offsets and consumer groups. It holds one sarama client and one
// ClusterAdmin over it, shared by every call; its owner closes it. Every
// method takes a context first and returns once it ends, including between
// the retries of a call the broker asked to repeat (a leader moving, a new
// topic's partitions still electing leaders). Safe for concurrent use.
type Admin struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

// NewAdmin connects an Admin to the cluster kc names.
func NewAdmin(ctx context.Context, kc KafkaConfig) (*Admin, error) {
	if err := kc.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect kafka admin: %w", err)
	}
	client, err := sarama.NewClient(kc.Brokers, kc.SaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("connect kafka admin: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connect kafka admin: %w", err)
	}
	return &Admin{client: client, admin: admin}, nil
}

// Close closes the Admin's connections (the ClusterAdmin closes the client
// it was made from).
func (a *Admin) Close() error {
	if err := a.admin.Close(); err != nil {
		return fmt.Errorf("close kafka admin: %w", err)
	}
	return nil
}

// The backoff of an Admin call the broker asked to repeat: the first pause
// is adminBackoffMin, each next one twice as long up to adminBackoffMax.
const (
	adminBackoffMin = 50 * time.Millisecond
	adminBackoffMax = time.Second
	// leaderWait bounds how long EnsureTopics waits for a new topic's
	// partitions to have leaders.
	leaderWait = 30 * time.Second
	// offsetRetryWait bounds how long HighWatermarks asks again while a
	// partition's leader is moving.
	offsetRetryWait = 10 * time.Second
)

// retry calls try until it reports done, pausing with a doubling backoff in
// between, and gives up when ctx ends (returning its error joined with the
// last attempt's) or after limit (returning the last attempt's error).
func retry(ctx context.Context, limit time.Duration, try func() (done bool, err error)) error {
	deadline := time.Now().Add(limit)
	pause := adminBackoffMin
	for {
		done, err := try()
		if done {
			return err
		}
		if time.Now().Add(pause).After(deadline) {
			if err == nil {
				err = fmt.Errorf("still not ready after %s", limit)
			}
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, adminBackoffMax)
	}
}

// EnsureTopics creates the topics that do not exist, with infinite retention,
// and brings the retention settings of existing ones back to infinite.
//
// A new topic gets its spec's replication factor, or with ReplicationAuto
// one replica per broker up to three; one with three replicas or more gets
// min.insync.replicas SafeMinInSyncReplicas, so acks=all means two copies.
// A replication factor above the brokers that are up is a
// *ReplicationError. An existing topic with three replicas or more whose
// min.insync.replicas is lower is raised to it.
//
// It never adds partitions or replicas to an existing topic: more
// partitions would move keys to other partitions and break per-release
// ordering, and more replicas are a reassignment an operator runs
// (kafka-reassign-partitions); a mismatch is logged instead. So a broker
// that is down when catalog starts changes nothing for existing topics.
func (a *Admin) EnsureTopics(ctx context.Context, specs []TopicSpec, log *slog.Logger) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	existing, err := a.admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	brokers, _, err := a.admin.DescribeCluster()
	if err != nil {
		return fmt.Errorf("describe kafka cluster: %w", err)
	}
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ensure topic %s: %w", s.Name, err)
		}
		d, ok := existing[s.Name]
		if !ok {
			rf, minISR, err := replication(s, len(brokers))
			if err != nil {
				return err
			}
			cfg := newTopicConfig()
			if minISR != "" {
				cfg["min.insync.replicas"] = &minISR
			}
			err = a.admin.CreateTopic(s.Name, &sarama.TopicDetail{
				NumPartitions: s.Partitions, ReplicationFactor: rf, ConfigEntries: cfg,
			}, false)
			if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", s.Name, err)
			}
			if err := a.waitForLeaders(ctx, s.Name); err != nil {
				return err
			}
			log.Info("kafka topic created", "topic", s.Name, "partitions", s.Partitions, "replication", rf,
				"min.insync.replicas", cmp.Or(minISR, "broker default"))
			continue
		}
		if d.NumPartitions != s.Partitions {
			log.Warn("kafka topic has a different partition count than configured; keeping it",
				"topic", s.Name, "partitions", d.NumPartitions, "configured", s.Partitions)
		}
		if s.ReplicationFactor != ReplicationAuto && d.ReplicationFactor != s.ReplicationFactor {
			log.Warn("kafka topic has a different replication factor than configured; keeping it (kafka-reassign-partitions changes it)",
				"topic", s.Name, "replication", d.ReplicationFactor, "configured", s.ReplicationFactor)
		}
		if err := a.ensureRetention(ctx, s.Name, log); err != nil {
			return err
		}
		if err := a.ensureMaxMessageBytes(ctx, s.Name, log); err != nil {
			return err
		}
		if d.ReplicationFactor >= MaxAutoReplication {
			if err := a.ensureMinInSyncReplicas(ctx, s.Name, log); err != nil {
				return err
			}
		}
	}
	return nil
}

// TopicProblemError reports topics whose settings would lose or refuse
// events: VerifyTopics found them, and catalog does not change topics it
// does not own.
type TopicProblemError struct {
	// Problems names each topic and setting, its value and what it must be.
	Problems []string
}

func (e *TopicProblemError) Error() string {
	return "kafka topics owned by the operator would lose or refuse events: " + strings.Join(e.Problems, "; ")
}

// VerifyTopics checks topics an operator owns (a Strimzi KafkaTopic, a
// managed service's console) instead of creating or altering them: it
// waits until each exists with leaders (AwaitTopics), then reads its
// settings and changes nothing. A topic that does not keep events forever
// (retention.ms or retention.bytes other than -1, a cleanup.policy other
// than delete) or that refuses records catalog produces (max.message.bytes
// below TopicMaxMessageBytes) is a *TopicProblemError naming every such
// setting. A partition count other than the spec's, or fewer than
// SafeMinInSyncReplicas in-sync replicas on a topic of three replicas, is
// logged as a warning: those are the operator's choice.
func (a *Admin) VerifyTopics(ctx context.Context, specs []TopicSpec, log *slog.Logger) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	if err := a.AwaitTopics(ctx, names, log); err != nil {
		return err
	}
	var problems []string
	for _, s := range specs {
		partitions, cfg, err := a.TopicSettings(ctx, s.Name)
		if err != nil {
			return err
		}
		want := topicConfig()
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if cfg[k] != *want[k] {
				problems = append(problems, fmt.Sprintf("topic %s has %s=%s, want %s (events are kept forever: read models are rebuilt from offset zero)", s.Name, k, cfg[k], *want[k]))
			}
		}
		if n, err := strconv.Atoi(cfg["max.message.bytes"]); err != nil || n < TopicMaxMessageBytes {
			problems = append(problems, fmt.Sprintf("topic %s has max.message.bytes=%s, want at least %d (the largest record batch catalog produces)", s.Name, cfg["max.message.bytes"], TopicMaxMessageBytes))
		}
		if int32(partitions) != s.Partitions {
			log.Warn("kafka topic has a different partition count than configured; keeping it", "topic", s.Name, "partitions", partitions, "configured", s.Partitions)
		}
		if n, err := strconv.Atoi(cfg["min.insync.replicas"]); err == nil && n < SafeMinInSyncReplicas && a.replicas(s.Name) >= MaxAutoReplication {
			log.Warn("kafka topic with three replicas acknowledges writes on fewer than two", "topic", s.Name, "min.insync.replicas", n)
		}
	}
	if len(problems) > 0 {
		return &TopicProblemError{Problems: problems}
	}
	return nil
}

// replicas is the replication factor of topic's first partition (0 when it
// cannot be read).
func (a *Admin) replicas(topic string) int {
	md, err := a.admin.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) == 0 {
		return 0
	}
	return len(md[0].Partitions[0].Replicas)
}

// Ping asks the cluster for its brokers (one metadata round trip) and
// reports whether it answered before ctx ended: the readiness check of
// the roles that need Kafka.
func (a *Admin) Ping(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		brokers, _, err := a.admin.DescribeCluster()
		if err == nil && len(brokers) == 0 {
			err = errors.New("the cluster names no broker")
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("kafka: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: %w", ctx.Err())
	}
}

// waitForLeaders returns once every partition of a new topic has a leader,
// so the first produce or offset request does not fail; it gives up after
// leaderWait or when ctx ends.
func (a *Admin) waitForLeaders(ctx context.Context, topic string) error {
	err := retry(ctx, leaderWait, func() (bool, error) {
		md, err := a.admin.DescribeTopics([]string{topic})
		if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) == 0 {
			return false, nil
		}
		for _, p := range md[0].Partitions {
			if p.Err != sarama.ErrNoError || p.Leader < 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("topic %s has no leader for every partition: %w", topic, err)
	}
	// The client's cached metadata predates the topic: refresh it so the
	// next call through this Admin sees the new partitions' leaders.
	_ = a.client.RefreshMetadata(topic)
	return nil
}

func (a *Admin) ensureRetention(ctx context.Context, topic string, log *slog.Logger) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	entries, err := a.admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	current := map[string]string{}
	for _, e := range entries {
		current[e.Name] = e.Value
	}
	fix := map[string]sarama.IncrementalAlterConfigsEntry{}
	for k, v := range topicConfig() {
		if current[k] != *v {
			fix[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: v}
		}
	}
	if len(fix) == 0 {
		return nil
	}
	log.Warn("kafka topic did not keep events forever; fixing its settings", "topic", topic, "settings", current)
	if err := a.admin.IncrementalAlterConfig(sarama.TopicResource, topic, fix, false); err != nil {
		return fmt.Errorf("alter topic %s: %w", topic, err)
	}
	return nil
}

// ensureMaxMessageBytes raises an existing topic's max.message.bytes to
// TopicMaxMessageBytes when it is smaller (a topic created before the bound,
// or by hand, inherits the broker's 1 MiB default).
func (a *Admin) ensureMaxMessageBytes(ctx context.Context, topic string, log *slog.Logger) error {
	return a.ensureAtLeast(ctx, topic, "max.message.bytes", TopicMaxMessageBytes, log,
		"kafka topic accepts smaller records than catalog produces; raising its max.message.bytes")
}

// ensureMinInSyncReplicas raises an existing topic's min.insync.replicas
// to SafeMinInSyncReplicas when it is lower (a topic created while the
// cluster had one broker, or by hand).
func (a *Admin) ensureMinInSyncReplicas(ctx context.Context, topic string, log *slog.Logger) error {
	return a.ensureAtLeast(ctx, topic, "min.insync.replicas", SafeMinInSyncReplicas, log,
		"kafka topic with three replicas acknowledges writes on fewer than two; raising its min.insync.replicas")
}

// ensureAtLeast raises the numeric topic setting key to want when the
// topic's value is lower (or unreadable), logging why; a larger value is
// kept: an operator may have raised it on purpose.
func (a *Admin) ensureAtLeast(ctx context.Context, topic, key string, want int, log *slog.Logger, why string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	entries, err := a.admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{key}})
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	for _, e := range entries {
		if e.Name != key {
			continue
		}
		if n, err := strconv.Atoi(e.Value); err == nil && n >= want {
			return nil
		}
		log.Warn(why, "topic", topic, key, e.Value, "to", want)
	}
	v := strconv.Itoa(want)
	fix := map[string]sarama.IncrementalAlterConfigsEntry{
		key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v},
	}
	if err := a.admin.IncrementalAlterConfig(sarama.TopicResource, topic, fix, false); err != nil {
		return fmt.Errorf("alter topic %s %s: %w", topic, key, err)
	}
	return nil
}

// TopicSettings reads a topic's partition count and configuration back from
// the broker (used by ops tooling and tests).
func (a *Admin) TopicSettings(ctx context.Context, topic string) (partitions int, config map[string]string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	md, err := a.admin.DescribeTopics([]string{topic})
	if err != nil {
		return 0, nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if len(md) != 1 {
		return 0, nil, fmt.Errorf("describe topic %s: the broker described %d topics", topic, len(md))
	}
	if md[0].Err != sarama.ErrNoError {
		return 0, nil, fmt.Errorf("describe topic %s: %w", topic, md[0].Err)
	}
	entries, err := a.admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return 0, nil, fmt.Errorf("describe topic %s config: %w", topic, err)
	}
	config = map[string]string{}
	for _, e := range entries {
		config[e.Name] = e.Value
	}
	return len(md[0].Partitions), config, nil
}

// HighWatermarks returns the next offset to be written in each partition of
// topic (the end of the log), for lag and progress. While a partition's
// leader is moving it refreshes the metadata and asks again, with backoff,
// for up to offsetRetryWait or until ctx ends.
func (a *Admin) HighWatermarks(ctx context.Context, topic string) (map[int32]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	parts, err := a.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		var off int64
		// Just after a topic is created or a leader moves, the client's
		// metadata can name a broker that no longer leads the partition:
		// refresh it and ask again.
		err := retry(ctx, offsetRetryWait, func() (bool, error) {
			var err error
			off, err = a.client.GetOffset(topic, p, sarama.OffsetNewest)
			if errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) {
				_ = a.client.RefreshMetadata(topic)
				return false, err
			}
			return true, err
		})
		if err != nil {
			return nil, fmt.Errorf("end offset of %s: %w", partitionName(topic, p), err)
		}
		out[p] = off
	}
	return out, nil
}

func partitionName(topic string, p int32) string { return topic + "/" + strconv.Itoa(int(p)) }

// GroupMembers returns how many members consumer group has now.
func (a *Admin) GroupMembers(ctx context.Context, group string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	gs, err := a.admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(gs) == 0 {
		return 0, nil
	}
	return len(gs[0].Members), nil
}

// DeleteGroup deletes a consumer group and its committed offsets (it must
// have no members); a group that does not exist is not an error.
func (a *Admin) DeleteGroup(ctx context.Context, group string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete group %s: %w", group, err)
	}
	err := a.admin.DeleteConsumerGroup(group)
	if err != nil && !errors.Is(err, sarama.ErrGroupIDNotFound) {
		return fmt.Errorf("delete group %s: %w", group, err)
	}
	return nil
}

// awaitLogEvery is how often AwaitTopics repeats that it is still waiting.
const awaitLogEvery = 30 * time.Second

// AwaitTopics returns once every topic named exists and each of its
// partitions has a leader, or when ctx ends. It creates and alters nothing:
// it is for a cluster whose topics someone else owns, such as a region's
// cluster, where MirrorMaker creates the mirrored topics. It logs that it is
// waiting, and again every 30 s while it still is.
func (a *Admin) AwaitTopics(ctx context.Context, topics []string, log *slog.Logger) error {
	start := time.Now()
	for _, topic := range topics {
		logged := time.Time{}
		pause := adminBackoffMin
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("wait for topic %s: %w", topic, err)
			}
			_ = a.client.RefreshMetadata(topic)
			md, err := a.admin.DescribeTopics([]string{topic})
			if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && len(md[0].Partitions) > 0 && leadersElected(md[0]) {
				if !logged.IsZero() {
					log.Info("kafka topic is there", "topic", topic, "partitions", len(md[0].Partitions), "waited", time.Since(start).Round(time.Millisecond))
				}
				break
			}
			if time.Since(logged) >= awaitLogEvery {
				log.Info("waiting for kafka topic to be created by its owner (in a region: MirrorMaker); creating nothing", "topic", topic, "waiting_for", time.Since(start).Round(time.Second))
				logged = time.Now()
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("wait for topic %s: %w", topic, ctx.Err())
			case <-t.C:
			}
			pause = min(2*pause, adminBackoffMax)
		}
	}
	return nil
}

func leadersElected(md *sarama.TopicMetadata) bool {
	for _, p := range md.Partitions {
		if p.Err != sarama.ErrNoError || p.Leader < 0 {
			return false
		}
	}
	return true
}

// NewClient connects a sarama client with the settings every catalog role
// uses (protocol version, no topic auto-creation, fetch sizes that fit the
// largest event), for read-only tooling outside this package such as the
// regions' replication status. The caller closes it.
func (c KafkaConfig) NewClient() (sarama.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(c.Brokers, c.SaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("connect kafka %v: %w", c.Brokers, err)
	}
	return client, nil
}
