// Package domain holds catalog's business rules as pure Go: value types,
// aggregates and the decisions that turn a delivery into domain events.
// Nothing under domain does I/O, reads the clock or logs; adapters in ingest,
// projections and api feed it values and persist what it decides.
package domain
