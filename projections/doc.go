// Package projections turns the event stream into read models. Each read
// model is a projection with its own consumer group and its own store; the
// store applies a batch of events and records the consumed offsets in one
// transaction, so every event takes effect exactly once however often Kafka
// delivers it.
package projections
