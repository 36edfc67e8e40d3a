// Package api is catalog's public catalogue API, in the wire shape of
// 7digital's API 1.2 so existing 7digital clients keep working. The
// contract is ../shared/reference/7digital/track-details.md; OpenAPI
// returns the machine-readable description (openapi.yaml, an OpenAPI 3.1
// document the gateway serves at /openapi.yaml).
//
// # Routes
//
// Every route is GET, and is served with and without the 1.2 version
// prefix (7digital's own stub serves the unprefixed form):
//
//	/1.2/track/details?trackId=12345           a track in a territory
//	/1.2/track/details/isrc?isrc=USCA29600191  the same answer, found by ISRC
//	/1.2/release/details/upc?upc=00724349501058 a release and its tracklist, found by UPC/EAN
//
// The two identifier routes exist only when NewHandler is given
// WithIdentifiers (trackdetailspg.Store implements IdentifierReader).
// track/details/isrc answers the track with the lowest id among those
// carrying the ISRC that is offered in the country. release/details/upc
// tries the barcode as given, then its other GTIN-12/13/14 spellings
// (leading zeros added or removed), and answers <release id=…> with title,
// version, type, barcode, artist, slug, image, label, then
// <tracks><track id=…>…</tracks>: the whole tracklist in disc and track
// order, each track exactly as track/details renders it for the country (a
// track not offered there has no usage blocks). A malformed ISRC or UPC is
// error 1002, an unknown one 2001, one with nothing offered in the country
// 2002.
//
// # Parameters
//
// Parameter names match case-insensitively, empty values count as absent,
// and unknown parameters (page, oauth_signature, …) are ignored. country
// (default Config.DefaultCountry, GB) decides availability and currency;
// usageTypes (default download) picks the usage blocks; imageSize (default
// 50, one of 33, 50, 100, 180, 182, 200, 350, 500, 800: 1002 when not an
// integer, 1003 when not one of those) sizes the release's sleeve, whose
// URL is Config.ImageBaseURL + "{releaseId}_{imageSize}.jpg",
// http://artwork.catalog.example/sleeve/1302_50.jpg by default; shopId is
// accepted when it is an integer (else 1002) and changes nothing, since
// this catalogue has one shop. The consumer key, quotas and the
// X-RateLimit headers belong to the gateway in front.
//
// # Formats
//
// XML is the default: an XML declaration, double-quoted attributes and
// <response status="ok" version="1.2"> around one payload element. The
// <track> element follows the order of 7digital's own api-stub response
// (the reference's fixture): pline comes last and the track's own slug
// follows <release>, whose <image> follows its <slug>. Legacy elements
// (url, the flat price, streamingReleaseDate, formats@availableDrmFree,
// the singular package/format) are not emitted, and neither is
// download/previewDate, which the reference marks optional: no delivery we
// store has a preview date, and inventing one would announce clips.
//
// JSON is sent when the request's Accept prefers application/json to
// application/xml and text/xml by q-value (on a tie a named type beats a
// wildcard, then the first listed wins; no Accept, as from the node
// client, means XML): {"status":"ok","version":"1.2","track":{…}} with the
// element names as keys, attributes as keys (id), numbers and booleans as
// JSON numbers and booleans, prices as strings, and packages and formats as
// plain arrays. Errors use the same negotiation:
// {"status":"error","version":"1.2","error":{"code":2001,"errorMessage":"…"}}.
//
// # Errors
//
// errorHandler is the one place errors become responses. Codes and
// statuses: 1001 missing parameter, 1002 invalid value, 1003 value out of
// range, 1006 unknown usageTypes value (all 400); 2001 not found and 2002
// not offered in the territory (404); 9001 anything unexpected (500, with
// the cause logged, not sent).
//
// # HTTP caching
//
// Every 200 carries:
//
//   - ETag: a weak tag W/"t<track>-r<release>.<sequence>-<hash>" (release
//     routes: W/"r<release>.<sequence>-<hash>"), where sequence is
//     catalogue.Release.Sequence, the read-model version, and hash is a
//     64-bit xxHash of the representation's parameters (territory, usage
//     types, image size, format) and of the body bytes. The tag names the
//     version so operators can see what a cache holds; the hash makes each
//     representation's tag distinct and makes the tag change whenever the
//     body does, including when an offer's window opens or closes with the
//     clock (no new release version) or a rebuilt read model or a new API
//     version renders the same version differently. Rendering to compute
//     the tag costs microseconds; the read it needs is done anyway.
//   - Cache-Control: public, max-age=60 (7digital sent private, max-age=60;
//     public lets the CDN keep it) and Vary: Accept.
//   - Surrogate-Key: track-<id> release-<id> (plus isrc-<ISRC> on the ISRC
//     route; release-<id> upc-<barcode>… on the UPC route), which a CDN can
//     purge by when a release event changes the read model.
//
// A request whose If-None-Match names the current tag (weak comparison, or
// "*") gets 304 with the same headers and no body. There is no
// Last-Modified: the read model keeps a version counter per release, not
// the time of its last change (the release date is a commercial date, not
// a modification time), so any date would be invented; ETags carry the
// revalidation instead, and If-Modified-Since is ignored.
//
// Errors carry Cache-Control: no-store, except 404s (2001, 2002), which
// carry public, max-age=10: long enough to absorb a burst of look-ups of an
// id that does not exist, short enough that a newly delivered track shows
// up within seconds, and they carry Surrogate-Key track-<id> (or
// isrc-<ISRC>, upc-<barcode>) so the purge for the delivery that creates
// the resource also drops the cached "not found"; a 2002 also carries
// release-<id>, since a deal change names only the release. PurgeKeys
// gives the keys a committed change must purge (api/cdnpurge sends them). A CDN that honours
// public must sit behind the gateway (or key on the consumer key itself):
// public lets a shared cache store answers to requests that carry an
// Authorization header.
package api
