package ern

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
)

// newRelease maps one NewReleaseMessage onto a release.Draft, collecting
// structural problems as it goes.
type newRelease struct {
	version string
	v38     bool // ERN 3.8.x; otherwise 4.x
	root    *element
	ps      *problems
	draft   *release.Draft
	src     sources // the draft's Source, made when the mapping ends

	resources map[string]*element // ResourceList children by ResourceReference
	parties   map[string]*element // ERN 4 PartyList/Party by PartyReference
	reported  map[string]bool     // paths of references already reported
}

func parseNewRelease(root *element, version string, msg release.Message, ps *problems) *release.Draft {
	n := &newRelease{
		version:   version,
		v38:       strings.HasPrefix(version, "3."),
		root:      root,
		ps:        ps,
		draft:     &release.Draft{Message: msg},
		resources: map[string]*element{},
		parties:   map[string]*element{},
		reported:  map[string]bool{},
	}
	n.indexResources()
	n.indexParties()
	main, meta := n.mainRelease()
	if main == nil {
		n.draft.Source = n.src.into(nil)
		return n.draft
	}
	n.releaseFields(main, meta)
	n.tracks(main, meta)
	n.deals(n.releaseTargets(main))
	n.draft.Source = n.src.into(nil)
	return n.draft
}

// indexResources indexes ResourceList by ResourceReference and checks that
// every SoundRecording carries an ISRC element.
func (n *newRelease) indexResources() {
	rl := n.root.first("ResourceList")
	if rl == nil {
		n.ps.add(n.root.pathTo("ResourceList"), "is missing; a NewReleaseMessage lists its resources")
		return
	}
	for _, r := range rl.children {
		ref := r.first("ResourceReference")
		switch {
		case ref.value() == "":
			n.ps.add(r.pathTo("ResourceReference"), "is missing or empty; every resource needs a reference that releases use to point at it")
		case n.resources[ref.value()] != nil:
			n.ps.add(ref.loc(), "repeats ResourceReference %s of %s; references must be unique within a message", release.Quote(ref.value()), n.resources[ref.value()].loc())
		default:
			n.resources[ref.value()] = r
		}
		if r.name == "SoundRecording" && len(isrcElements(r)) == 0 {
			n.ps.add(n.isrcPath(r), "is missing; every SoundRecording needs an ISRC")
		}
	}
}

// indexParties indexes the ERN 4 PartyList by PartyReference.
func (n *newRelease) indexParties() {
	for _, p := range n.root.findAll("PartyList", "Party") {
		ref := p.first("PartyReference")
		switch {
		case ref.value() == "":
		case n.parties[ref.value()] != nil:
			n.ps.add(ref.loc(), "repeats PartyReference %s of %s; references must be unique within a message", release.Quote(ref.value()), n.parties[ref.value()].loc())
		default:
			n.parties[ref.value()] = p
		}
	}
}

// mainRelease finds the product the message is about. In ERN 3.8 that is
// the Release marked IsMainRelease, else the first Release that is not a
// TrackRelease; meta is its ReleaseDetailsByTerritory block for Worldwide
// (or the first). In ERN 4 it is ReleaseList/Release and meta is the
// release itself.
func (n *newRelease) mainRelease() (rel, meta *element) {
	rl := n.root.first("ReleaseList")
	if rl == nil {
		n.ps.add(n.root.pathTo("ReleaseList"), "is missing; a NewReleaseMessage describes at least one release")
		return nil, nil
	}
	if !n.v38 {
		rel = rl.first("Release")
		if rel == nil {
			n.ps.add(rl.pathTo("Release"), "is missing; an ERN %s message needs a main Release (TrackRelease elements alone are not a product)", n.version)
		}
		return rel, rel
	}
	releases := rl.all("Release")
	for _, r := range releases {
		if isTrue(r.attr("IsMainRelease")) {
			rel = r
			break
		}
	}
	if rel == nil {
		for _, r := range releases {
			if !isTrackRelease38(r) {
				rel = r
				break
			}
		}
	}
	if rel == nil {
		if len(releases) == 0 {
			n.ps.add(rl.pathTo("Release"), "is missing; the message has no release")
		} else {
			n.ps.add(rl.pathTo("Release"), `names no main release: no Release has IsMainRelease="true" and every Release is a TrackRelease`)
		}
		return nil, nil
	}
	return rel, byTerritory(rel.all("ReleaseDetailsByTerritory"))
}

