package ern

import (
	"slices"

	"github.com/catalog-org/catalog/domain/release"
)

// maxDeals bounds the deals one message expands into. Real deliveries
// reach a few thousand (249 territories × 3 models); the bound stops a small
// hostile message from multiplying references, deals and periods into
// millions of drafts.
const maxDeals = 100_000

// target is what a DealReleaseReference can point at.
type target struct {
	mapped bool   // the main release or a track release: its deals are kept
	track  string // the ISRC of a track release; "" for the main release
}

// releaseTargets indexes ReleaseList by ReleaseReference: the main release,
// the track releases (ERN 4 TrackRelease; ERN 3.8 a non-main Release whose
// primary resource is one SoundRecording) and any other release, whose
// deals are not mapped. It also checks the releases' resource references.
func (n *newRelease) releaseTargets(main *element) map[string]target {
	out := map[string]target{}
	firstAt := map[string]string{}
	for _, r := range n.root.first("ReleaseList").children {
		var t target
		switch {
		case r.name != "Release" && r.name != "TrackRelease" && r.name != "ClipRelease":
			continue
		case n.v38:
			t = n.target38(r, r == main)
		case r == main:
			t = target{mapped: true}
		case r.name == "TrackRelease":
			t = n.trackTarget(r.first("ReleaseResourceReference"), r.pathTo("ReleaseResourceReference"))
		}
		ref := r.first("ReleaseReference")
		switch {
		case ref.value() == "":
		case firstAt[ref.value()] != "":
			n.ps.add(ref.loc(), "repeats ReleaseReference %s of %s; references must be unique within a message", release.Quote(ref.value()), firstAt[ref.value()])
		default:
			firstAt[ref.value()] = r.loc()
			out[ref.value()] = t
		}
	}
	return out
}

// target38 classifies an ERN 3.8 Release after checking its
// ReleaseResourceReferenceList.
func (n *newRelease) target38(r *element, isMain bool) target {
	var primaries []*element
	for _, ref := range r.findAll("ReleaseResourceReferenceList", "ReleaseResourceReference") {
		n.resource(ref, "") // reports a dangling reference
		if t := ref.attr("ReleaseResourceType"); t == "" || t == "PrimaryResource" {
			primaries = append(primaries, ref)
		}
	}
	switch {
	case isMain:
		return target{mapped: true}
	case len(primaries) == 1:
		return n.trackTarget(primaries[0], "")
	}
	return target{}
}

// trackTarget makes a track-release target of the sound recording ref
// points at; a release of anything else (a video, an image) is not mapped.
func (n *newRelease) trackTarget(ref *element, missingPath string) target {
	res := n.resource(ref, missingPath)
	if res == nil || res.name != "SoundRecording" {
		return target{}
	}
	isrc := firstNonEmpty(isrcElements(res)).value()
	// A recording without ISRC is already a problem; its deals cannot be
	// keyed and are dropped rather than mistaken for release-wide deals.
	return target{mapped: isrc != "", track: isrc}
}

// terms is one Deal's DealTerms, read once and applied to every release
// the ReleaseDeal names.
type terms struct {
	territories, excluded []*element
	useTypes, models      []*element
	periods               []*element // ValidityPeriods; one nil for none
	amount, priceCode     *element
	takeDown              bool
}

// deals fills the draft's deals: one per Deal × ValidityPeriod × release
// reference (main release or track release) of every ReleaseDeal.
func (n *newRelease) deals(targets map[string]target) {
	for _, rd := range n.root.first("DealList").all("ReleaseDeal") {
		refs := rd.all("DealReleaseReference")
		if len(refs) == 0 {
			n.ps.add(rd.pathTo("DealReleaseReference"), "is missing; a ReleaseDeal names the releases its deals apply to")
		}
		var all []terms
		for _, deal := range rd.all("Deal") {
			if t, ok := n.terms(deal); ok {
				all = append(all, t)
			}
		}
		for _, ref := range refs {
			tg, known := targets[ref.value()]
			switch {
			case ref.value() == "":
				n.ps.add(ref.loc(), "is empty; it must name a release of ReleaseList")
				continue
			case !known:
				n.ps.add(ref.loc(), "refers to release %s, which is not in ReleaseList", release.Quote(ref.value()))
				continue
			case !tg.mapped:
				continue
			}
			for _, t := range all {
				for _, p := range t.periods {
					if len(n.draft.Deals) == maxDeals {
						n.ps.add(rd.loc(), "expands into more than %d deals (Deal × ValidityPeriod × DealReleaseReference); split the delivery", maxDeals)
						return
					}
					n.addDeal(ref, tg, t, p)
				}
			}
		}
	}
}

