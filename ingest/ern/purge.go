package ern

import "github.com/catalog-org/catalog/domain/release"

// parsePurge maps a PurgeReleaseMessage: PurgedRelease/ReleaseId/ICPN is the
// UPC and ReleaseId/GRid the GRid; one of them must be there.
func parsePurge(root *element, msg release.Message, ps *problems) *release.PurgeDraft {
	d := &release.PurgeDraft{Message: msg}
	var src sources
	defer func() { d.Source = src.into(nil) }()
	pr := root.first("PurgedRelease")
	if pr == nil {
		ps.add(root.pathTo("PurgedRelease"), "is missing; a PurgeReleaseMessage names the release to remove")
		return d
	}
	assign(&d.UPC, &src, "upc", firstNonEmpty(pr.findAll("ReleaseId", "ICPN")))
	assign(&d.GRid, &src, "grid", firstNonEmpty(pr.findAll("ReleaseId", "GRid")))
	if d.UPC == "" && d.GRid == "" {
		ps.add(pr.pathTo("ReleaseId"), "has neither an ICPN nor a GRid; one of them must name the release to purge")
	}
	return d
}
