package api

import (
	"encoding/xml"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// The envelope 7digital clients expect: an XML declaration, double-quoted
// attributes, and status on the <response start tag (the C# client finds it
// by text search). The xsi/xsd namespace declarations of 7digital's own
// responses are left out: they declare nothing the body uses, and clients
// strip them.
const xmlDecl = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

type body struct {
	status  string
	payload any
}

func writeXML(c echo.Context, code int, b body) error {
	inner, err := xml.MarshalIndent(b.payload, "  ", "  ")
	if err != nil {
		return err
	}
	var sb strings.Builder
	sb.WriteString(xmlDecl)
	sb.WriteString(`<response status="` + b.status + `" version="1.2">` + "\n")
	sb.Write(inner)
	sb.WriteString("\n</response>\n")
	return c.Blob(code, "application/xml; charset=utf-8", []byte(sb.String()))
}

type xmlError struct {
	XMLName xml.Name `xml:"error"`
	Code    int      `xml:"code,attr"`
	Message string   `xml:"errorMessage"`
}

func errorXML(e *Error) body {
	return body{status: "error", payload: xmlError{Code: e.Code, Message: e.Message}}
}

type xmlArtist struct {
	ID        int64  `xml:"id,attr"`
	Name      string `xml:"name"`
	AppearsAs string `xml:"appearsAs"`
	Slug      string `xml:"slug"`
}

type xmlLabel struct {
	Name string `xml:"name"`
}

type xmlRelease struct {
	ID      int64     `xml:"id,attr"`
	Title   string    `xml:"title"`
	Version string    `xml:"version"`
	Type    string    `xml:"type"`
	Barcode string    `xml:"barcode"`
	Artist  xmlArtist `xml:"artist"`
	Slug    string    `xml:"slug"`
	Label   *xmlLabel `xml:"label,omitempty"`
}

type xmlPrice struct {
	CurrencyCode           string `xml:"currencyCode"`
	SevendigitalPrice      string `xml:"sevendigitalPrice"`
	RecommendedRetailPrice string `xml:"recommendedRetailPrice"`
}

type xmlFormat struct {
	ID          int    `xml:"id,attr"`
	Description string `xml:"description"`
}

type xmlPackage struct {
	ID          int         `xml:"id,attr"`
	Description string      `xml:"description"`
	Price       xmlPrice    `xml:"price"`
	Formats     []xmlFormat `xml:"formats>format"`
}

type xmlPackages struct {
	Package []xmlPackage `xml:"package"`
}

type xmlDownload struct {
	ReleaseDate string       `xml:"releaseDate,omitempty"`
	Packages    *xmlPackages `xml:"packages,omitempty"`
}

type xmlStreaming struct {
	ReleaseDate string `xml:"releaseDate,omitempty"`
}

type xmlTrack struct {
	XMLName               xml.Name      `xml:"track"`
	ID                    int64         `xml:"id,attr"`
	Title                 string        `xml:"title"`
	Version               string        `xml:"version"`
	Artist                xmlArtist     `xml:"artist"`
	TrackNumber           int           `xml:"trackNumber"`
	Duration              int           `xml:"duration"`
	ExplicitContent       bool          `xml:"explicitContent"`
	ISRC                  string        `xml:"isrc"`
	PLine                 string        `xml:"pline,omitempty"`
	Type                  string        `xml:"type"`
	Release               xmlRelease    `xml:"release"`
	DiscNumber            int           `xml:"discNumber"`
	Number                int           `xml:"number"`
	Download              *xmlDownload  `xml:"download,omitempty"`
	SubscriptionStreaming *xmlStreaming `xml:"subscriptionStreaming,omitempty"`
	AdSupportedStreaming  *xmlStreaming `xml:"adSupportedStreaming,omitempty"`
}

func artistXML(a catalogue.Artist) xmlArtist {
	return xmlArtist{ID: a.ID, Name: a.Name, AppearsAs: a.Name, Slug: slug(a.Name)}
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

// trackXML renders t; a usage block appears only when it was requested and
// the usage is offered in the territory.
func trackXML(t catalogue.Track, usages map[string]bool) body {
	x := xmlTrack{
		ID: t.ID, Title: t.Title, Version: t.Version, Artist: artistXML(t.Artist), TrackNumber: t.Number, Duration: t.DurationSeconds,
		ExplicitContent: t.Explicit(), ISRC: t.ISRC, PLine: t.PLine, Type: "audio", DiscNumber: t.Disc, Number: t.Number,
		Release: xmlRelease{
			ID: t.Release.ID, Title: t.Release.Title, Version: t.Release.Version, Type: releaseType(t.Release.Type), Barcode: t.Release.UPC,
			Artist: artistXML(t.Release.Artist), Slug: slug(t.Release.Title),
		},
	}
	if t.Release.Label != "" {
		x.Release.Label = &xmlLabel{Name: t.Release.Label}
	}
	if usages[usageDownload] && t.Download != nil {
		d := &xmlDownload{ReleaseDate: formatTime(t.Download.From)}
		if p := t.Download.Price; p != nil && p.Amount != "" {
			d.Packages = &xmlPackages{Package: []xmlPackage{{ID: 2, Description: "standard",
				Price:   xmlPrice{CurrencyCode: p.Currency, SevendigitalPrice: p.Amount, RecommendedRetailPrice: p.Amount},
				Formats: []xmlFormat{{ID: 17, Description: "MP3 320"}}}}}
		}
		x.Download = d
	}
	if usages[usageSubscription] && t.Subscription != nil {
		x.SubscriptionStreaming = &xmlStreaming{ReleaseDate: formatTime(t.Subscription.From)}
	}
	if usages[usageAdSupported] && t.AdSupported != nil {
		x.AdSupportedStreaming = &xmlStreaming{ReleaseDate: formatTime(t.AdSupported.From)}
	}
	return body{status: "ok", payload: x}
}

// formatTime writes 7digital's date-time form: UTC, a Z, no fraction; ""
// for an offer with no known start.
func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

var nonSlug = regexp.MustCompile(`[^\p{L}\p{N}]+`)

// slug lower-cases s and joins its words with hyphens, as 7digital's slugs do.
func slug(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}
