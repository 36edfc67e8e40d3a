package ern

import (
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"
)

// xmlURL is the namespace the reserved prefix xml stands for.
const xmlURL = "http://www.w3.org/XML/1998/namespace"

// scanTree reads a delivery (without a byte order mark) into the same
// element tree encoding/xml's decoder gives decodeStd, or reports false.
// It reports false for every document encoding/xml rejects and also for
// anything outside the plain shape deliveries have: a DOCTYPE, a
// processing instruction other than a leading UTF-8 XML declaration, a
// non-ASCII or multiply prefixed name, an entity other than the five
// predefined ones and character references, attributes not separated by
// white space, nesting at maxDepth. Reporting false is always safe: the
// caller then reads the document with decodeStd, which has the last word
// on what is well-formed and how a problem is worded.
//
// It is written here rather than taken from a SAX library because what it
// must do is decide well-formedness exactly as encoding/xml does (names,
// UTF-8, the XML character range, entities, tag balance, namespace
// scoping), which the streaming lexers for Go (github.com/orisano/gosax
// among them) leave to their callers; the part they do do, finding the
// next '<' and '>', is strings.IndexByte over a delivery that is already
// in memory.
//
// The document is copied into one string once: names, attribute values and
// text without references or carriage returns are substrings of it, and
// elements, attribute lists and child lists come from a few shared blocks,
// so a parse allocates next to nothing per element (paths are built only
// when asked for, by loc). A draft's strings keep that copy alive as long
// as any of them is referenced.
func scanTree(data []byte) (*element, bool) {
	sc := scanner{s: string(data)}
	return sc.run()
}

// frame is an open element while scanning.
type frame struct {
	el       *element
	raw      string // the name as written, prefix included
	bindings int    // len(scanner.ns) before the element's declarations
	kids     int    // len(scanner.kids) when the element opened
	acc      string // character data so far, leading white space dropped
	pend     string // white space after acc, kept if more text follows
}

// binding is one namespace declaration in scope.
type binding struct{ prefix, uri string }

// scanner holds the state of one scanTree.
type scanner struct {
	s     string
	root  *element
	stack []frame
	ns    []binding
	kids  []*element // children of the open elements, in document order
	sb    siblings
	els   []element  // block elements are taken from
	links []*element // block child lists are taken from
	attrs []xml.Attr // block attribute lists are taken from
}

func (sc *scanner) run() (*element, bool) {
	s := sc.s
	// Every element takes at least one '<' of its own; most take two.
	// Blocks that turn out too small are followed by more (newElement,
	// close).
	n := strings.Count(s, "<")/2 + 1
	sc.els = make([]element, 0, n)
	sc.links = make([]*element, 0, n)
	sc.stack = make([]frame, 0, 16)
	sc.kids = make([]*element, 0, 64)
	sc.attrs = make([]xml.Attr, 0, min(strings.Count(s, "="), n))
	i := 0
	if strings.HasPrefix(s, "<?xml") {
		end, ok := xmlDecl(s)
		if !ok {
			return nil, false
		}
		i = end
	}
	for {
		k := strings.IndexByte(s[i:], '<')
		if k < 0 {
			k = len(s) - i
		}
		if k > 0 && !sc.chars(s[i:i+k]) {
			return nil, false
		}
		i += k
		if i == len(s) {
			break
		}
		if i+1 >= len(s) {
			return nil, false
		}
		var ok bool
		switch s[i+1] {
		case '/':
			i, ok = sc.endTag(i)
		case '!':
			i, ok = sc.bang(i)
		case '?':
			return nil, false
		default:
			if sc.root != nil && len(sc.stack) == 0 {
				return nil, false // a second root element
			}
			i, ok = sc.startTag(i)
		}
		if !ok {
			return nil, false
		}
	}
	if sc.root == nil || len(sc.stack) > 0 {
		return nil, false
	}
	return sc.root, true
}

