package api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
)

// trackByISRC answers track/details/isrc: the track/details response of
// the track with an ISRC. When several releases carry the recording, it is
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
	ids, err := h.ids.TrackIDsByISRC(ctx, isrc.String())
	if err != nil {
		return err
	}
	keys := []string{isrcKey(isrc.String())}
	now := h.cfg.Now()
	known := false
	for _, id := range ids {
		t, err := h.tracks.Track(ctx, id, v.country, now)
		if errors.Is(err, catalogue.ErrTrackNotFound) {
			continue // purged since the index answered
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

// releaseByUPC answers release/details/upc: the release with a barcode and
// its whole tracklist, each track as track/details shows it in the
// country (a track not offered there has no usage blocks).
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
	ctx := c.Request().Context()
	forms := upcForms(upc.String())
	// The release's own track rows: a track id that a legacy log put on two
	// releases still shows this release's copy here (docs/events.md).
	var tracks []catalogue.Track
	for _, f := range forms {
		if tracks, err = h.ids.TracksByUPC(ctx, f, v.country, h.cfg.Now()); err != nil {
			return err
		}
		if len(tracks) > 0 {
			break
		}
	}
	keys := make([]string, len(forms))
	for i, f := range forms {
		keys[i] = "upc-" + f
	}
	if len(tracks) == 0 {
		return &Error{Code: CodeNotFound, Message: "No release found with UPC " + upc.String(), surrogateKeys: keys}
	}
	latest, available := tracks[0], false
	for _, t := range tracks {
		if t.Release.Sequence > latest.Release.Sequence {
			latest = t
		}
		available = available || t.Available()
	}
	rel := latest.Release
	if !available {
		return &Error{Code: CodeNotAvailable, Message: "Release with UPC " + upc.String() + " is not available in " + v.country,
			surrogateKeys: append([]string{releaseKey(rel.ID)}, keys...)}
	}
	body := &releaseDetailsRep{releaseRep: h.releaseRep(rel, v)}
	for _, t := range tracks {
		body.Tracks = append(body.Tracks, *h.trackRep(t, v))
	}
	return h.ok(c, v, okBody{
		envelope: envelope{Release: body},
		tag:      "r" + strconv.FormatInt(rel.ID, 10),
		sequence: rel.Sequence,
		keys:     append([]string{releaseKey(rel.ID)}, keys...),
	})
}

// upcForms returns a barcode and then its other GTIN spellings: the same
// number written with 12, 13 or 14 digits by adding or removing leading
// zeros (which keeps the check digit valid). Labels deliver a release's
// ICPN as a 12-digit UPC-A or a 13-digit EAN while partners may hold
// either, so a look-up tries each spelling in turn.
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
