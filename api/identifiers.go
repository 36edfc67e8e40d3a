package api

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
)

// Bounds of party/releases (docs/api.md).
const (
	// defaultPageSize is pageSize when a request names none (7digital's).
	defaultPageSize = 10
	// maxPageSize is the largest pageSize served.
	maxPageSize = 100
	// maxPage is the deepest page served.
	maxPage = 10000
	// maxPartyID is the longest party id served, as ingest bounds a
	// delivery's sender and SentOnBehalfOf.
	maxPartyID = 256
)

// gridPattern is a GRid as releases carry it (letters and digits, upper
// case once read).
var gridPattern = regexp.MustCompile(`^[A-Z0-9]{1,64}$`)

// trackByISRC answers track/details/isrc: the track/details response of
// the track with an ISRC. The identifiers read model names every track
// carrying the recording; when several releases carry it, the answer is
// the track with the lowest id that is offered in the country.
func (h *handler) trackByISRC(c echo.Context) error {
	q := params(c.QueryParams())
	raw, err := q.required("isrc")
	if err != nil {
		return err
	}
	isrc, err := release.ParseISRC(raw)
	if err != nil {
		return invalidParameter("isrc", raw)
	}
	v, err := h.view(q)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	found, err := h.ids.TracksByISRC(ctx, isrc.String())
	if err != nil {
		return err
	}
	keys := []string{isrcKey(isrc.String())}
	now := h.cfg.Now()
	known := false
	for _, f := range found {
		t, err := h.tracks.Track(ctx, f.ID, v.country, now)
		if errors.Is(err, catalogue.ErrTrackNotFound) {
			continue // not in the track-details read model (yet, or any more)
		}
		if err != nil {
			return err
		}
		known = true
		if !t.Available() {
			// The 404 2002 below is about this release too: a deal or
			// takedown event names only the release, so its purge must
			// reach the answer through release-<id>.
			keys = append(keys, releaseKey(t.Release.ID))
			continue
		}
		return h.ok(c, v, okBody{
			envelope: envelope{Track: h.trackRep(t, v)},
			tag:      "t" + strconv.FormatInt(t.ID, 10) + "-r" + strconv.FormatInt(t.Release.ID, 10),
			sequence: t.Release.Sequence,
			keys:     []string{trackKey(t.ID), releaseKey(t.Release.ID), keys[0]},
		})
	}
	if known {
		return &Error{Code: CodeNotAvailable, Message: "Track with ISRC " + isrc.String() + " is not available in " + v.country,
			surrogateKeys: keys}
	}
	return &Error{Code: CodeNotFound, Message: "No track found with ISRC " + isrc.String(), surrogateKeys: keys}
}

// releaseByUPC answers release/details/upc: the release with a barcode,
// in any of its 12-, 13- or 14-digit spellings, and its whole tracklist,
// each track as track/details shows it in the country (a track not
// offered there has no usage blocks).
func (h *handler) releaseByUPC(c echo.Context) error {
	q := params(c.QueryParams())
	raw, err := q.required("upc")
	if err != nil {
		return err
	}
	upc, err := release.ParseUPC(raw)
	if err != nil {
		return invalidParameter("upc", raw)
	}
	v, err := h.view(q)
	if err != nil {
		return err
	}
	forms := upcForms(upc.String())
	keys := make([]string, len(forms))
	for i, f := range forms {
		keys[i] = "upc-" + f
	}
	rel, found, err := h.ids.ReleaseByGTIN(c.Request().Context(), gtin14(upc.String()))
	if err != nil {
		return err
	}
	return h.releaseDetails(c, v, rel, found, "UPC "+upc.String(), keys)
}

// releaseByGRid answers release/details/grid: the release with a GRid,
// as release/details/upc shows it.
func (h *handler) releaseByGRid(c echo.Context) error {
	q := params(c.QueryParams())
	raw, err := q.required("grid")
	if err != nil {
		return err
	}
	grid := strings.ToUpper(raw)
	if !gridPattern.MatchString(grid) {
		return invalidParameter("grid", raw)
	}
	v, err := h.view(q)
	if err != nil {
		return err
	}
	rel, found, err := h.ids.ReleaseByGRid(c.Request().Context(), grid)
	if err != nil {
		return err
	}
	return h.releaseDetails(c, v, rel, found, "GRid "+grid, []string{"grid-" + grid})
}

