package ern

import "strconv"

// sources collects the Source entries of a draft (field -> element path)
// while a delivery is mapped, and makes the map once at the end. A large
// delivery has thousands of entries ("deals[12].territories[148]"): their
// keys are written into one buffer that becomes one string, and the map is
// made at its final size, where writing each into a growing map took two
// allocations a key and rehashes. A later entry for a key replaces an
// earlier one, as in a map.
type sources struct {
	keys    []byte
	entries []sourceEntry
}

// sourceEntry is one entry: the key is keys[start:end].
type sourceEntry struct {
	start, end int
	path       string
}

// set records path as the source of key.
func (s *sources) set(key, path string) {
	start := len(s.keys)
	s.keys = append(s.keys, key...)
	s.entries = append(s.entries, sourceEntry{start, len(s.keys), path})
}

// setItem records path as the source of list[i].field, e.g. tracks[2].isrc.
func (s *sources) setItem(list string, i int, field, path string) {
	start := len(s.keys)
	s.keys = s.item(list, i, field)
	s.entries = append(s.entries, sourceEntry{start, len(s.keys), path})
}

// setItemAt records path as the source of list[i].field[k], e.g.
// deals[0].territories[3].
func (s *sources) setItemAt(list string, i int, field string, k int, path string) {
	start := len(s.keys)
	s.keys = append(strconv.AppendInt(append(s.item(list, i, field), '['), int64(k), 10), ']')
	s.entries = append(s.entries, sourceEntry{start, len(s.keys), path})
}

func (s *sources) item(list string, i int, field string) []byte {
	b := append(s.keys, list...)
	b = append(strconv.AppendInt(append(b, '['), int64(i), 10), "]."...)
	return append(b, field...)
}

// into writes the entries into m, making it when nil, and returns it.
func (s *sources) into(m map[string]string) map[string]string {
	if m == nil {
		m = make(map[string]string, len(s.entries))
	}
	keys := string(s.keys)
	for _, e := range s.entries {
		m[keys[e.start:e.end]] = e.path
	}
	return m
}
