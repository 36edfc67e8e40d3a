// Package verify is catalog's checker: an independent oracle that says
// what the read side must serve, and a comparison of that with what each
// layer serves.
//
// The oracle reads the releases topic from offset zero to the end offsets
// it captures when it starts, decodes each record with the events package
// (the envelope and its upcasters are the log's contract) and folds the
// domain events (domain/release) into each release's state with a fold of
// its own: a release exists from its first Delivered, each event applies
// only when its ce_sequence is above the last one applied for the release,
// and a Purged release serves nothing until it is delivered again. From
// that state it derives, for every track id, the answer track/details must
// give: the live release with the lowest release id carrying the id
// answers; an id no live release carries any more (its release purged, or
// the track removed from the tracklist) must not be served at all. What a
// track offers in a territory at a given time comes from the release's
// deal set read with the domain's deal semantics (release.Deal.Covers and
// Usages, and the rules of docs/deals.md), never from the projector's or
// the API's code.
//
// The comparison covers four layers:
//
//   - postgres: every track row of the live read-model generation, read
//     with the read model's own row reader (what the API falls back to),
//     and the set of rows itself (a missing row is a lost track, an extra
//     one a track that should be gone);
//   - redis: every hot entry of the live generation that a reader would be
//     served (an absent entry is fine, a present one must be right);
//   - api: track/details through the gateway over HTTP, on a seeded sample
//     of (track, territory) pairs or exhaustively;
//   - identifiers: every look-up of the identifiers read model (each
//     ISRC's tracks, each barcode's and GRid's release, each party's
//     releases), from the same fold: the releases' tracklists, barcodes,
//     GRids and owners (the last ones the log named; none for an old log's
//     release until an event names them).
//
// Before comparing, the checker waits (bounded) until the live generation
// has applied the log up to the captured end offsets. Every difference is
// a Divergence naming the layer, the track, its release, the territory (or
// the identifiers look-up's key), the field, and the expected and served
// values.
package verify