// terms reads a Deal's DealTerms, reporting structural problems.
func (n *newRelease) terms(deal *element) (terms, bool) {
	dt := deal.first("DealTerms")
	if dt == nil {
		n.ps.add(deal.pathTo("DealTerms"), "is missing; a Deal states its terms in DealTerms")
		return terms{}, false
	}
	t := terms{
		territories: dt.all("TerritoryCode"),
		excluded:    dt.all("ExcludedTerritoryCode"),
		useTypes:    append(dt.findAll("Usage", "UseType"), dt.all("UseType")...),
		models:      dt.all("CommercialModelType"),
		periods:     dt.all("ValidityPeriod"),
		takeDown:    isTrue(dt.first("TakeDown").value()) || isTrue(dt.first("AllDealsCancelled").value()),
	}
	if n.v38 && len(t.territories) == 0 && len(t.excluded) == 0 {
		n.ps.add(dt.pathTo("TerritoryCode"), "is missing, and so is ExcludedTerritoryCode; an ERN 3.8 deal must say where it applies")
	}
	if len(t.periods) == 0 {
		t.periods = []*element{nil}
	}
	for _, pi := range dt.all("PriceInformation") {
		amount := pi.first("SuggestedRetailPrice")
		if amount.value() == "" {
			amount = pi.first("WholesalePricePerUnit")
		}
		if amount.value() == "" {
			amount = nil
		}
		code := pick("", pi.all("PriceCode"), pi.all("PriceType"))
		if amount != nil || code != nil {
			t.amount, t.priceCode = amount, code
			break
		}
	}
	return t, true
}

// addDeal appends the deal of terms t during period p for the release ref
// names.
func (n *newRelease) addDeal(ref *element, tg target, t terms, p *element) {
	j := len(n.draft.Deals)
	src := &n.src
	list := func(field string, els []*element, value func(*element) string) []string {
		if len(els) == 0 {
			return nil
		}
		out := make([]string, 0, len(els))
		for k, e := range els {
			out = append(out, value(e))
			src.setItemAt("deals", j, field, k, e.loc())
		}
		return out
	}

	d := release.DraftDeal{
		Track:               tg.track,
		Territories:         list("territories", t.territories, (*element).value),
		ExcludedTerritories: list("excludedTerritories", t.excluded, (*element).value),
		UseTypes:            list("useTypes", t.useTypes, typeValue),
		CommercialModels:    list("commercialModels", t.models, typeValue),
		TakeDown:            t.takeDown,
	}
	if tg.track != "" {
		src.setItem("deals", j, "track", ref.loc())
	}
	assignItem(&d.Start, src, "deals", j, "start", firstWithText(p.first("StartDate"), p.first("StartDateTime")))
	assignItem(&d.End, src, "deals", j, "end", firstWithText(p.first("EndDate"), p.first("EndDateTime")))
	if t.amount != nil {
		d.PriceAmount, d.PriceCurrency = t.amount.value(), t.amount.attr("CurrencyCode")
		src.setItem("deals", j, "price", t.amount.loc())
	}
	if t.priceCode != nil {
		d.PriceCode = t.priceCode.value()
		if t.amount == nil {
			src.setItem("deals", j, "price", t.priceCode.loc())
		}
	}
	n.draft.Deals = append(n.draft.Deals, d)
}

// firstWithText returns the first of els that has text, else the first
// that exists, else nil.
func firstWithText(els ...*element) *element {
	return firstNonEmpty(slices.DeleteFunc(els, func(e *element) bool { return e == nil }))
}