// releaseDetails renders a release the identifiers read model found: its
// tracks as the track-details read model offers them in the country. A
// track id that a legacy log put on two releases is answered there from
// its other release, and left out here.
func (h *handler) releaseDetails(c echo.Context, v view, rel catalogue.IdentifiedRelease, found bool, what string, keys []string) error {
	ctx := c.Request().Context()
	now := h.cfg.Now()
	var tracks []catalogue.Track
	if found {
		for _, it := range rel.Tracks {
			t, err := h.tracks.Track(ctx, it.ID, v.country, now)
			if errors.Is(err, catalogue.ErrTrackNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if t.Release.ID == rel.ID {
				tracks = append(tracks, t)
			}
		}
	}
	if len(tracks) == 0 {
		return &Error{Code: CodeNotFound, Message: "No release found with " + what, surrogateKeys: keys}
	}
	latest, available := tracks[0], false
	for _, t := range tracks {
		if t.Release.Sequence > latest.Release.Sequence {
			latest = t
		}
		available = available || t.Available()
	}
	r := latest.Release
	if !available {
		return &Error{Code: CodeNotAvailable, Message: "Release with " + what + " is not available in " + v.country,
			surrogateKeys: append([]string{releaseKey(r.ID)}, keys...)}
	}
	body := &releaseDetailsRep{releaseRep: h.releaseRep(r, v)}
	for _, t := range tracks {
		body.Tracks = append(body.Tracks, *h.trackRep(t, v))
	}
	return h.ok(c, v, okBody{
		envelope: envelope{Release: body},
		tag:      "r" + strconv.FormatInt(r.ID, 10),
		sequence: r.Sequence,
		keys:     append([]string{releaseKey(r.ID)}, keys...),
	})
}

// partyReleases answers party/releases: a page of the releases a DDEX
// party (a label, a distributor: a release's sender or the party it was
// sent on behalf of) owns, in release id order, as 7digital pages
// artist/releases (page from 1, pageSize, totalItems).
func (h *handler) partyReleases(c echo.Context) error {
	q := params(c.QueryParams())
	party, err := q.required("partyId")
	if err != nil {
		return err
	}
	if len(party) > maxPartyID {
		return invalidParameter("partyId", "(longer than "+strconv.Itoa(maxPartyID)+" bytes)")
	}
	page, err := intParam(q, "page", 1, maxPage)
	if err != nil {
		return err
	}
	size, err := intParam(q, "pageSize", defaultPageSize, maxPageSize)
	if err != nil {
		return err
	}
	v, err := h.view(q)
	if err != nil {
		return err
	}
	rels, total, err := h.ids.ReleasesByParty(c.Request().Context(), party, page, size)
	if err != nil {
		return err
	}
	list := &releasesRep{Page: page, PageSize: size, TotalItems: total, Releases: []releaseRep{}}
	var seq int64
	for _, r := range rels {
		list.Releases = append(list.Releases, h.releaseRep(r.Release, v))
		seq = max(seq, r.Sequence)
	}
	return h.ok(c, v, okBody{
		envelope: envelope{Releases: list},
		tag:      "p" + strconv.Itoa(page) + "x" + strconv.Itoa(size) + "n" + strconv.Itoa(total),
		sequence: seq,
		keys:     []string{"party-" + url.PathEscape(party)},
	})
}

// intParam reads an optional positive integer parameter of at most limit.
func intParam(q params, name string, def, limit int) (int, error) {
	raw, ok := q.value(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > limit {
		return 0, invalidParameter(name, raw)
	}
	return n, nil
}

// gtin14 writes a barcode with 14 digits, the form the identifiers read
// model keys releases by: a UPC-A, its EAN-13 and its GTIN-14 spellings
// differ only in leading zeros.
func gtin14(upc string) string {
	if len(upc) >= 14 {
		return upc
	}
	return strings.Repeat("0", 14-len(upc)) + upc
}

// upcForms returns a barcode and then its other GTIN spellings: the same
// number written with 12, 13 or 14 digits by adding or removing leading
// zeros (which keeps the check digit valid). Labels deliver a release's
// ICPN as a 12-digit UPC-A or a 13-digit EAN while partners may hold
// either; each spelling is a surrogate key of the answer.
func upcForms(upc string) []string {
	forms := []string{upc}
	digits := strings.TrimLeft(upc, "0")
	for n := 12; n <= 14; n++ {
		if len(digits) > n {
			continue
		}
		if f := strings.Repeat("0", n-len(digits)) + digits; f != upc {
			forms = append(forms, f)
		}
	}
	return forms
}
