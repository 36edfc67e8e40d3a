package cdnpurge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/events"
)

// ReadModel tells whether the read model the API serves has committed a
// change (projectionpg.Store implements it).
type ReadModel interface {
	// Committed reports whether the live track-details generation's stored
	// checkpoint for partition of topic has passed offset and no cache
	// invalidation of release is still waiting.
	Committed(ctx context.Context, topic string, partition int32, offset, release int64) (bool, error)
}

// Purge sends surrogate-key purges (*Endpoint implements it).
type Purge interface {
	Purge(ctx context.Context, keys []string) error
}

// Metadata the purger adds to a message before it may be poisoned, so the
// poison topic says what was owed and where it came from.
const (
	// KeysMetadata holds the surrogate keys, space-separated.
	KeysMetadata = "cdn_purge_keys"
	// SourceMetadata holds the event's topic/partition@offset.
	SourceMetadata = "cdn_purge_source"
)

// Config configures a Purger.
type Config struct {
	// Kafka locates the cluster (brokers, TLS, SASL).
	Kafka events.KafkaConfig
	// Topic is the releases topic.
	Topic string
	// Group is the consumer group: a stable API, renaming it starts over.
	Group string
	// PoisonTopic receives the events whose purge failed past the retry
	// bound. catalog creates it like its other topics (kept forever).
	PoisonTopic string
	// FromOldest makes a group with no committed offset start at the
	// oldest event instead of the end of the log (the default: nothing a
	// CDN could have cached predates the first purger).
	FromOldest bool
	// CommitPoll is how often the purger asks whether a change is
	// committed while it waits (default 10 ms).
	CommitPoll time.Duration
	// MaxRetries bounds the retries of a failed purge (default 10) and
	// MaxElapsed the time spent retrying it (default 2 min); the first
	// bound reached sends the event to PoisonTopic.
	MaxRetries int
	MaxElapsed time.Duration
	// RetryInitial is the first pause between retries (default 100 ms),
	// doubled up to RetryMax (default 15 s), each drawn within ±25 %.
	RetryInitial time.Duration
	RetryMax     time.Duration
}

// Defaults of Config.
const (
	DefaultCommitPoll   = 10 * time.Millisecond
	DefaultMaxRetries   = 10
	DefaultMaxElapsed   = 2 * time.Minute
	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 15 * time.Second
)

func (c *Config) setDefaults() {
	if c.CommitPoll <= 0 {
		c.CommitPoll = DefaultCommitPoll
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxElapsed <= 0 {
		c.MaxElapsed = DefaultMaxElapsed
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = DefaultRetryInitial
	}
	if c.RetryMax < c.RetryInitial {
		c.RetryMax = max(DefaultRetryMax, c.RetryInitial)
	}
}

// Validate reports missing settings.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cdn purger: %w", err))
	}
	if c.Topic == "" || c.Group == "" || c.PoisonTopic == "" {
		errs = append(errs, errors.New("cdn purger: topic, group and poison topic are required"))
	}
	if c.PoisonTopic == c.Topic {
		errs = append(errs, errors.New("cdn purger: the poison topic must not be the releases topic"))
	}
	return errors.Join(errs...)
}

// Purger purges the CDN after each committed change of a release.
type Purger struct {
	cfg   Config
	model ReadModel
	purge Purge
	reg   prometheus.Registerer
	log   *slog.Logger
}

// New builds a Purger. reg receives watermill's router metrics (namespace
// catalog, subsystem cdn_purge); it may be nil.
func New(cfg Config, model ReadModel, purge Purge, reg prometheus.Registerer, log *slog.Logger) (*Purger, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if model == nil || purge == nil || log == nil {
		return nil, errors.New("cdn purger: read model, purge endpoint and logger are required")
	}
	return &Purger{cfg: cfg, model: model, purge: purge, reg: reg, log: log}, nil
}

// saramaConfig is kc's base configuration (events.KafkaConfig.SaramaConfig:
// version, fetch sizes, TLS and SASL) under clientID, with consumer errors
// returned.
func saramaConfig(kc events.KafkaConfig, clientID string) *sarama.Config {
	kc.ClientID = clientID
	c := kc.SaramaConfig()
	c.Consumer.Return.Errors = true
	return c
}

