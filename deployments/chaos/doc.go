// Package chaos is catalog's fault-injection harness (`make chaos`; a short
// run is part of `make test`). Its test, TestChaos, builds the catalog
// binary and starts a Kafka broker (KRaft), a PostgreSQL cluster and a
// Redis server of its own on free loopback ports, with their data in a
// temporary folder, so it can kill, pause and restart them without
// touching the services `make up` runs for the other tests. It runs the
// roles (ingest, project, api, gateway) as separate catalog processes,
// delivers a generated catalogue over HTTP (first deliveries, compilations
// and reissues sharing ISRCs, updates, deal changes, takedowns, purges,
// resends) while reading track details through the gateway, and meanwhile
// SIGKILLs the projector, restarts Redis, pauses Redis writes, SIGKILLs the
// broker and restarts PostgreSQL, for real. It then waits for the projector
// to have no lag, checks that every accepted delivery's events are in
// Kafka exactly once, and runs `catalog verify`, which must find no
// divergence. It prints what it did: faults and their times, deliveries
// offered, accepted and rejected, divergences, timings.
//
// The harness lives under deployments because it is about running the
// deployed system: it drives the binary and the real services from the
// outside, as deployments/local does, and imports nothing of catalog but
// the catalogue generator.
package chaos
