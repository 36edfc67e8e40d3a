package ingest

import (
	"errors"
	"sync/atomic"

	"github.com/catalog-org/catalog/domain/release"
)

// Outcomes of a delivery, as DeliveryCounts counts them.
const (
	OutcomeAccepted    = string(release.Accepted)  // new events appended
	OutcomeUnchanged   = string(release.Unchanged) // nothing new in it
	OutcomeStale       = string(release.Stale)     // older than what the release already has
	OutcomeRejected    = "rejected"                // bad input, another party's release, an identity conflict: changes nothing
	OutcomeUnavailable = "unavailable"             // a dependency failed; the sender should retry
)

// outcomes counts Submit's results by outcome.
type outcomes struct {
	accepted, unchanged, stale, rejected, unavailable atomic.Uint64
}

func (o *outcomes) count(res Result, err error) {
	switch {
	case err == nil && res.Status == OutcomeAccepted:
		o.accepted.Add(1)
	case err == nil && res.Status == OutcomeStale:
		o.stale.Add(1)
	case err == nil:
		o.unchanged.Add(1)
	case errors.Is(err, ErrUnavailable):
		o.unavailable.Add(1)
	default:
		o.rejected.Add(1)
	}
}

// DeliveryCounts returns how many deliveries Submit answered with each
// outcome (OutcomeAccepted, ...) since the service was built. A delivery
// refused before it was read (over the body budget, too large) is not
// submitted and counts in none.
func (s *Service) DeliveryCounts() map[string]uint64 {
	return map[string]uint64{
		OutcomeAccepted: s.outcomes.accepted.Load(), OutcomeUnchanged: s.outcomes.unchanged.Load(),
		OutcomeStale: s.outcomes.stale.Load(), OutcomeRejected: s.outcomes.rejected.Load(),
		OutcomeUnavailable: s.outcomes.unavailable.Load(),
	}
}