// isTrackRelease38 reports whether an ERN 3.8 Release is typed TrackRelease.
func isTrackRelease38(r *element) bool {
	types := append(r.all("ReleaseType"), r.findAll("ReleaseDetailsByTerritory", "ReleaseType")...)
	return slices.ContainsFunc(types, func(t *element) bool { return t.value() == "TrackRelease" })
}

// releaseFields fills the release-level fields of the draft. rel is the
// main Release; meta holds the territorial details (the same element in ERN 4).
func (n *newRelease) releaseFields(rel, meta *element) {
	d := n.draft
	src := &n.src
	assign(&d.UPC, src, "upc", firstNonEmpty(rel.findAll("ReleaseId", "ICPN")))
	assign(&d.GRid, src, "grid", firstNonEmpty(rel.findAll("ReleaseId", "GRid")))
	assign(&d.CatalogNumber, src, "catalogNumber", firstNonEmpty(rel.findAll("ReleaseId", "CatalogNumber")))

	title, sub := n.title(rel, meta)
	assign(&d.Title, src, "title", title)
	assign(&d.Version, src, "version", sub)

	if t := firstNonEmpty(append(meta.all("ReleaseType"), rel.all("ReleaseType")...)); t != nil {
		d.Type = typeValue(t)
		src.set("type", t.loc())
	}

	if n.v38 {
		assign(&d.Label, src, "label", pick("", meta.all("LabelName")))
	} else if ref := preferred(rel.all("ReleaseLabelReference"), ""); ref != nil {
		if p := n.party(ref); p != nil {
			assign(&d.Label, src, "label", partyName(p))
		}
	}

	var artist, artistPath string
	d.Artists, artist, artistPath = n.credits(meta)
	if artistPath != "" {
		d.Artist = artist
		src.set("artist", artistPath)
	}

	assign(&d.PLine, src, "pline", pick("PLineText", rel.all("PLine"), meta.all("PLine")))
	assign(&d.CLine, src, "cline", pick("CLineText", rel.all("CLine"), meta.all("CLine")))
	assign(&d.Genre, src, "genre", pick("GenreText", meta.all("Genre"), meta.all("DisplayGenre")))
	assign(&d.ParentalWarning, src, "parentalWarning", pick("", meta.all("ParentalWarningType"), rel.all("ParentalWarningType")))
	assign(&d.ReleaseDate, src, "releaseDate",
		pick("", meta.all("ReleaseDate"), rel.all("ReleaseDate"), rel.all("GlobalReleaseDate")))
	assign(&d.OriginalReleaseDate, src, "originalReleaseDate",
		pick("", meta.all("OriginalReleaseDate"), rel.all("OriginalReleaseDate"), rel.all("GlobalOriginalReleaseDate")))
}