// Run consumes the releases topic until ctx ends; it returns nil then.
// running, when not nil, is closed once the router's handlers run.
func (p *Purger) Run(ctx context.Context, running chan<- struct{}) error {
	logger := watermill.NewSlogLogger(p.log)
	scfg := saramaConfig(p.cfg.Kafka, "catalog-cdn-purge")
	scfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	if p.cfg.FromOldest {
		scfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers: p.cfg.Kafka.Brokers, Unmarshaler: kafka.DefaultMarshaler{},
		OverwriteSaramaConfig: scfg, ConsumerGroup: p.cfg.Group,
	}, logger)
	if err != nil {
		return fmt.Errorf("cdn purger subscriber: %w", err)
	}
	pcfg := kafka.DefaultSaramaSyncPublisherConfig()
	pcfg.Version = sarama.V3_6_0_0
	pcfg.ClientID = "catalog-cdn-purge"
	pcfg.Producer.MaxMessageBytes = events.ProducerMaxMessageBytes
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	p.cfg.Kafka.Secure(pcfg)
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Brokers: p.cfg.Kafka.Brokers, Marshaler: kafka.DefaultMarshaler{}, OverwriteSaramaConfig: pcfg,
	}, logger)
	if err != nil {
		_ = sub.Close()
		return fmt.Errorf("cdn purger poison publisher: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return fmt.Errorf("cdn purger router: %w", err)
	}
	// A handler ended by shutdown is not poison: the message stays
	// unacknowledged and is consumed again after a restart.
	poison, err := middleware.PoisonQueueWithFilter(pub, p.cfg.PoisonTopic, func(err error) bool {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	})
	if err != nil {
		return fmt.Errorf("cdn purger poison queue: %w", err)
	}
	router.AddMiddleware(
		poison,
		middleware.Retry{
			MaxRetries:          p.cfg.MaxRetries,
			InitialInterval:     p.cfg.RetryInitial,
			MaxInterval:         p.cfg.RetryMax,
			Multiplier:          2,
			MaxElapsedTime:      p.cfg.MaxElapsed,
			RandomizationFactor: 0.25,
			ShouldRetry:         func(rp middleware.RetryParams) bool { return !errors.Is(rp.Err, errUnpurgeable) },
			Logger:              logger,
		}.Middleware,
		middleware.Recoverer,
	)
	if p.reg != nil {
		metrics.NewPrometheusMetricsBuilder(p.reg, "catalog", "cdn_purge").AddPrometheusRouterMetrics(router)
	}
	router.AddConsumerHandler("cdn-purge", p.cfg.Topic, sub, p.handle)
	if running != nil {
		go func() {
			select {
			case <-router.Running():
				close(running)
			case <-ctx.Done():
			}
		}()
	}
	err = router.Run(ctx)
	if cerr := pub.Close(); cerr != nil {
		p.log.Warn("closing the cdn purger's poison publisher", "err", cerr)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("cdn purger: %w", err)
	}
	return nil
}

// errUnpurgeable marks an event no retry can purge for (not a catalog
// event envelope): it goes to the poison topic at once.
var errUnpurgeable = errors.New("cannot derive surrogate keys")

// handle waits until the event's change is committed, then purges its keys.
func (p *Purger) handle(msg *message.Message) error {
	ctx := msg.Context()
	release, keys, err := Keys(msg.Metadata, msg.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnpurgeable, err)
	}
	if keys == nil {
		return nil // an event type that changes no answer
	}
	partition, _ := kafka.MessagePartitionFromCtx(ctx)
	offset, ok := kafka.MessagePartitionOffsetFromCtx(ctx)
	if !ok {
		return fmt.Errorf("%w: no kafka offset in the message context", errUnpurgeable)
	}
	msg.Metadata.Set(KeysMetadata, strings.Join(keys, " "))
	msg.Metadata.Set(SourceMetadata, p.cfg.Topic+"/"+strconv.Itoa(int(partition))+"@"+strconv.FormatInt(offset, 10))
	if err := p.waitCommitted(ctx, partition, offset, release); err != nil {
		return err
	}
	if err := p.purge.Purge(ctx, keys); err != nil {
		return fmt.Errorf("release %d: %w", release, err)
	}
	return nil
}

// waitCommitted polls the read model until it has committed the event. It
// does not give up: purges follow the projector however far behind it is.
func (p *Purger) waitCommitted(ctx context.Context, partition int32, offset, release int64) error {
	t := time.NewTicker(p.cfg.CommitPoll)
	defer t.Stop()
	for {
		ok, err := p.model.Committed(ctx, p.cfg.Topic, partition, offset, release)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Keys decodes a release event record (its headers and value) and returns
// its release and the surrogate keys a purge must clear once it is
// committed (api.PurgeKeys). keys is nil for an event type catalog does not
// know (nothing the API serves changed); err names why a record is not a
// catalog event.
func Keys(headers map[string]string, value []byte) (release int64, keys []string, err error) {
	env, err := events.Decode(headers, value)
	if err != nil {
		return 0, nil, err
	}
	if env, err = events.Upcast(env); err != nil {
		return 0, nil, err
	}
	if !strings.HasPrefix(env.Type, "catalog.release.") {
		return 0, nil, nil
	}
	// Every release event carries its release id; Delivered and
	// TracksChanged carry the tracks, Delivered, MetadataChanged and Purged
	// the barcode (docs/events.md).
	var data struct {
		ReleaseID int64  `json:"releaseId"`
		UPC       string `json:"upc"`
		Tracks    []struct {
			TrackID int64  `json:"trackId"`
			ISRC    string `json:"isrc"`
		} `json:"tracks"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return 0, nil, fmt.Errorf("%w: decode %s: %w", events.ErrMalformed, env.Type, err)
	}
	if data.ReleaseID <= 0 {
		return 0, nil, fmt.Errorf("%w: %s event %s: releaseId missing", events.ErrMalformed, env.Type, env.ID)
	}
	ids := make([]int64, 0, len(data.Tracks))
	isrcs := make([]string, 0, len(data.Tracks))
	for _, t := range data.Tracks {
		ids, isrcs = append(ids, t.TrackID), append(isrcs, t.ISRC)
	}
	return data.ReleaseID, api.PurgeKeys(data.ReleaseID, data.UPC, ids, isrcs), nil
}
