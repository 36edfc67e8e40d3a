package trackdetails

import (
	"bytes"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// rowMemo keeps the rows decoded from cached payloads, by the payload's
// content. A row is a function of its payload's bytes alone, so an entry
// is never stale and needs no invalidation: a changed track has a changed
// payload (its version is in it), which looks up another slot or fails
// the comparison. A look-up is an xxhash of the payload, an atomic load
// and a byte comparison, where a decode of a row is a scan of the whole
// payload and a dozen allocations.
//
// It is hand-written because it is this small: direct-mapped (a payload
// goes to the slot its hash names, replacing what was there), so it needs
// no eviction bookkeeping, no lock and no key string, which a general
// cache library would add to every look-up. Memory is bounded by its
// slots: each holds one payload and its row.
type rowMemo struct {
	slots []atomic.Pointer[memoEntry]
	mask  uint64
}

type memoEntry struct {
	payload []byte
	row     TrackRow
}

// memoSlots is how many rows a CachedReader keeps decoded: at most about
// 32 MiB at the catalogue's average payload of about 900 bytes (the
// payload and its decoded row, about 2 KB a slot).
const memoSlots = 1 << 14

func newRowMemo(slots int) *rowMemo {
	return &rowMemo{slots: make([]atomic.Pointer[memoEntry], slots), mask: uint64(slots - 1)}
}

// get returns the row decoded from payload, if the memo holds it. The
// row's Terms are shared with every other caller and must not be
// modified.
func (m *rowMemo) get(payload []byte) (TrackRow, bool) {
	e := m.slots[xxhash.Sum64(payload)&m.mask].Load()
	if e == nil || !bytes.Equal(e.payload, payload) {
		return TrackRow{}, false
	}
	return e.row, true
}

// put keeps row as decoded from payload, which it takes and the caller
// must not modify afterwards.
func (m *rowMemo) put(payload []byte, row TrackRow) {
	m.slots[xxhash.Sum64(payload)&m.mask].Store(&memoEntry{payload: payload, row: row})
}