// title returns the title and subtitle elements of a release or sound
// recording: the display title when there is one (ERN 3.8
// Title[@TitleType='DisplayTitle'] in the territorial details; ERN 4
// DisplayTitle, else DisplayTitleText), else ReferenceTitle. The subtitle
// falls back to ReferenceTitle/SubTitle.
func (n *newRelease) title(holder, meta *element) (title, sub *element) {
	if n.v38 {
		for _, t := range meta.all("Title") {
			if t.attr("TitleType") == "DisplayTitle" && t.first("TitleText").value() != "" {
				title, sub = t.first("TitleText"), t.first("SubTitle")
				break
			}
		}
	} else if t := preferred(holder.all("DisplayTitle"), "TitleText"); t != nil {
		title, sub = t.first("TitleText"), t.first("SubTitle")
	} else {
		title = pick("", holder.all("DisplayTitleText"))
	}
	ref := holder.first("ReferenceTitle")
	if title == nil {
		title = ref.first("TitleText")
	}
	if sub.value() == "" && ref.first("SubTitle").value() != "" {
		sub = ref.first("SubTitle")
	}
	return title, sub
}

// credits reads the display artists of holder, in SequenceNumber order,
// and the display artist string: DisplayArtistName, else the names of the
// MainArtists joined by ", ". path is where the string came from ("" if
// there is none).
func (n *newRelease) credits(holder *element) (artists []release.DraftArtist, artist, path string) {
	das := holder.all("DisplayArtist")
	slices.SortStableFunc(das, func(a, b *element) int {
		return cmp.Compare(sequenceAttr(a), sequenceAttr(b))
	})
	var mains []string
	for _, da := range das {
		name := n.artistName(da)
		if name.value() == "" {
			continue
		}
		roles := append(da.all("DisplayArtistRole"), da.all("ArtistRole")...)
		var role string
		if len(roles) > 0 {
			role = typeValue(roles[0])
		}
		artists = append(artists, release.DraftArtist{Name: name.value(), Role: role})
		if slices.ContainsFunc(roles, func(r *element) bool { return r.value() == "MainArtist" }) {
			mains = append(mains, name.value())
			if path == "" {
				path = name.loc()
			}
		}
	}
	if e := pick("", holder.all("DisplayArtistName")); e != nil {
		return artists, e.value(), e.loc()
	}
	return artists, strings.Join(mains, ", "), path
}

// artistName returns the name element of a DisplayArtist: the party its
// ArtistPartyReference points at (ERN 4), else its own PartyName (ERN 3.8).
func (n *newRelease) artistName(da *element) *element {
	if ref := da.first("ArtistPartyReference"); ref != nil {
		return partyName(n.party(ref))
	}
	return preferred(da.all("PartyName"), "FullName").first("FullName")
}

// party resolves a party reference, reporting one that points nowhere.
func (n *newRelease) party(ref *element) *element {
	p := n.parties[ref.value()]
	if p == nil {
		n.reportOnce(ref.loc(), "refers to party %s, which is not in PartyList", release.Quote(ref.value()))
	}
	return p
}

// partyName returns the FullName element of a party's preferred PartyName.
func partyName(p *element) *element {
	return preferred(p.all("PartyName"), "FullName").first("FullName")
}

// resource resolves a resource reference. It reports a reference that is
// missing (ref nil; missingPath names where it belongs), empty, or points
// at no resource.
func (n *newRelease) resource(ref *element, missingPath string) *element {
	switch {
	case ref == nil:
		n.reportOnce(missingPath, "is missing; it must name a resource of ResourceList")
		return nil
	case ref.value() == "":
		n.reportOnce(ref.loc(), "is empty; it must name a resource of ResourceList")
		return nil
	}
	r := n.resources[ref.value()]
	if r == nil {
		n.reportOnce(ref.loc(), "refers to resource %s, which is not in ResourceList", release.Quote(ref.value()))
	}
	return r
}

// reportOnce adds a problem about a reference unless one was already
// reported at that path (references are resolved from several places).
func (n *newRelease) reportOnce(path, format string, args ...any) {
	if n.reported[path] {
		return
	}
	n.reported[path] = true
	n.ps.add(path, format, args...)
}

