package events

import "encoding/json"

// Upcaster turns the payload of one schema version of an event type into
// the next version's.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// Upcast brings e's payload to the current schema version of its type in
// the registry (Types), applying upcasters in turn. Types it does not know
// are returned unchanged; a version newer than the current one is an
// error (the consumer is older than the producer). Events in Kafka are
// never rewritten: consumers read old versions through upcasters.
func Upcast(e Envelope) (Envelope, error) {
	return registry.upcast(e)
}
