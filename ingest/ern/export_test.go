package ern

import (
	"bytes"
	"fmt"
	"slices"
)

// CompareDecoders reads data with scanTree and with decodeStd (the
// encoding/xml reference). It reports whether scanTree took the document
// and, if it did, how its tree differs from the reference ("" when equal).
// A document scanTree takes must be one the reference reads without a
// problem.
func CompareDecoders(data []byte) (scanned bool, diff string) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	got, ok := scanTree(data)
	if !ok {
		return false, ""
	}
	want, bad := decodeStd(data)
	if bad != nil {
		return true, fmt.Sprintf("scanTree took a document encoding/xml rejects: %s: %s", bad.Field, bad.Reason)
	}
	return true, diffTrees(got, want)
}

func diffTrees(got, want *element) string {
	switch {
	case got.name != want.name || got.space != want.space || got.loc() != want.loc():
		return fmt.Sprintf("element %q {%q} at %q, want %q {%q} at %q", got.name, got.space, got.loc(), want.name, want.space, want.loc())
	case got.text != want.text:
		return fmt.Sprintf("%s: text %q, want %q", want.loc(), got.text, want.text)
	case !slices.Equal(got.attrs, want.attrs):
		return fmt.Sprintf("%s: attributes %q, want %q", want.loc(), got.attrs, want.attrs)
	case len(got.children) != len(want.children):
		return fmt.Sprintf("%s: %d children, want %d", want.loc(), len(got.children), len(want.children))
	}
	for i := range got.children {
		if d := diffTrees(got.children[i], want.children[i]); d != "" {
			return d
		}
	}
	return ""
}
