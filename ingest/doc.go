// Package ingest turns label deliveries into domain events. It parses a
// delivery (the JSON release format in docs/ingest-json.md), validates it
// into a release.Release, asks the domain what changed, assigns catalogue
// ids, and appends the resulting events to Kafka before it acknowledges.
//
// A delivery is either accepted (its events are durable in Kafka), found
// unchanged, or rejected with every problem named; a rejected delivery
// changes nothing.
package ingest