// isrcElements returns every ISRC element of a sound recording, wherever
// the versions put it: ERN 3.8 SoundRecordingId/ISRC, ERN 4.1/4.2
// ResourceId/ISRC, ERN 4.3 SoundRecordingEdition/ResourceId/ISRC.
func isrcElements(sr *element) []*element {
	var out []*element
	out = append(out, sr.findAll("SoundRecordingId", "ISRC")...)
	out = append(out, sr.findAll("ResourceId", "ISRC")...)
	out = append(out, sr.findAll("SoundRecordingEdition", "ResourceId", "ISRC")...)
	return out
}

// isrcPath is where a sound recording's ISRC belongs in this version.
func (n *newRelease) isrcPath(sr *element) string {
	switch {
	case n.v38:
		return sr.pathTo("SoundRecordingId", "ISRC")
	case strings.HasPrefix(n.version, "4.1"), strings.HasPrefix(n.version, "4.2"):
		return sr.pathTo("ResourceId", "ISRC")
	default:
		return sr.pathTo("SoundRecordingEdition", "ResourceId", "ISRC")
	}
}

// assign sets *dst to e's text and records e's path as the source of key;
// it does nothing when e is nil.
func assign(dst *string, src *sources, key string, e *element) {
	if e == nil {
		return
	}
	*dst = e.value()
	src.set(key, e.loc())
}

// assignItem is assign for the field of an item of a list, e.g.
// tracks[2].isrc.
func assignItem(dst *string, src *sources, list string, i int, field string, e *element) {
	if e == nil {
		return
	}
	*dst = e.value()
	src.setItem(list, i, field, e.loc())
}

// firstNonEmpty returns the first element with text, else the first
// element (so that an empty value still has a source), else nil.
func firstNonEmpty(els []*element) *element {
	for _, e := range els {
		if e.value() != "" {
			return e
		}
	}
	if len(els) > 0 {
		return els[0]
	}
	return nil
}

// preferred returns, among els whose text (or whose child's text, when
// child is not "") is non-empty, the one DDEX marks for use: IsDefault="true",
// else one for no territory or for Worldwide, else the first. It returns nil
// when none has text.
func preferred(els []*element, child string) *element {
	var withText []*element
	for _, e := range els {
		t := e
		if child != "" {
			t = e.first(child)
		}
		if t.value() != "" {
			withText = append(withText, e)
		}
	}
	if len(withText) == 0 {
		return nil
	}
	for _, e := range withText {
		if isTrue(e.attr("IsDefault")) {
			return e
		}
	}
	for _, e := range withText {
		if t := e.attr("ApplicableTerritoryCode"); t == "" || t == "Worldwide" {
			return e
		}
	}
	return withText[0]
}

// pick returns the value element (the child named child, or the element
// itself when child is "") of the preferred element of the first list that
// has one with text.
func pick(child string, lists ...[]*element) *element {
	for _, els := range lists {
		if e := preferred(els, child); e != nil {
			if child == "" {
				return e
			}
			return e.first(child)
		}
	}
	return nil
}

// byTerritory picks the ERN 3.8 …DetailsByTerritory block for Worldwide,
// else the first.
func byTerritory(blocks []*element) *element {
	for _, b := range blocks {
		for _, t := range b.all("TerritoryCode") {
			if t.value() == "Worldwide" {
				return b
			}
		}
	}
	if len(blocks) > 0 {
		return blocks[0]
	}
	return nil
}

// typeValue reads an allowed-value element: its @UserDefinedValue when it
// says UserDefined, else its text.
func typeValue(e *element) string {
	if e.value() == "UserDefined" && e.attr("UserDefinedValue") != "" {
		return e.attr("UserDefinedValue")
	}
	return e.value()
}

// sequenceAttr reads @SequenceNumber for ordering; absent or unreadable
// numbers sort last.
func sequenceAttr(e *element) int {
	if v, err := strconv.Atoi(e.attr("SequenceNumber")); err == nil {
		return v
	}
	return math.MaxInt
}

// isTrue reads an xs:boolean.
func isTrue(s string) bool { return s == "true" || s == "1" }
