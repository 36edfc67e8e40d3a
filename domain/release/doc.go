// Package release is the release aggregate: a label's product (album, EP,
// single) identified by its UPC/EAN, with its tracks and the territories it
// is available in. It validates deliveries into a Release and decides which
// events a delivery produces against the release's current state.
//
// Events are facts: once decided and published they are never rejected
// again, so consumers rebuild state from them without re-validating.
package release
