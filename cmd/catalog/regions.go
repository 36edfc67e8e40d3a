package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/catalog-org/catalog/events"
)

// requireCentral refuses to run what only the central region runs: ingest
// is the one writer of the log of record, and a region is read-only.
func (c config) requireCentral(what string) error {
	if c.central() {
		return nil
	}
	return fmt.Errorf("CATALOG_REGION=%s: %s runs only in the %s region: it is the one writer of the log of record, and region %s is a read-only copy fed by MirrorMaker (deliver to the central ingest instead)",
		c.Region, what, centralRegion, c.Region)
}

// prepareTopics makes sure the topics a role reads exist. In the central
// region catalog owns its topics and creates them (with their retention and
// size settings). In any other region MirrorMaker owns the mirrored topics
// on the region's cluster, so the role creates and alters none of them: it
// waits until MirrorMaker has created them. local are per-cluster topics
// that are never mirrored (a parking topic), which the role creates itself
// in either case.
func prepareTopics(ctx context.Context, cfg config, admin *events.Admin, log *slog.Logger, local ...events.TopicSpec) error {
	if cfg.central() {
		return ensureTopics(ctx, admin, cfg, log)
	}
	log.Info("regional cluster: MirrorMaker owns the mirrored topics here; waiting for them instead of creating them",
		"region", cfg.Region, "topic", cfg.releasesTopic())
	if err := admin.AwaitTopics(ctx, []string{cfg.releasesTopic()}, log); err != nil {
		return err
	}
	if len(local) == 0 {
		return nil
	}
	return ensureTopics(ctx, admin, cfg, log, local...)
}
