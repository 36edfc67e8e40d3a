package projector

import (
	"context"
	"errors"

	"github.com/catalog-org/catalog/projections"
)

// Status is a projection's state for a person or a scrape: its active
// generations with their per-partition positions and lag, parked events,
// and the rebuild under way.
type Status struct {
	Projection  string                `json:"projection"`
	Generations []GenerationStatus    `json:"generations"`
	Rebuild     *projections.Progress `json:"rebuild,omitempty"`
}

// GenerationStatus is one generation's state.
type GenerationStatus struct {
	projections.Generation
	Parked     int                             `json:"parked"`
	Lag        int64                           `json:"lag"`
	Partitions []projections.PartitionProgress `json:"partitions"`
}

// Status reads the projection's state.
func (p *Projector) Status(ctx context.Context) (Status, error) {
	gens, err := p.store.Generations(ctx)
	if err != nil {
		return Status{}, err
	}
	parked, err := p.store.CountParked(ctx)
	if err != nil {
		return Status{}, err
	}
	hw, err := p.cfg.Admin.HighWatermarks(ctx, p.cfg.Topic)
	if err != nil {
		return Status{}, err
	}
	st := Status{Projection: p.def.Name}
	for _, g := range gens {
		if g.State != "live" && g.State != "building" && g.State != "paused" {
			continue
		}
		cps, err := p.store.Checkpoints(ctx, g.Number)
		if err != nil {
			return Status{}, err
		}
		at := map[int32]projections.PartitionProgress{}
		for _, c := range cps {
			at[c.Partition] = c
		}
		gs := GenerationStatus{Generation: g, Parked: parked[g.Number]}
		for part, end := range hw {
			c := at[part]
			c.Topic, c.Partition, c.End = p.cfg.Topic, part, end
			gs.Partitions = append(gs.Partitions, c)
			gs.Lag += end - c.Next
		}
		st.Generations = append(st.Generations, gs)
	}
	if pr, err := p.rb.Progress(ctx); err == nil {
		st.Rebuild = &pr
	} else if !errors.Is(err, projections.ErrNoRebuild) {
		return Status{}, err
	}
	return st, nil
}
