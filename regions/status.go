package regions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
)

// Config says where the central log is and how catalog names its topics
// and groups.
type Config struct {
	// Central is the central cluster (the log of record).
	Central events.KafkaConfig
	// SourceAlias is the central cluster's alias in mm2.properties
	// ("central"): MirrorMaker names its offsets topic after it.
	SourceAlias string
	// TopicPrefix selects the mirrored topics (CATALOG_TOPIC_PREFIX); topics
	// ending in .poison are per-cluster and never mirrored.
	TopicPrefix string
	// GroupPrefix selects the projectors' consumer groups
	// (CATALOG_GROUP_PREFIX): GroupPrefix + "projector." + name + ".g" + generation.
	GroupPrefix string
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if err := c.Central.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("central: %w", err))
	}
	if c.SourceAlias == "" {
		errs = append(errs, errors.New("regions: the central cluster's MirrorMaker alias is required"))
	}
	if c.TopicPrefix == "" {
		errs = append(errs, errors.New("regions: a topic prefix is required"))
	}
	return errors.Join(errs...)
}

// Region is one read-only region: its name and its Kafka cluster.
type Region struct {
	Name  string
	Kafka events.KafkaConfig
}

// Status is one region's replication state at one moment.
type Status struct {
	Region string `json:"region"`
	// Error is why the region could not be read (its cluster down, ...);
	// the other fields are empty then.
	Error string `json:"error,omitempty"`
	// MirrorLag is the sum of Mirror[].Lag: events in central not yet copied.
	MirrorLag  int64             `json:"mirrorLag"`
	Mirror     []MirrorPartition `json:"mirror"`
	Projectors []GroupPartition  `json:"projectors"`
}

// MirrorPartition is MirrorMaker's progress on one partition.
type MirrorPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CentralEnd is the next offset to be written in central.
	CentralEnd int64 `json:"centralEnd"`
	// Copied is the next central offset MirrorMaker will copy, from the
	// source offsets it has committed (every offset.flush.interval.ms, so
	// up to that much behind what it has actually copied); -1 when it has
	// committed none for the partition.
	Copied int64 `json:"copied"`
	// Lag is CentralEnd - Copied (CentralEnd when nothing was committed).
	Lag int64 `json:"lag"`
	// MirrorEnd is the next offset to be written in the region's copy.
	// Offsets are not preserved across clusters: it differs from
	// CentralEnd when a record was copied twice after a crash.
	MirrorEnd int64 `json:"mirrorEnd"`
	// NewestAt is when the newest record in the region's copy was first
	// written in central (MirrorMaker keeps record timestamps); zero when
	// the copy is empty.
	NewestAt time.Time `json:"newestAt,omitzero"`
	// NewestAgeSeconds is the age of that record now.
	NewestAgeSeconds float64 `json:"newestAgeSeconds,omitempty"`
}

// GroupPartition is one regional projector consumer group's position in
// one partition of the region's copy.
type GroupPartition struct {
	Group      string `json:"group"`
	Projection string `json:"projection"`
	Generation int    `json:"generation"`
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	// Committed is the group's committed offset (-1: none yet).
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
}

// Check reads the state of every region, in the order given. A region that
// cannot be read gets a Status with Error set; Check itself fails only when
// the central cluster cannot be read or ctx ends.
func Check(ctx context.Context, cfg Config, regions []Region, now time.Time) ([]Status, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	central, err := cfg.Central.NewClient()
	if err != nil {
		return nil, fmt.Errorf("central: %w", err)
	}
	defer central.Close()
	out := make([]Status, 0, len(regions))
	for _, r := range regions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := check(ctx, cfg, central, r, now)
		if err != nil {
			st = Status{Region: r.Name, Error: err.Error()}
		}
		out = append(out, st)
	}
	return out, nil
}

func check(ctx context.Context, cfg Config, central sarama.Client, r Region, now time.Time) (Status, error) {
	st := Status{Region: r.Name, Mirror: []MirrorPartition{}, Projectors: []GroupPartition{}}
	client, err := r.Kafka.NewClient()
	if err != nil {
		return st, err
	}
	defer client.Close()
	topics, err := client.Topics()
	if err != nil {
		return st, fmt.Errorf("list topics of region %s: %w", r.Name, err)
	}
	copied, err := committedSourceOffsets(ctx, client, "mm2-offsets."+cfg.SourceAlias+".internal", cfg.SourceAlias)
	if err != nil {
		return st, err
	}
	ends := map[string]map[int32]int64{}
	for _, t := range topics {
		if !strings.HasPrefix(t, cfg.TopicPrefix) || strings.HasSuffix(t, ".poison") {
			continue
		}
		mirrorEnd, err := endOffsets(client, t)
		if err != nil {
			return st, fmt.Errorf("region %s: %w", r.Name, err)
		}
		ends[t] = mirrorEnd
		centralEnd, err := endOffsets(central, t)
		if err != nil {
			return st, fmt.Errorf("central: %w", err)
		}
		for _, p := range sortedPartitions(centralEnd) {
			mp := MirrorPartition{Topic: t, Partition: p, CentralEnd: centralEnd[p], Copied: -1, MirrorEnd: mirrorEnd[p]}
			next := int64(0)
			if c, ok := copied[tp{t, p}]; ok {
				mp.Copied, next = c, c
			}
			mp.Lag = max(mp.CentralEnd-next, 0)
			if mp.MirrorEnd > 0 {
				at, err := timestampAt(client, t, p, mp.MirrorEnd-1)
				if err != nil {
					return st, fmt.Errorf("region %s: %w", r.Name, err)
				}
				mp.NewestAt = at
				mp.NewestAgeSeconds = now.Sub(at).Seconds()
			}
			st.MirrorLag += mp.Lag
			st.Mirror = append(st.Mirror, mp)
		}
	}
	st.Projectors, err = projectorLag(client, cfg.GroupPrefix+"projector.", ends)
	if err != nil {
		return st, fmt.Errorf("region %s: %w", r.Name, err)
	}
	return st, nil
}

