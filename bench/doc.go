// Package bench is catalog's benchmark harness. It builds the catalog
// binary, runs its roles as processes against the services `make up`
// starts (each run with its own database, topic prefix and Redis key space,
// from testenv), and drives them from the outside: the
// HTTP APIs through one load generator (load_test.go) and wrk, Kafka with
// its own performance tools, Postgres and Redis with their clients. A
// region of the run's own (region_test.go: a Kafka cluster fed by
// MirrorMaker 2, a regional projector and API) gives the cross-region
// figures.
//
// Its benchmarks are behind the bench build tag, so `go test ./...` does
// not compile them (build tags are for stress and bench only):
//
//	make bench         BenchmarkCatalogue at 1M tracks: BENCHMARKS.md, docs/benchmarks.json
//	make bench-quick   the same at 50k tracks
//	make bench-parts   BenchmarkAPIDuringRebuild and BenchmarkProxies, among the parts' own benchmarks
//
// BenchmarkRebuildPacing compares pacings of a rebuild under load round
// by round (CATALOG_BENCH_PACING); run it by hand with go test -tags bench.
//
// CATALOG_BENCH_OUT names another folder for BENCHMARKS.md and
// docs/benchmarks.json; docs/benchmarks.md says how each figure is taken.
package bench
