package api

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// appendTrackXML appends the XML body of a track/details answer (env with
// a Track and nothing else) to b: byte for byte what xml.MarshalIndent(env,
// "", "  ") writes after xmlDecl, and the closing newline. It is the one
// answer every hot read renders, and encoding/xml finds its way through
// the representation types by reflection on every call (a third of the
// rendering's CPU and most of its allocations), so it is written out here
// by hand; every other body goes through encoding/xml, and a test holds
// this one to encoding/xml's output.
func appendTrackXML(b []byte, env envelope) []byte {
	w := xmlWriter{b: b}
	w.b = append(w.b, xmlDecl...)
	w.indent(1)
	w.b = append(w.b, `<response status="`...)
	w.escape(env.Status)
	w.b = append(w.b, `" version="`...)
	w.escape(env.Version)
	w.b = append(w.b, `">`...)
	t := env.Track
	w.startID("track", t.ID)
	w.leaf("title", t.Title)
	w.leaf("version", t.Version)
	w.artist(t.Artist)
	w.leafInt("trackNumber", int64(t.TrackNumber))
	w.leafInt("duration", int64(t.Duration))
	w.leafBool("explicitContent", t.ExplicitContent)
	w.leaf("isrc", t.ISRC)
	w.leaf("type", t.Type)
	w.release(t.Release)
	w.leaf("slug", t.Slug)
	w.leafInt("discNumber", int64(t.DiscNumber))
	w.leafInt("number", int64(t.Number))
	if d := t.Download; d != nil {
		w.start("download")
		w.leafOmitEmpty("releaseDate", d.ReleaseDate)
		// encoding/xml writes the packages wrapper even when omitempty
		// leaves out every package: a download without a price has
		// <packages></packages>.
		w.start("packages")
		for _, p := range d.Packages {
			w.startID("package", int64(p.ID))
			w.leaf("description", p.Description)
			w.start("price")
			w.leaf("currencyCode", p.Price.CurrencyCode)
			w.leaf("sevendigitalPrice", p.Price.SevendigitalPrice)
			w.leaf("recommendedRetailPrice", p.Price.RecommendedRetailPrice)
			w.end("price")
			w.start("formats")
			for _, f := range p.Formats {
				w.startID("format", int64(f.ID))
				w.leaf("description", f.Description)
				w.end("format")
			}
			w.end("formats")
			w.end("package")
		}
		w.end("packages")
		w.end("download")
	}
	w.streaming("subscriptionStreaming", t.SubscriptionStreaming)
	w.streaming("adSupportedStreaming", t.AdSupportedStreaming)
	w.leafOmitEmpty("pline", t.PLine)
	w.end("track")
	w.end("response")
	return append(w.b, '\n')
}

// xmlWriter appends indented XML as encoding/xml's printer does with an
// empty prefix and a two-space indent: each start tag on a new line, and
// an end tag on a line of its own unless nothing but text came since its
// start tag.
type xmlWriter struct {
	b          []byte
	depth      int
	putNewline bool
	indentedIn bool
}

// indent is encoding/xml's printer.writeIndent.
func (w *xmlWriter) indent(delta int) {
	if delta < 0 {
		w.depth--
		if w.indentedIn {
			w.indentedIn = false
			return
		}
		w.indentedIn = false
	}
	if w.putNewline {
		w.b = append(w.b, '\n')
	} else {
		w.putNewline = true
	}
	for range w.depth {
		w.b = append(w.b, "  "...)
	}
	if delta > 0 {
		w.depth++
		w.indentedIn = true
	}
}

func (w *xmlWriter) start(name string) {
	w.indent(1)
	w.b = append(append(append(w.b, '<'), name...), '>')
}

func (w *xmlWriter) startID(name string, id int64) {
	w.indent(1)
	w.b = append(append(append(w.b, '<'), name...), ` id="`...)
	w.b = append(strconv.AppendInt(w.b, id, 10), `">`...)
}

func (w *xmlWriter) end(name string) {
	w.indent(-1)
	w.b = append(append(append(w.b, "</"...), name...), '>')
}

func (w *xmlWriter) leaf(name, text string) {
	w.start(name)
	w.escape(text)
	w.end(name)
}

func (w *xmlWriter) leafOmitEmpty(name, text string) {
	if text != "" {
		w.leaf(name, text)
	}
}

func (w *xmlWriter) leafInt(name string, n int64) {
	w.start(name)
	w.b = strconv.AppendInt(w.b, n, 10)
	w.end(name)
}

func (w *xmlWriter) leafBool(name string, v bool) {
	w.start(name)
	w.b = strconv.AppendBool(w.b, v)
	w.end(name)
}

func (w *xmlWriter) artist(a artistRep) {
	w.startID("artist", a.ID)
	w.leaf("name", a.Name)
	w.leaf("appearsAs", a.AppearsAs)
	w.leaf("slug", a.Slug)
	w.end("artist")
}

func (w *xmlWriter) release(r releaseRep) {
	w.startID("release", r.ID)
	w.leaf("title", r.Title)
	w.leaf("version", r.Version)
	w.leaf("type", r.Type)
	w.leaf("barcode", r.Barcode)
	w.artist(r.Artist)
	w.leaf("slug", r.Slug)
	w.leaf("image", r.Image)
	if r.Label != nil {
		w.start("label")
		w.leaf("name", r.Label.Name)
		w.end("label")
	}
	w.end("release")
}

func (w *xmlWriter) streaming(name string, s *streamingRep) {
	if s == nil {
		return
	}
	w.start(name)
	w.leafOmitEmpty("releaseDate", s.ReleaseDate)
	w.end(name)
}

// escape appends s as encoding/xml escapes text and attribute values. Text
// of printable ASCII without markup characters needs none and is appended
// as it is; anything else goes through xml.EscapeText.
func (w *xmlWriter) escape(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\'' || c == '&' || c == '<' || c == '>' {
			buf := bytes.NewBuffer(w.b)
			_ = xml.EscapeText(buf, []byte(s)) // a bytes.Buffer does not fail
			w.b = buf.Bytes()
			return
		}
	}
	w.b = append(w.b, s...)
}