// newElement takes an element from the current block, starting a new
// block when it is full (elements already taken keep their addresses).
func (sc *scanner) newElement() *element {
	if len(sc.els) == cap(sc.els) {
		sc.els = make([]element, 0, 64)
	}
	sc.els = sc.els[:len(sc.els)+1]
	return &sc.els[len(sc.els)-1]
}

// chars takes the character data s between two tags.
func (sc *scanner) chars(s string) bool {
	// One pass classifies s: blank (only ' ', '\t', '\n', '\r') and plain
	// (nothing to decode or check further: no reference, carriage return,
	// control or non-ASCII character, and no ']' that could end "]]>").
	blank, plain := true, true
	for j := 0; j < len(s); j++ {
		switch c := s[j]; {
		case c == ' ' || c == '\t' || c == '\n':
		case c == '\r':
			plain = false
		case c == '&' || c == ']' || c < 0x20 || c >= utf8.RuneSelf:
			blank, plain = false, false
		default:
			blank = false
		}
	}
	if len(sc.stack) == 0 {
		// Outside the root only white space; encoding/xml's decoder says
		// which non-space text is an error and decodeStd words it.
		return blank
	}
	if plain {
		sc.text(s, blank)
		return true
	}
	if strings.Contains(s, "]]>") {
		return false
	}
	t, ok := unescape(s)
	if !ok {
		return false
	}
	sc.text(t, strings.TrimSpace(t) == "")
	return true
}

// text appends decoded character data t to the open element; blank tells
// whether t is all white space as strings.TrimSpace sees it. The element's
// text is the trimmed concatenation of all of it; white space before the
// first text and after the last is never concatenated.
func (sc *scanner) text(t string, blank bool) {
	f := &sc.stack[len(sc.stack)-1]
	if blank {
		if f.acc != "" {
			f.pend += t
		}
		return
	}
	if f.acc == "" {
		f.acc = t
	} else {
		f.acc = f.acc + f.pend + t
	}
	f.pend = ""
}

// startTag reads the start tag at s[i] ('<' followed by a name) and opens
// its element, or closes it too when the tag ends in "/>".
func (sc *scanner) startTag(i int) (int, bool) {
	s := sc.s
	if len(sc.stack) >= maxDepth {
		return 0, false
	}
	raw, j, ok := name(s, i+1)
	if !ok {
		return 0, false
	}
	el := sc.newElement()
	f := frame{el: el, raw: raw, bindings: len(sc.ns)}
	first := len(sc.attrs)
	selfClosing := false
	for {
		ws := j
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) {
			return 0, false
		}
		if s[j] == '>' {
			j++
			break
		}
		if s[j] == '/' {
			if j+1 >= len(s) || s[j+1] != '>' {
				return 0, false
			}
			j += 2
			selfClosing = true
			break
		}
		if ws == j {
			return 0, false // attributes not separated by white space
		}
		var an string
		if an, j, ok = name(s, j); !ok {
			return 0, false
		}
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			return 0, false
		}
		j++
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if j >= len(s) || (s[j] != '"' && s[j] != '\'') {
			return 0, false
		}
		q := strings.IndexByte(s[j+1:], s[j])
		if q < 0 {
			return 0, false
		}
		rawValue := s[j+1 : j+1+q]
		j += q + 2
		if strings.IndexByte(rawValue, '<') >= 0 {
			return 0, false
		}
		v, ok := unescape(rawValue)
		if !ok {
			return 0, false
		}
		space, local := split(an)
		sc.attrs = append(sc.attrs, xml.Attr{Name: xml.Name{Space: space, Local: local}, Value: v})
	}
	attrs := sc.attrs[first:len(sc.attrs):len(sc.attrs)]
	if len(attrs) > 0 {
		// Declarations apply to the element's own name and attributes.
		for _, a := range attrs {
			switch {
			case a.Name.Space == "xmlns":
				sc.ns = append(sc.ns, binding{a.Name.Local, a.Value})
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				sc.ns = append(sc.ns, binding{"", a.Value})
			}
		}
		for k := range attrs {
			attrs[k].Name.Space = sc.translate(attrs[k].Name, false)
		}
		el.attrs = attrs
	}
	space, local := split(raw)
	el.name = local
	el.space = sc.translate(xml.Name{Space: space, Local: local}, true)
	if len(sc.stack) > 0 {
		sc.kids = append(sc.kids, el)
	} else {
		sc.root = el
	}
	f.kids = len(sc.kids)
	sc.stack = append(sc.stack, f)
	if selfClosing {
		sc.close()
	}
	return j, true
}

