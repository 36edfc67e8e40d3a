// Package eventpg is the PostgreSQL side of the event log: the
// transactional outbox that ingest appends to in the same transaction as
// its write-side state, and the relay that moves the outbox to Kafka
// exactly once and in per-release order.
package eventpg
