// Package events is catalog's event-log plumbing: the envelope every domain
// event travels in (CloudEvents 1.0 in binary mode over Kafka), the topics
// and their settings, the publisher that makes events durable, and the
// consumer-group runner that hands partitions' events to projections in
// batches. Domain event payload types live in domain/; events only moves them
// and decodes them through one registry of event types (registry.go: name,
// schema version, constructor, upcasters), filled from the domain's lists.
package events
