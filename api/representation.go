package api

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// The representation types below describe both wire formats at once: the
// xml tags give 7digital's XML (field order is element order, and follows
// 7digital's own api-stub response for track/details), the json tags the
// JSON variant, where attributes become keys, numbers and booleans keep
// their JSON types, prices stay strings and the packages and formats
// wrappers become plain arrays.
//
// Legacy elements 7digital clients no longer read are not emitted: url,
// the flat track price, streamingReleaseDate, formats@availableDrmFree and
// the singular package/format.

// envelope is the root of every body: <response status="…" version="1.2">
// around exactly one payload, or {"status":…,"version":"1.2",payload}.
type envelope struct {
	XMLName  xml.Name           `xml:"response" json:"-"`
	Status   string             `xml:"status,attr" json:"status"`
	Version  string             `xml:"version,attr" json:"version"`
	Error    *errorRep          `xml:"error,omitempty" json:"error,omitempty"`
	Track    *trackRep          `xml:"track,omitempty" json:"track,omitempty"`
	Release  *releaseDetailsRep `xml:"release,omitempty" json:"release,omitempty"`
	Releases *releasesRep       `xml:"releases,omitempty" json:"releases,omitempty"`
}

// apiVersion is the version every envelope states.
const apiVersion = "1.2"

type errorRep struct {
	XMLName xml.Name `xml:"error" json:"-"`
	Code    int      `xml:"code,attr" json:"code"`
	Message string   `xml:"errorMessage" json:"errorMessage"`
}

type artistRep struct {
	ID        int64  `xml:"id,attr" json:"id"`
	Name      string `xml:"name" json:"name"`
	AppearsAs string `xml:"appearsAs" json:"appearsAs"`
	Slug      string `xml:"slug" json:"slug"`
}

type labelRep struct {
	Name string `xml:"name" json:"name"`
}

// releaseRep is a release as track/details nests it.
type releaseRep struct {
	ID      int64     `xml:"id,attr" json:"id"`
	Title   string    `xml:"title" json:"title"`
	Version string    `xml:"version" json:"version"`
	Type    string    `xml:"type" json:"type"`
	Barcode string    `xml:"barcode" json:"barcode"`
	Artist  artistRep `xml:"artist" json:"artist"`
	Slug    string    `xml:"slug" json:"slug"`
	Image   string    `xml:"image" json:"image"`
	Label   *labelRep `xml:"label,omitempty" json:"label,omitempty"`
}

// releasesRep is a page of releases (party/releases), paged as 7digital
// pages artist/releases.
type releasesRep struct {
	Page       int          `xml:"page,attr" json:"page"`
	PageSize   int          `xml:"pageSize,attr" json:"pageSize"`
	TotalItems int          `xml:"totalItems,attr" json:"totalItems"`
	Releases   []releaseRep `xml:"release" json:"release"`
}

// releaseDetailsRep is the payload of release/details/upc: the release,
// then its tracklist.
type releaseDetailsRep struct {
	XMLName xml.Name `xml:"release" json:"-"`
	releaseRep
	Tracks []trackRep `xml:"tracks>track" json:"tracks"`
}

type priceRep struct {
	CurrencyCode           string `xml:"currencyCode" json:"currencyCode"`
	SevendigitalPrice      string `xml:"sevendigitalPrice" json:"sevendigitalPrice"`
	RecommendedRetailPrice string `xml:"recommendedRetailPrice" json:"recommendedRetailPrice"`
}

type formatRep struct {
	ID          int    `xml:"id,attr" json:"id"`
	Description string `xml:"description" json:"description"`
}

type packageRep struct {
	ID          int         `xml:"id,attr" json:"id"`
	Description string      `xml:"description" json:"description"`
	Price       priceRep    `xml:"price" json:"price"`
	Formats     []formatRep `xml:"formats>format" json:"formats"`
}

type downloadRep struct {
	ReleaseDate string       `xml:"releaseDate,omitempty" json:"releaseDate,omitempty"`
	Packages    []packageRep `xml:"packages>package,omitempty" json:"packages,omitempty"`
}

type streamingRep struct {
	ReleaseDate string `xml:"releaseDate,omitempty" json:"releaseDate,omitempty"`
}

