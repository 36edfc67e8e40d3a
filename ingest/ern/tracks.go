package ern

import (
	"strconv"

	"github.com/catalog-org/catalog/domain/release"
)

// slot is a sound recording's place on the main release.
type slot struct {
	recording  *element
	disc       int
	discPath   string
	number     int
	numberPath string
}

// disc numbers the tracks of one disc while a resource group is walked.
type disc struct {
	number int
	path   string // where the disc number came from
	last   int    // number of the disc's last track so far
}

// tracks fills the draft's tracks: the sound recordings of the main
// release, in the order and with the numbers its resource group gives.
func (n *newRelease) tracks(rel, meta *element) {
	for i, s := range n.slots(rel, meta) {
		n.draft.Tracks = append(n.draft.Tracks, n.track(i, s))
	}
}

// slots lays out the main release's sound recordings on discs: from its
// ResourceGroup tree (ERN 3.8 in ReleaseDetailsByTerritory, ERN 4 on the
// Release), or, in ERN 3.8 without one, from the primary resources of
// ReleaseResourceReferenceList as disc 1.
func (n *newRelease) slots(rel, meta *element) []slot {
	if n.v38 {
		group := meta.first("ResourceGroup")
		for _, rt := range rel.all("ReleaseDetailsByTerritory") {
			if group != nil {
				break
			}
			group = rt.first("ResourceGroup")
		}
		if group == nil {
			return n.listedSlots(rel)
		}
		return n.walkGroup(group)
	}
	group := rel.first("ResourceGroup")
	if group == nil {
		n.ps.add(rel.pathTo("ResourceGroup"), "is missing; an ERN %s Release lists its tracks in a ResourceGroup", n.version)
		return nil
	}
	return n.walkGroup(group)
}

// walkGroup numbers the items of a release's top resource group. Items
// directly in the top group are disc 1. Each nested group is a disc (numbered
// by its SequenceNumber, else by its position), except a MultiWorkPart group,
// which gathers a classical work's movements and is flattened into disc 1.
func (n *newRelease) walkGroup(top *element) []slot {
	var out []slot
	first := &disc{number: 1, path: top.loc()}
	ordinal := 0
	for _, c := range top.children {
		switch c.name {
		case "ResourceGroupContentItem":
			n.addItem(&out, first, c, true)
		case "ResourceGroup":
			if c.attr("ResourceGroupType") == "MultiWorkPart" {
				n.flatten(&out, first, c)
				continue
			}
			ordinal++
			d := &disc{number: ordinal, path: c.loc()}
			if sn := c.first("SequenceNumber"); sn != nil {
				if v, ok := n.sequence(sn); ok {
					d.number, d.path = v, sn.loc()
				}
			}
			for _, cc := range c.children {
				switch cc.name {
				case "ResourceGroupContentItem":
					n.addItem(&out, d, cc, true)
				case "ResourceGroup":
					n.flatten(&out, d, cc)
				}
			}
		}
	}
	return out
}

// flatten adds the items of a group nested inside a disc (a MultiWorkPart,
// or a side) to that disc, continuing its numbering: their SequenceNumbers
// count within the work, not the disc.
func (n *newRelease) flatten(out *[]slot, d *disc, g *element) {
	for _, c := range g.children {
		switch c.name {
		case "ResourceGroupContentItem":
			n.addItem(out, d, c, false)
		case "ResourceGroup":
			n.flatten(out, d, c)
		}
	}
}

// addItem adds a resource group item that points at a sound recording;
// items pointing at other resources (images, videos) are skipped. The track
// number is the item's SequenceNumber when own is true and it has one, else
// the disc's previous number plus one.
func (n *newRelease) addItem(out *[]slot, d *disc, item *element, own bool) {
	res := n.resource(item.first("ReleaseResourceReference"), item.pathTo("ReleaseResourceReference"))
	if res == nil || res.name != "SoundRecording" {
		return
	}
	s := slot{recording: res, disc: d.number, discPath: d.path, number: d.last + 1, numberPath: item.loc()}
	if sn := item.first("SequenceNumber"); own && sn != nil {
		if v, ok := n.sequence(sn); ok {
			s.number, s.numberPath = v, sn.loc()
		}
	}
	d.last = s.number
	*out = append(*out, s)
}

// listedSlots lays out an ERN 3.8 release without ResourceGroup: its
// primary sound recordings in ReleaseResourceReferenceList order, disc 1.
func (n *newRelease) listedSlots(rel *element) []slot {
	var out []slot
	d := &disc{number: 1, path: rel.pathTo("ReleaseResourceReferenceList")}
	for _, ref := range rel.findAll("ReleaseResourceReferenceList", "ReleaseResourceReference") {
		if t := ref.attr("ReleaseResourceType"); t != "" && t != "PrimaryResource" {
			continue
		}
		res := n.resource(ref, "")
		if res == nil || res.name != "SoundRecording" {
			continue
		}
		d.last++
		out = append(out, slot{recording: res, disc: d.number, discPath: d.path, number: d.last, numberPath: ref.loc()})
	}
	return out
}

// sequence reads a SequenceNumber, reporting one that is not a whole number.
func (n *newRelease) sequence(sn *element) (int, bool) {
	v, err := strconv.Atoi(sn.value())
	if err != nil {
		n.ps.add(sn.loc(), "%s is not a whole number", release.Quote(sn.value()))
		return 0, false
	}
	return v, true
}

// track reads the i-th track from its sound recording. ERN 3.8 keeps most
// fields in the SoundRecordingDetailsByTerritory block for Worldwide (or the
// first); ERN 4 on the recording itself, the 4.3 ISRC and P-line in its
// SoundRecordingEdition.
func (n *newRelease) track(i int, s slot) release.DraftTrack {
	sr := s.recording
	meta := sr
	if n.v38 {
		meta = byTerritory(sr.all("SoundRecordingDetailsByTerritory"))
	}
	src := &n.src

	var t release.DraftTrack
	assignItem(&t.ISRC, src, "tracks", i, "isrc", firstNonEmpty(isrcElements(sr)))
	title, sub := n.title(sr, meta)
	assignItem(&t.Title, src, "tracks", i, "title", title)
	assignItem(&t.Version, src, "tracks", i, "version", sub)
	var artist, artistPath string
	t.Artists, artist, artistPath = n.credits(meta)
	if artistPath != "" {
		t.Artist = artist
		src.setItem("tracks", i, "artist", artistPath)
	}
	assignItem(&t.Duration, src, "tracks", i, "duration", sr.first("Duration"))
	assignItem(&t.PLine, src, "tracks", i, "pline",
		pick("PLineText", sr.findAll("SoundRecordingEdition", "PLine"), sr.all("PLine"), meta.all("PLine")))
	assignItem(&t.ParentalWarning, src, "tracks", i, "parentalWarning", pick("", meta.all("ParentalWarningType")))
	t.Disc, t.Number = s.disc, s.number
	src.setItem("tracks", i, "disc", s.discPath)
	src.setItem("tracks", i, "number", s.numberPath)
	return t
}
