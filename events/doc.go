// Package events is catalog's event-log plumbing: the envelope every domain
// event travels in (CloudEvents 1.0 in binary mode over Kafka), the topics
// and their settings, the publisher that makes events durable, and the
// consumer-group runner that hands partitions' events to projections in
// batches. Domain event payload types live in domain/; events only moves them
// and decodes them through one registry of event types (registry.go: name,
// schema version, constructor, upcasters), filled from the domain's lists.
//
// Two kinds of consumer read the log. Projections (read models) are
// exactly once: their consumed offsets are stored in the same Postgres
// transaction as their rows, so a crash, rebalance or redelivery neither
// loses nor repeats an effect, and a rebuild from offset zero gives the same
// state. They run on Consumer (sarama directly), because each partition
// assignment must seek to the offsets stored beside the rows and batches are
// applied in one transaction; watermill's subscriber commits offsets to
// Kafka after each acknowledged message, which cannot be made atomic with a
// Postgres write. Side-effect consumers whose effects are idempotent (the
// CDN purger, api/cdnpurge) are at least once: they run on watermill's
// message.Router with their own consumer group and offsets committed to
// Kafka, and retries, panics, a poison queue topic and metrics are router
// middleware.
package events
