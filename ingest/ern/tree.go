package ern

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
)

// maxDepth bounds element nesting. ERN documents nest about 12 levels deep;
// anything far deeper is hostile or broken, and the cap keeps every walk over
// the tree shallow.
const maxDepth = 64

// element is one XML element of a delivery, reduced to what the mapping
// needs: its local name (children are matched regardless of namespace), its
// attributes, its own trimmed text, its children and its path from the root
// ("/NewReleaseMessage/ResourceList/SoundRecording[3]").
//
// Methods accept a nil receiver and return zero values, so lookups chain:
// rel.first("ReleaseId").first("ICPN").text.
type element struct {
	name     string
	space    string
	attrs    []xml.Attr
	text     string
	children []*element
	parent   *element
	pos      int    // 1-based position among same-named siblings, 0 when it has none
	cpath    string // set by loc on first use; read it through loc

	buf []byte // character data while decoding
}

// loc returns the element's path from the root
// ("/NewReleaseMessage/ResourceList/SoundRecording[3]"), built on first use:
// most elements of an accepted delivery are never named. An element name
// longer than release.MaxQuoted (none in ERN is) is clipped, so a problem
// never repeats a huge name. A child gets an XPath position ([n], 1-based)
// only when it has siblings of the same name, as libxml's xmlGetNodePath
// does. Recursion depth is bounded by maxDepth.
func (e *element) loc() string {
	if e.cpath == "" {
		var parent string
		if e.parent != nil {
			parent = e.parent.loc()
		}
		if e.pos > 0 {
			e.cpath = parent + "/" + release.Clip(e.name) + "[" + strconv.Itoa(e.pos) + "]"
		} else {
			e.cpath = parent + "/" + release.Clip(e.name)
		}
	}
	return e.cpath
}