type trackRep struct {
	XMLName               xml.Name      `xml:"track" json:"-"`
	ID                    int64         `xml:"id,attr" json:"id"`
	Title                 string        `xml:"title" json:"title"`
	Version               string        `xml:"version" json:"version"`
	Artist                artistRep     `xml:"artist" json:"artist"`
	TrackNumber           int           `xml:"trackNumber" json:"trackNumber"`
	Duration              int           `xml:"duration" json:"duration"`
	ExplicitContent       bool          `xml:"explicitContent" json:"explicitContent"`
	ISRC                  string        `xml:"isrc" json:"isrc"`
	Type                  string        `xml:"type" json:"type"`
	Release               releaseRep    `xml:"release" json:"release"`
	Slug                  string        `xml:"slug" json:"slug"`
	DiscNumber            int           `xml:"discNumber" json:"discNumber"`
	Number                int           `xml:"number" json:"number"`
	Download              *downloadRep  `xml:"download,omitempty" json:"download,omitempty"`
	SubscriptionStreaming *streamingRep `xml:"subscriptionStreaming,omitempty" json:"subscriptionStreaming,omitempty"`
	AdSupportedStreaming  *streamingRep `xml:"adSupportedStreaming,omitempty" json:"adSupportedStreaming,omitempty"`
	PLine                 string        `xml:"pline,omitempty" json:"pline,omitempty"`
}

func artistRepOf(a catalogue.Artist) artistRep {
	return artistRep{ID: a.ID, Name: a.Name, AppearsAs: a.Name, Slug: slug(a.Name)}
}

// releaseType maps a DDEX release type to 7digital's capitalised set.
func releaseType(t string) string {
	switch strings.ToLower(t) {
	case "single", "singleresourcerelease", "trackrelease":
		return "Single"
	case "videosingle", "videoalbum", "shortformmusicalworkvideo", "longformmusicalworkvideo":
		return "Video"
	default:
		return "Album"
	}
}

// imageURL is the release's sleeve artwork at size pixels.
func (h *handler) imageURL(releaseID int64, size int) string {
	return h.cfg.ImageBaseURL + strconv.FormatInt(releaseID, 10) + "_" + strconv.Itoa(size) + ".jpg"
}

func (h *handler) releaseRep(r catalogue.Release, v view) releaseRep {
	x := releaseRep{
		ID: r.ID, Title: r.Title, Version: r.Version, Type: releaseType(r.Type), Barcode: r.UPC,
		Artist: artistRepOf(r.Artist), Slug: slug(r.Title), Image: h.imageURL(r.ID, v.imageSize),
	}
	if r.Label != "" {
		x.Label = &labelRep{Name: r.Label}
	}
	return x
}

// trackRep renders t; a usage block appears only when it was requested and
// the usage is offered in the territory.
func (h *handler) trackRep(t catalogue.Track, v view) *trackRep {
	x := &trackRep{
		ID: t.ID, Title: t.Title, Version: t.Version, Artist: artistRepOf(t.Artist), TrackNumber: t.Number,
		Duration: t.DurationSeconds, ExplicitContent: t.Explicit(), ISRC: t.ISRC, Type: "audio",
		Release: h.releaseRep(t.Release, v), Slug: slug(t.Title), DiscNumber: t.Disc, Number: t.Number, PLine: t.PLine,
	}
	if v.usages.download && t.Download != nil {
		d := &downloadRep{ReleaseDate: formatTime(t.Download.From)}
		if p := t.Download.Price; p != nil && p.Amount != "" {
			d.Packages = []packageRep{{ID: 2, Description: "standard",
				Price:   priceRep{CurrencyCode: p.Currency, SevendigitalPrice: p.Amount, RecommendedRetailPrice: p.Amount},
				Formats: []formatRep{{ID: 17, Description: "MP3 320"}}}}
		}
		x.Download = d
	}
	if v.usages.subscription && t.Subscription != nil {
		x.SubscriptionStreaming = &streamingRep{ReleaseDate: formatTime(t.Subscription.From)}
	}
	if v.usages.adSupported && t.AdSupported != nil {
		x.AdSupportedStreaming = &streamingRep{ReleaseDate: formatTime(t.AdSupported.From)}
	}
	return x
}

// formatTime writes 7digital's date-time form: UTC, a Z, no fraction; ""
// for an offer with no known start.
func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// slug lower-cases s and joins its words with hyphens, as 7digital's slugs
// do: each run of characters that are neither letters (\p{L}) nor numbers
// (\p{N}) becomes one hyphen, and none leads or trails. Three slugs are
// made per answer, so it is a loop over the runes rather than a regexp
// replacement, which was a tenth of a hot read's CPU.
func slug(s string) string {
	s = strings.ToLower(s)
	b := make([]byte, 0, len(s))
	gap := false
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			gap = len(b) > 0
			continue
		}
		if gap {
			b = append(b, '-')
			gap = false
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
