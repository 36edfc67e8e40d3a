package api

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/labstack/echo/v4"
)

// format is a response format.
type format int

const (
	formatXML format = iota
	formatJSON
)

func (f format) String() string {
	if f == formatJSON {
		return "json"
	}
	return "xml"
}

// Content types of the two formats.
const (
	contentTypeXML  = "application/xml; charset=utf-8"
	contentTypeJSON = "application/json; charset=utf-8"
)

// xmlDecl opens every XML body. 7digital clients expect the declaration,
// double-quoted attributes, and status on the <response start tag (the C#
// client finds it by text search). The xsi/xsd namespace declarations of
// 7digital's own responses are left out: they declare nothing the body
// uses, and clients strip them.
const xmlDecl = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// negotiate picks the response format from the request's Accept headers:
// JSON when application/json is acceptable and preferred over XML
// (application/xml or text/xml), XML otherwise, including when there is no
// Accept header (the node client sends none) or it names neither. Each
// type's quality comes from its most specific matching media range (RFC
// 9110 §12.5.1). On equal quality a range naming the type beats a
// wildcard, then the range listed first wins: "application/json, */*" and
// "application/json, application/xml" give JSON, "*/*" gives XML.
func negotiate(r *http.Request) format {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return formatXML
	}
	ranges := parseAccept(accept)
	j := ranges.match("application", "json")
	x := ranges.match("application", "xml")
	if tx := ranges.match("text", "xml"); tx.better(x) {
		x = tx
	}
	if j.q > 0 && j.better(x) {
		return formatJSON
	}
	return formatXML
}

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ, sub string
	q        float64
	pos      int
}

// acceptance is how acceptable a media type is: the quality and the
// specificity (3 type/subtype, 2 type/*, 1 */*, 0 not matched) and
// position of the range that decided it.
type acceptance struct {
	q         float64
	specific  int
	pos       int
	mentioned bool
}

func (a acceptance) better(b acceptance) bool {
	if !b.mentioned {
		return a.mentioned
	}
	if !a.mentioned || a.q != b.q {
		return a.mentioned && a.q > b.q
	}
	if a.specific != b.specific {
		return a.specific > b.specific
	}
	return a.pos < b.pos
}

type acceptRanges []mediaRange

func parseAccept(h string) acceptRanges {
	var out acceptRanges
	for i, part := range strings.Split(h, ",") {
		fields := strings.Split(part, ";")
		typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(fields[0])), "/")
		if !ok || typ == "" || sub == "" {
			continue
		}
		m := mediaRange{typ: strings.TrimSpace(typ), sub: strings.TrimSpace(sub), q: 1, pos: i}
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || q < 0 {
					q = 0
				}
				m.q = min(q, 1)
			}
		}
		out = append(out, m)
	}
	return out
}

// match finds how acceptable typ/sub is: the most specific range that
// matches it decides.
func (rs acceptRanges) match(typ, sub string) acceptance {
	var best acceptance
	for _, r := range rs {
		s := 0
		switch {
		case r.typ == typ && r.sub == sub:
			s = 3
		case r.typ == typ && r.sub == "*":
			s = 2
		case r.typ == "*" && r.sub == "*":
			s = 1
		}
		if s > best.specific {
			best = acceptance{q: r.q, specific: s, pos: r.pos, mentioned: true}
		}
	}
	return best
}

// encode writes env in format f. A track's XML is appended to dst (which
// may be nil); other bodies get buffers of their own.
func encode(dst []byte, f format, env envelope) (body []byte, contentType string, err error) {
	env.Version = apiVersion
	if f == formatJSON {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(env); err != nil {
			return nil, "", fmt.Errorf("encode JSON response: %w", err)
		}
		return buf.Bytes(), contentTypeJSON, nil
	}
	if env.Track != nil && env.Error == nil && env.Release == nil && env.Releases == nil {
		if dst == nil {
			dst = make([]byte, 0, 2048)
		}
		return appendTrackXML(dst, env), contentTypeXML, nil
	}
	b, err := marshalXML(env)
	if err != nil {
		return nil, "", err
	}
	return b, contentTypeXML, nil
}

