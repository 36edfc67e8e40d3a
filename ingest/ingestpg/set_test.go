package ingestpg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/testenv"
)

var errRefused = errors.New("refused by the test")

// setDelivery is a request whose decision assigns ids for its artists and
// ISRCs, records them, and appends one event at the stream's next version;
// with fail it refuses instead.
type setDelivery struct {
	ref     ingest.StreamRef
	artists []string
	isrcs   []string
	fail    bool
	trace   map[string]string

	key     string
	version int64
	ids     release.IDs
}

func (d *setDelivery) request() *request {
	fn := func(ctx context.Context, st ingest.Stream, a ingest.IDAssigner) (ingest.Change, error) {
		var codes []release.ISRC
		for _, c := range d.isrcs {
			codes = append(codes, release.MustParseISRC(c))
		}
		ids, err := a.AssignIDs(ctx, st.State.ReleaseID, d.artists, codes)
		if err != nil {
			return ingest.Change{}, err
		}
		if d.fail {
			return ingest.Change{}, errRefused
		}
		next := st.State
		next.Version++
		env, err := events.NewEnvelope("test.event", 1, "/test", st.Key, next.Version, time.Now(), "m", map[string]int64{"version": next.Version})
		if err != nil {
			return ingest.Change{}, err
		}
		d.key, d.version, d.ids = st.Key, next.Version, ids
		return ingest.Change{Next: next, Topic: "t", Events: []events.Envelope{env}, Trace: d.trace}, nil
	}
	return &request{ctx: context.Background(), ref: d.ref, create: true, fn: fn, done: make(chan result, 1)}
}

// TestBatchWritesAsSetAndOneAtATime writes batches through writeBatch:
// one of distinct releases (written as one set), and one where a delivery
// fails and another names a release of the batch by its GRid (so each
// is written alone, in order). Both leave what deliveries written one at
// a time leave: each release's versions and events in order, ids assigned
// once, nothing of the failed delivery.
func TestBatchWritesAsSetAndOneAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	run := func(ds ...*setDelivery) []error {
		reqs := make([]*request, len(ds))
		for i, d := range ds {
			reqs[i] = d.request()
		}
		s.writeBatch(reqs)
		errs := make([]error, len(ds))
		for i, r := range reqs {
			errs[i] = (<-r.done).err
		}
		return errs
	}
	upc := func(i int) string { return release.WithCheckDigit(fmt.Sprintf("07%011d", i)) }
	a := &setDelivery{ref: ingest.StreamRef{UPC: upc(1)}, artists: []string{"Shared", "A"}, isrcs: []string{"GBSET0000001", "GBSET0000002"}}
	b := &setDelivery{ref: ingest.StreamRef{UPC: upc(2), GRid: "A1SETGRID00000000B"}, artists: []string{"Shared"}, isrcs: []string{"GBSET0000001"}}
	c := &setDelivery{ref: ingest.StreamRef{UPC: upc(3)}, artists: []string{"C"}, isrcs: []string{"GBSET0000003"}}
	// Each delivery's trace context goes with its own events, or none.
	a.trace = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	c.trace = map[string]string{"traceparent": "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01", "tracestate": "k=v"}
	set, _ := splitSet([]*request{a.request(), b.request(), c.request()})
	if len(set) != 3 {
		t.Fatalf("%d of 3 distinct releases in the set", len(set))
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writeSet(ctx, tx, set); err != nil {
		t.Fatalf("first batch, as a set: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*setDelivery{a, b, c} {
		var got map[string]string
		if err := pool.QueryRow(ctx, `select trace from outbox where key = $1`, d.key).Scan(&got); err != nil || fmt.Sprint(got) != fmt.Sprint(d.trace) {
			t.Errorf("outbox trace context of %s: %v (%v), want %v", d.key, got, err, d.trace)
		}
	}
	if a.ids.Artists["Shared"] == 0 || a.ids.Artists["Shared"] != b.ids.Artists["Shared"] {
		t.Errorf("artist ids %v and %v: want one id for the shared name", a.ids.Artists, b.ids.Artists)
	}
	isrc1 := release.MustParseISRC("GBSET0000001")
	if a.ids.Tracks[isrc1] == 0 || b.ids.Tracks[isrc1] == 0 || a.ids.Tracks[isrc1] == b.ids.Tracks[isrc1] {
		t.Errorf("track ids of one ISRC on two releases: %d and %d; want two ids", a.ids.Tracks[isrc1], b.ids.Tracks[isrc1])
	}
	if a.ids.Tracks[release.MustParseISRC("GBSET0000002")] <= a.ids.Tracks[isrc1] {
		t.Errorf("a release's track ids %v do not ascend with its tracklist", a.ids.Tracks)
	}
	firstA := a.ids

	// The second batch: b again by its GRid alone (after b by its UPC: so
	// both are written one at a time), a refused delivery, a new release
	// and a again.
	b2 := &setDelivery{ref: ingest.StreamRef{GRid: "A1SETGRID00000000B"}, isrcs: []string{"GBSET0000001"}}
	bad := &setDelivery{ref: ingest.StreamRef{UPC: upc(4)}, artists: []string{"Refused"}, isrcs: []string{"GBSET0000004"}, fail: true}
	d := &setDelivery{ref: ingest.StreamRef{UPC: upc(5)}, artists: []string{"Shared"}, isrcs: []string{"GBSET0000005"}}
	b1 := &setDelivery{ref: ingest.StreamRef{UPC: upc(2), GRid: "A1SETGRID00000000B"}, artists: []string{"Shared"}, isrcs: []string{"GBSET0000001"}}
	errs := run(b1, b2, bad, d, a)
	for i, err := range errs {
		if want := error(nil); i == 2 {
			if !errors.Is(err, errRefused) {
				t.Errorf("refused delivery: %v, want %v", err, errRefused)
			}
		} else if err != want {
			t.Errorf("second batch, delivery %d: %v", i, err)
		}
	}
	if b1.key != upc(2) || b2.key != upc(2) || b1.version != 2 || b2.version != 3 {
		t.Errorf("release b by UPC then by GRid: %s v%d, %s v%d; want %s v2, v3", b1.key, b1.version, b2.key, b2.version, upc(2))
	}
	if a.version != 2 || a.ids.Tracks[isrc1] != firstA.Tracks[isrc1] || a.ids.Artists["A"] != firstA.Artists["A"] {
		t.Errorf("release a again: v%d, ids %v; want v2 and its first ids %v", a.version, a.ids, firstA)
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from release_streams where stream_key = $1`, upc(4)).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused release: %d stream rows (%v), want none", n, err)
	}
	if err := pool.QueryRow(ctx, `select count(*) from artist_ids where name = 'Refused'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused delivery's artist: %d rows (%v), want none", n, err)
	}
	var stored int64
	if err := pool.QueryRow(ctx, `select (state->>'version')::bigint from release_streams where stream_key = $1 and version = 1`, upc(3)).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("release c's state as the set stored it: version %d (%v), want 1", stored, err)
	}
	rows, err := pool.Query(ctx, `select key, (headers->>'ce_sequence')::int from outbox order by id`)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	for rows.Next() {
		var key string
		var seq int
		if err := rows.Scan(&key, &seq); err != nil {
			t.Fatal(err)
		}
		if seq != last[key]+1 {
			t.Errorf("outbox: %s sequence %d after %d", key, seq, last[key])
		}
		last[key] = seq
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if want := map[string]int{upc(1): 2, upc(2): 3, upc(3): 1, upc(5): 1}; fmt.Sprint(last) != fmt.Sprint(want) {
		t.Errorf("outbox events per release: %v, want %v", last, want)
	}
}