type tp struct {
	topic     string
	partition int32
}

// sourceKey is the key of a MirrorSourceConnector offset in Kafka Connect's
// offsets topic: ["MirrorSourceConnector",{"cluster":...,"topic":...,"partition":...}].
type sourceKey struct {
	Cluster   string `json:"cluster"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// committedSourceOffsets reads MirrorMaker's committed source offsets from
// Kafka Connect's offsets topic on the region's cluster, a compacted topic
// of JSON keys and values where the last value of a key wins: for each
// central partition, the next offset to copy (the committed offset of the
// last record copied, plus one). MirrorMaker's own client library
// (connect-mirror-client) is Java only, and its RemoteClusterUtils
// translates consumer-group offsets rather than reporting the source
// connector's progress, so the topic is read here directly; its format is
// Kafka Connect's JsonConverter without schemas, which MirrorMaker's
// dedicated mode uses for its internal topics.
func committedSourceOffsets(ctx context.Context, client sarama.Client, topic, alias string) (map[tp]int64, error) {
	out := map[tp]int64{}
	parts, err := client.Partitions(topic)
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return out, nil // MirrorMaker has not run against this cluster yet
	}
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
		err = func() error {
			defer pc.AsyncClose()
			timeout := time.NewTimer(30 * time.Second)
			defer timeout.Stop()
			for {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timeout.C:
					return fmt.Errorf("read %s/%d: not at its end (%d) within 30 s", topic, p, end)
				case err := <-pc.Errors():
					return fmt.Errorf("read %s/%d: %w", topic, p, err)
				case m := <-pc.Messages():
					apply(out, m, alias)
					if m.Offset+1 >= end {
						return nil
					}
				}
			}
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apply folds one record of Connect's offsets topic into out.
func apply(out map[tp]int64, m *sarama.ConsumerMessage, alias string) {
	var key []json.RawMessage
	if json.Unmarshal(m.Key, &key) != nil || len(key) != 2 {
		return
	}
	var connector string
	var k sourceKey
	if json.Unmarshal(key[0], &connector) != nil || connector != "MirrorSourceConnector" || json.Unmarshal(key[1], &k) != nil || k.Cluster != alias {
		return
	}
	if m.Value == nil { // a tombstone: the connector's offsets were reset
		delete(out, tp{k.Topic, k.Partition})
		return
	}
	var v struct {
		Offset *int64 `json:"offset"`
	}
	if json.Unmarshal(m.Value, &v) != nil || v.Offset == nil {
		return
	}
	out[tp{k.Topic, k.Partition}] = *v.Offset + 1
}

func endOffsets(client sarama.Client, topic string) (map[int32]int64, error) {
	if err := client.RefreshMetadata(topic); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		out[p] = off
	}
	return out, nil
}

// timestampAt returns the timestamp of the record at offset.
func timestampAt(client sarama.Client, topic string, p int32, offset int64) (time.Time, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return time.Time{}, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, p, offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s/%d@%d: %w", topic, p, offset, err)
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		return m.Timestamp, nil
	case err := <-pc.Errors():
		return time.Time{}, fmt.Errorf("read %s/%d@%d: %w", topic, p, offset, err)
	case <-time.After(10 * time.Second):
		return time.Time{}, fmt.Errorf("read %s/%d@%d: no record within 10 s", topic, p, offset)
	}
}

// projectorLag reports every consumer group named prefix + NAME + ".g" + N
// against the end offsets of the topics in ends.
func projectorLag(client sarama.Client, prefix string, ends map[string]map[int32]int64) ([]GroupPartition, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("cluster admin: %w", err)
	}
	// Not admin.Close: it would close the client, which the caller owns.
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		if strings.HasPrefix(g, prefix) {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	out := []GroupPartition{}
	for _, g := range names {
		projection, gen := parseGroup(strings.TrimPrefix(g, prefix))
		resp, err := admin.ListConsumerGroupOffsets(g, nil)
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", g, err)
		}
		for _, topic := range sortedTopics(ends) {
			for _, p := range sortedPartitions(ends[topic]) {
				gp := GroupPartition{Group: g, Projection: projection, Generation: gen, Topic: topic, Partition: p, Committed: -1, End: ends[topic][p]}
				next := int64(0)
				if b := resp.GetBlock(topic, p); b != nil && b.Offset >= 0 {
					gp.Committed, next = b.Offset, b.Offset
				} else if len(resp.Blocks[topic]) == 0 {
					continue // the group does not read this topic
				}
				gp.Lag = max(gp.End-next, 0)
				out = append(out, gp)
			}
		}
	}
	return out, nil
}

// parseGroup splits NAME.gN; a group of another form keeps its whole name.
func parseGroup(s string) (string, int) {
	i := strings.LastIndex(s, ".g")
	if i < 0 {
		return s, 0
	}
	n, err := strconv.Atoi(s[i+2:])
	if err != nil {
		return s, 0
	}
	return s[:i], n
}

func sortedPartitions(m map[int32]int64) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedTopics(m map[string]map[int32]int64) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