// endTag reads the end tag at s[i] ("</") and closes the open element it
// must match.
func (sc *scanner) endTag(i int) (int, bool) {
	s := sc.s
	if len(sc.stack) == 0 {
		return 0, false
	}
	raw, j, ok := name(s, i+2)
	if !ok || raw != sc.stack[len(sc.stack)-1].raw {
		return 0, false
	}
	for j < len(s) && isSpace(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '>' {
		return 0, false
	}
	sc.close()
	return j + 1, true
}

// close closes the innermost open element: its text, its children and the
// end of its namespace declarations.
func (sc *scanner) close() {
	f := sc.stack[len(sc.stack)-1]
	sc.stack = sc.stack[:len(sc.stack)-1]
	f.el.text = strings.TrimSpace(f.acc)
	if kids := sc.kids[f.kids:]; len(kids) > 0 {
		if cap(sc.links)-len(sc.links) < len(kids) {
			sc.links = make([]*element, 0, max(len(kids), 64))
		}
		start := len(sc.links)
		sc.links = append(sc.links, kids...)
		f.el.children = sc.links[start:len(sc.links):len(sc.links)]
		sc.sb.link(f.el)
		sc.kids = sc.kids[:f.kids]
	}
	sc.ns = sc.ns[:f.bindings]
}

// bang reads a comment or a CDATA section at s[i] ("<!"); anything else
// there (a DOCTYPE) is left to decodeStd.
func (sc *scanner) bang(i int) (int, bool) {
	s := sc.s[i:]
	switch {
	case strings.HasPrefix(s, "<!--"):
		e := strings.Index(s[4:], "-->")
		if e < 0 {
			return 0, false
		}
		body := s[4 : 4+e]
		if strings.Contains(body, "--") || strings.HasSuffix(body, "-") || !validChars(body) {
			return 0, false
		}
		return i + 4 + e + 3, true
	case strings.HasPrefix(s, "<![CDATA["):
		if len(sc.stack) == 0 {
			return 0, false
		}
		e := strings.Index(s[9:], "]]>")
		if e < 0 {
			return 0, false
		}
		body := s[9 : 9+e]
		if !validChars(body) {
			return 0, false
		}
		t := crlf(body)
		sc.text(t, strings.TrimSpace(t) == "")
		return i + 9 + e + 3, true
	}
	return 0, false
}

// translate gives the namespace of a name as encoding/xml's decoder does:
// a prefix bound in scope gives its URI, an unbound one stays as written,
// an unprefixed element is in the default namespace and an unprefixed
// attribute in none.
func (sc *scanner) translate(n xml.Name, element bool) string {
	switch {
	case n.Space == "xmlns":
		return n.Space
	case n.Space == "" && !element:
		return ""
	case n.Space == "xml":
		return xmlURL
	case n.Space == "" && n.Local == "xmlns":
		return ""
	}
	for k := len(sc.ns) - 1; k >= 0; k-- {
		if sc.ns[k].prefix == n.Space {
			return sc.ns[k].uri
		}
	}
	return n.Space
}

// split splits a name checked by name at its colon.
func split(s string) (space, local string) {
	if p := strings.IndexByte(s, ':'); p > 0 {
		return s[:p], s[p+1:]
	}
	return "", s
}

// name reads an XML name of ASCII name characters at s[i], with at most
// one colon, neither first nor last.
func name(s string, i int) (string, int, bool) {
	if i >= len(s) {
		return "", 0, false
	}
	c := s[i]
	if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_') {
		return "", 0, false
	}
	j := i + 1
	colons := 0
	for j < len(s) && isNameByte(s[j]) {
		if s[j] == ':' {
			colons++
		}
		j++
	}
	if j < len(s) && s[j] >= utf8.RuneSelf || colons > 1 || s[j-1] == ':' {
		return "", 0, false
	}
	return s[i:j], j, true
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// xmlDecl reads a leading XML declaration that declares version 1.0 (or
// none) and UTF-8 (or nothing), returning the offset after it.
func xmlDecl(s string) (int, bool) {
	if len(s) < 6 || !isSpace(s[5]) && s[5] != '?' {
		return 0, false
	}
	e := strings.Index(s, "?>")
	if e < 0 {
		return 0, false
	}
	rest := s[5:e]
	seen := map[string]bool{}
	for {
		t := strings.TrimLeft(rest, " \t\r\n")
		if t == "" {
			break
		}
		if len(t) == len(rest) {
			return 0, false
		}
		k := strings.IndexByte(t, '=')
		if k < 0 {
			return 0, false
		}
		param := t[:k]
		if seen[param] || param != "version" && param != "encoding" && param != "standalone" {
			return 0, false
		}
		seen[param] = true
		t = t[k+1:]
		if t == "" || t[0] != '"' && t[0] != '\'' {
			return 0, false
		}
		q := strings.IndexByte(t[1:], t[0])
		if q < 0 {
			return 0, false
		}
		v := t[1 : 1+q]
		for j := 0; j < len(v); j++ {
			if !isNameByte(v[j]) || v[j] == ':' {
				return 0, false
			}
		}
		switch {
		case param == "version" && v != "1.0":
			return 0, false
		case param == "encoding" && !strings.EqualFold(v, "utf-8"):
			return 0, false
		}
		rest = t[q+2:]
	}
	return e + 2, true
}

// unescape decodes character data or an attribute value as encoding/xml
// does: the predefined entities and character references are replaced,
// "\r\n" and a lone "\r" become "\n". It reports false for invalid UTF-8,
// a character outside the XML range and any other reference. Data with
// nothing to decode is returned as is, without copying.
func unescape(s string) (string, bool) {
	plain := true
	for j := 0; j < len(s); j++ {
		c := s[j]
		if c == '&' || c == '\r' || c < 0x20 && c != '\t' && c != '\n' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return s, true
	}
	if !validChars(s) {
		return "", false
	}
	if strings.IndexByte(s, '&') < 0 {
		return crlf(s), true
	}
	b := make([]byte, 0, len(s))
	for j := 0; j < len(s); {
		c := s[j]
		switch {
		case c == '&':
			e := strings.IndexByte(s[j:], ';')
			if e < 0 || e > 12 {
				return "", false
			}
			ref := s[j+1 : j+e]
			j += e + 1
			switch ref {
			case "lt":
				b = append(b, '<')
			case "gt":
				b = append(b, '>')
			case "amp":
				b = append(b, '&')
			case "apos":
				b = append(b, '\'')
			case "quot":
				b = append(b, '"')
			default:
				r, ok := charRef(ref)
				if !ok {
					return "", false
				}
				b = utf8.AppendRune(b, r)
			}
		case c == '\r':
			b = append(b, '\n')
			j++
			if j < len(s) && s[j] == '\n' {
				j++
			}
		default:
			b = append(b, c)
			j++
		}
	}
	return string(b), true
}

// crlf replaces "\r\n" and a lone "\r" by "\n" in s, whose characters are
// already checked.
func crlf(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// charRef decodes the body of a character reference ("#65", "#x41") to a
// character in the XML range.
func charRef(ref string) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" || len(digits) > 8 {
		return 0, false
	}
	for j := 0; j < len(digits); j++ {
		c := digits[j]
		if !('0' <= c && c <= '9' || base == 16 && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil || !inCharRange(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// validChars reports whether s is UTF-8 of characters in the XML range.
func validChars(s string) bool {
	for j := 0; j < len(s); {
		c := s[j]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			j++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && size == 1 || !inCharRange(r) {
			return false
		}
		j += size
	}
	return true
}

// inCharRange is the Char production of XML 1.0.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
