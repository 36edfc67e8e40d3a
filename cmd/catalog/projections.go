package main

import (
	"github.com/catalog-org/catalog/projections/identifiers"
	"github.com/catalog-org/catalog/projections/identifiers/identifierspg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/projector"
	"github.com/catalog-org/catalog/projections/trackdetails"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

// registered lists the projections this binary runs and operates: `catalog
// project` (those CATALOG_PROJECTIONS names, all by default), `catalog
// projections`, the metrics and the projection contract tests all loop
// over it. Adding a read model is one entry here. hot is track-details'
// hot cache; nil when no Redis is configured.
func registered(hot *projectionredis.Cache) []projector.Projection {
	td := projector.Projection{Name: trackdetails.Name, Model: trackdetailspg.Model{}, Hash: trackdetailspg.Hash}
	if hot != nil {
		td.Cache = hot
	}
	return []projector.Projection{
		td,
		{Name: identifiers.Name, Model: identifierspg.Model{}},
	}
}
