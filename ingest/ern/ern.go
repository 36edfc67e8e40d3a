// Package ern parses DDEX ERN deliveries into the release domain's drafts.
//
// It reads NewReleaseMessage and PurgeReleaseMessage in ERN 3.8, 3.8.1,
// 3.8.2, 3.8.3, 4.1, 4.1.1, 4.2, 4.3, 4.3.1 and 4.3.2, telling the version
// from the namespace URI of the root element. Only the root is namespace
// qualified in ERN; children are matched by local name whatever namespace a
// sender puts them in.
//
// The parser reports structural problems (malformed XML, an unknown root or
// namespace, a missing header field, no main release, dangling references,
// a sound recording without ISRC …) and passes values through as trimmed
// strings: ISRC, UPC, duration, territory and date syntax are checked later
// by release.New. Every Draft field it sets is mapped in Draft.Source to the
// element path it came from, so the domain's problems name a place in the
// delivery.
package ern

import (
	"fmt"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
)

// Parsed is one parsed delivery: exactly one of Release and Purge is set.
type Parsed struct {
	// Version is the ERN version read from the root namespace, e.g. "3.8.2"
	// or "4.3".
	Version string
	// Release is set for a NewReleaseMessage.
	Release *release.Draft
	// Purge is set for a PurgeReleaseMessage.
	Purge *release.PurgeDraft
}

// versions maps the supported root namespace URIs to ERN versions.
var versions = map[string]string{
	"http://ddex.net/xml/ern/38":  "3.8",
	"http://ddex.net/xml/ern/381": "3.8.1",
	"http://ddex.net/xml/ern/382": "3.8.2",
	"http://ddex.net/xml/ern/383": "3.8.3",
	"http://ddex.net/xml/ern/41":  "4.1",
	"http://ddex.net/xml/ern/411": "4.1.1",
	"http://ddex.net/xml/ern/42":  "4.2",
	"http://ddex.net/xml/ern/43":  "4.3",
	"http://ddex.net/xml/ern/431": "4.3.1",
	"http://ddex.net/xml/ern/432": "4.3.2",
}

const (
	newReleaseMessage   = "NewReleaseMessage"
	purgeReleaseMessage = "PurgeReleaseMessage"
)

// Parse parses one ERN message. Structural problems are returned as a
// *release.ValidationError whose Message holds whatever of the header could
// be read and whose Problems list every problem found, each naming the
// element path (e.g. "/NewReleaseMessage/ResourceList/SoundRecording[3]/Duration").
// Parse never panics and reads nothing but data.
func Parse(data []byte) (Parsed, error) {
	root, bad := decodeTree(data)
	if bad != nil {
		var msg release.Message
		if root != nil && (root.name == newReleaseMessage || root.name == purgeReleaseMessage) {
			msg, _, _ = readHeader(root)
		}
		return Parsed{}, &release.ValidationError{Message: msg, Problems: []release.Problem{*bad}}
	}

	var ps problems
	version, known := versions[strings.TrimSpace(root.space)]
	if root.name != newReleaseMessage && root.name != purgeReleaseMessage {
		ps.add(root.loc(), "is not a message this parser reads: the root element must be %s or %s", newReleaseMessage, purgeReleaseMessage)
	}
	switch {
	case known:
	case root.space == "":
		ps.add(root.loc(), "has no namespace; an ERN root element is in a DDEX ERN namespace such as http://ddex.net/xml/ern/43")
	default:
		ps.add(root.loc(), "is in namespace %s, which is not a supported DDEX ERN version (supported: %s)", release.Quote(root.space), supportedNamespaces)
	}
	msg, headerSource, headerProblems := readHeader(root)
	if len(ps) > 0 {
		return Parsed{}, &release.ValidationError{Message: msg, Problems: ps}
	}
	ps = append(ps, headerProblems...)

	out := Parsed{Version: version}
	if root.name == purgeReleaseMessage {
		out.Purge = parsePurge(root, msg, &ps)
	} else {
		out.Release = parseNewRelease(root, version, msg, &ps)
	}
	if len(ps) > 0 {
		return Parsed{}, &release.ValidationError{Message: msg, Problems: ps}
	}
	var src map[string]string
	if out.Release != nil {
		src = out.Release.Source
	} else {
		src = out.Purge.Source
	}
	for k, v := range headerSource {
		src[k] = v
	}
	return out, nil
}

// supportedNamespaces names the supported namespace URIs in problems.
const supportedNamespaces = "http://ddex.net/xml/ern/ followed by 38, 381, 382, 383, 41, 411, 42, 43, 431 or 432"

// problems collects every structural problem of a message.
type problems []release.Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, release.Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
}