// marshalXML writes env with encoding/xml: the declaration, the indented
// body and a closing newline.
func marshalXML(env envelope) ([]byte, error) {
	out, err := xml.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode XML response: %w", err)
	}
	b := make([]byte, 0, len(xmlDecl)+len(out)+1)
	return append(append(append(b, xmlDecl...), out...), '\n'), nil
}

// Cache policy (see the package documentation).
const (
	cacheOK       = "public, max-age=60"
	cacheNotFound = "public, max-age=10"
	cacheNever    = "no-store"
)

// okBody is a successful answer and what identifies its version.
type okBody struct {
	envelope envelope
	// tag names the resource in the entity tag (t<track>-r<release> or
	// r<release>); sequence is the release's read-model version.
	tag      string
	sequence int64
	// keys are the Surrogate-Key values a CDN can purge the answer by.
	keys []string
}

// renderBuffers lend the bodies of track answers their bytes. A body lives
// only until it is written to the connection (the server copies it into
// its own buffer), and a fresh 2 KB buffer per request was the largest
// allocation of a Redis-hot read; a sync.Pool of them is the whole
// implementation.
var renderBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledRender bounds the buffers renderBuffers keeps: an unusually
// large answer's buffer goes to the garbage collector instead.
const maxPooledRender = 16 << 10

// ok sends a 200 with the caching headers, or a 304 when the request's
// If-None-Match names the representation's entity tag.
func (h *handler) ok(c echo.Context, v view, b okBody) error {
	f := negotiate(c.Request())
	b.envelope.Status = "ok"
	buf := renderBuffers.Get().(*[]byte)
	body, contentType, err := encode((*buf)[:0], f, b.envelope)
	defer func() {
		if f == formatXML && body != nil && cap(body) <= maxPooledRender {
			*buf = body[:0]
		}
		renderBuffers.Put(buf)
	}()
	if err != nil {
		return err
	}
	etag := entityTag(b.tag, b.sequence, v, f, body)
	hd := c.Response().Header()
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", cacheOK)
	hd.Set("Vary", "Accept")
	hd.Set("Surrogate-Key", strings.Join(b.keys, " "))
	if ifNoneMatch(strings.Join(c.Request().Header.Values("If-None-Match"), ","), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, contentType, body)
}

// entityTag is a weak entity tag W/"<tag>.<sequence>-<hash>". tag and
// sequence name the release and the read-model version the answer was
// built from, for people reading caches. The hash (64-bit xxHash) covers
// the representation's parameters (territory, usage types, image size,
// format) and the bytes sent: availability also moves with the clock (an
// offer's window opens or closes without a new release version) and a
// rebuilt read model or a new API version can render the same version
// differently, and in each case the tag must change with the body.
func entityTag(tag string, sequence int64, v view, f format, body []byte) string {
	var hs xxhash.Digest
	hs.Reset()
	_, _ = hs.WriteString(v.country)
	_, _ = hs.WriteString("|")
	_, _ = hs.WriteString(v.usages.String())
	_, _ = hs.WriteString("|")
	var n [20]byte
	_, _ = hs.Write(strconv.AppendInt(n[:0], int64(v.imageSize), 10))
	_, _ = hs.WriteString("|")
	_, _ = hs.WriteString(f.String())
	_, _ = hs.WriteString("|")
	_, _ = hs.Write(body)
	b := make([]byte, 0, len(tag)+48)
	b = append(append(append(b, `W/"`...), tag...), '.')
	b = append(strconv.AppendInt(b, sequence, 10), '-')
	sum := hs.Sum64()
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[sum>>uint(shift)&0xf])
	}
	return string(append(b, '"'))
}

// ifNoneMatch reports whether an If-None-Match header value matches etag
// under the weak comparison RFC 9110 §13.1.2 prescribes: "*", or a listed
// entity tag with the same opaque value, W/ or not.
func ifNoneMatch(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	want := opaque(etag)
	for rest := header; rest != ""; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		if strings.HasPrefix(rest, "*") {
			return true
		}
		rest = strings.TrimPrefix(rest, "W/")
		if !strings.HasPrefix(rest, `"`) {
			return false // malformed: ignore the header
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return false
		}
		if rest[:end+2] == want {
			return true
		}
		rest = rest[end+2:]
	}
	return false
}

// opaque strips an entity tag's weakness indicator.
func opaque(etag string) string { return strings.TrimPrefix(etag, "W/") }