// first returns the first child named name, or nil.
func (e *element) first(name string) *element {
	if e == nil {
		return nil
	}
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// all returns the children named name.
func (e *element) all(name string) []*element {
	if e == nil {
		return nil
	}
	n := 0
	for _, c := range e.children {
		if c.name == name {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]*element, 0, n)
	for _, c := range e.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// find follows names from e, taking the first match at every step.
func (e *element) find(names ...string) *element {
	for _, n := range names {
		e = e.first(n)
	}
	return e
}

// findAll returns every element reached by following names from e, taking
// all matches at every step, in document order.
func (e *element) findAll(names ...string) []*element {
	cur := []*element{e}
	if e == nil {
		return nil
	}
	for _, n := range names {
		var next []*element
		for _, c := range cur {
			next = append(next, c.all(n)...)
		}
		cur = next
	}
	return cur
}

// value returns the element's trimmed text ("" for nil).
func (e *element) value() string {
	if e == nil {
		return ""
	}
	return e.text
}

// attr returns the value of the attribute with local name name ("" if absent).
func (e *element) attr(name string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// pathTo returns the path of the element reached from e by names, taking
// the first match at every step; where an element is missing, the path it
// would have ("/NewReleaseMessage/MessageHeader/MessageId"). It is how
// problems name absent elements.
func (e *element) pathTo(names ...string) string {
	if e == nil {
		return ""
	}
	for i, n := range names {
		c := e.first(n)
		if c == nil {
			return e.loc() + "/" + strings.Join(names[i:], "/")
		}
		e = c
	}
	return e.loc()
}

// siblings counts the children of one element by name while link sets
// their positions; it is reused from element to element.
type siblings []struct {
	name     string
	count, n int
}

// link sets the parent and sibling position of e's children (not of their
// own children), which loc turns into paths.
func (sb *siblings) link(e *element) {
	*sb = (*sb)[:0]
	for _, c := range e.children {
		c.parent = e
		k := sb.index(c.name)
		if k < 0 {
			*sb = append(*sb, struct {
				name     string
				count, n int
			}{name: c.name})
			k = len(*sb) - 1
		}
		(*sb)[k].count++
	}
	for _, c := range e.children {
		k := sb.index(c.name)
		if (*sb)[k].count > 1 {
			(*sb)[k].n++
			c.pos = (*sb)[k].n
		}
	}
}

func (sb siblings) index(name string) int {
	for k := range sb {
		if sb[k].name == name {
			return k
		}
	}
	return -1
}

// linkTree links every element under e. Recursion depth is bounded by
// maxDepth.
func linkTree(e *element, sb *siblings) {
	sb.link(e)
	for _, c := range e.children {
		linkTree(c, sb)
	}
}

// charsetError reports an encoding declaration other than UTF-8.
type charsetError struct{ label string }

func (e *charsetError) Error() string { return "unsupported encoding " + e.label }

// decodeTree reads data into an element tree. On failure it returns the
// part of the tree read so far (root may be nil) and the problem. Only the
// bytes of data are read: no DTD, external entity or schema is fetched.
//
// A delivery is first read by scanTree, which takes the common shape of
// ERN (UTF-8, elements, attributes, character and predefined entity
// references, comments, CDATA) without allocating per token. Whatever
// scanTree does not take, and every malformed document, is read again by
// decodeStd, whose encoding/xml decoder decides and words the problem.
func decodeTree(data []byte) (*element, *release.Problem) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	if root, ok := scanTree(data); ok {
		return root, nil
	}
	return decodeStd(data)
}

// decodeStd reads data (without a byte order mark) into an element tree
// with encoding/xml. It is the reference scanTree is tested against, and
// the reader of every document scanTree declines.
func decodeStd(data []byte) (*element, *release.Problem) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		// Called only for a declared encoding other than "UTF-8". ASCII is a
		// subset of UTF-8 and "UTF8" a common misspelling of it; anything
		// else (ISO-8859-1, UTF-16 …) is refused rather than transcoded.
		switch strings.ToLower(label) {
		case "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, &charsetError{label: label}
	}

	var root *element
	var stack []*element
	fail := func(reason string) (*element, *release.Problem) {
		field := "/"
		if root != nil {
			linkTree(root, &siblings{})
			if len(stack) > 0 {
				field = stack[len(stack)-1].loc()
			}
		}
		return root, &release.Problem{Field: field, Reason: reason}
	}

	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var syn *xml.SyntaxError
			var cs *charsetError
			switch {
			case errors.As(err, &syn):
				return fail(fmt.Sprintf("is not well-formed XML: line %d: %s", syn.Line, syn.Msg))
			case errors.As(err, &cs):
				return fail(fmt.Sprintf("the document declares encoding %s; only UTF-8 is accepted", release.Quote(cs.label)))
			default:
				line, _ := d.InputPos()
				return fail(fmt.Sprintf("is not well-formed XML: line %d: %v", line, err))
			}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				line, _ := d.InputPos()
				return fail(fmt.Sprintf("has a second root element <%s> on line %d; a message has exactly one root element", release.Clip(t.Name.Local), line))
			}
			if len(stack) >= maxDepth {
				line, _ := d.InputPos()
				return fail(fmt.Sprintf("nests elements more than %d levels deep (line %d)", maxDepth, line))
			}
			el := &element{name: t.Name.Local, space: t.Name.Space, attrs: t.Attr}
			if len(stack) == 0 {
				root = el
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, el)
			}
			stack = append(stack, el)
		case xml.EndElement:
			top := stack[len(stack)-1] // the decoder guarantees balanced tags
			top.text = strings.TrimSpace(string(top.buf))
			top.buf = nil
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.buf = append(top.buf, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				line, _ := d.InputPos()
				return fail(fmt.Sprintf("has text outside the root element (line %d)", line))
			}
		}
	}
	if root == nil {
		return nil, &release.Problem{Field: "/", Reason: "the document is empty: it has no root element"}
	}
	linkTree(root, &siblings{})
	return root, nil
}
