package ingestpg

import (
	"context"
	"errors"
	"fmt"
	"slices"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
)

// errNotBulk reports a batch the set-based path hands back whole to the
// per-delivery path: a delivery failed (its batch-mates must not fail with
// it), or a set statement failed (a deadlock, say), so the savepoint before
// the set was rolled back and nothing of it is left.
var errNotBulk = errors.New("ingestpg: batch not written as a set")

// bulkStream is one request of a set: its stream and what it decided.
type bulkStream struct {
	r      *request
	st     ingest.Stream
	isNew  bool
	change ingest.Change
	ids    []int64
}

// writeSet writes reqs (deliveries of distinct releases, each naming its
// release by identifiers no other of them uses) in tx as one set: one
// round trip finds their streams, one creates the new ones and locks them
// all (in key order) and reads their states and whether they are blocked,
// one assigns every id they ask for, and one saves every state, identifier
// and event, however many deliveries there are. It first sets the
// savepoint "bulk". It returns the requests it wrote with their outbox
// ids, and those it answered itself (blocked releases); on errNotBulk it
// has rolled back to the savepoint and wrote and answered nothing.
//
// The deliveries' decisions (fn) run side by side, each in a goroutine of
// its own, because ingest.Store hands each one an IDAssigner to call
// while it decides: collectAssign gathers their calls into one round trip.
func (s *Store) writeSet(ctx context.Context, tx pgx.Tx, reqs []*request) (written []bulkStream, err error) {
	defer func() {
		if err != nil {
			if _, rb := tx.Exec(ctx, `rollback to savepoint bulk`); rb != nil {
				err = errors.Join(err, rb)
				return
			}
			err = fmt.Errorf("%w: %w", errNotBulk, err)
		}
	}()
	var upcs, grids []string
	for _, r := range reqs {
		if r.ref.UPC != "" {
			upcs = append(upcs, r.ref.UPC)
		}
		if r.ref.GRid != "" {
			grids = append(grids, r.ref.GRid)
		}
	}
	// The identifiers are looked up as two lists against the primary key
	// (kind, value), and matched to the deliveries here: a join of the
	// deliveries on "upc matches or GRid matches" could be planned as a
	// scan of the whole table per delivery (it was, 10.8 ms a set, once the
	// table had grown past the statistics the plan was made with).
	type ident struct{ kind, value string }
	streams := map[ident]string{}
	b := &pgx.Batch{}
	b.Queue(`savepoint bulk`)
	b.Queue(`select kind, value, stream_key from release_identifiers
		where (kind = 'upc' and value = any($1)) or (kind = 'grid' and value = any($2))`,
		upcs, grids).Query(func(rows pgx.Rows) error {
		var id ident
		var key string
		_, err := pgx.ForEachRow(rows, []any{&id.kind, &id.value, &key}, func() error { streams[id] = key; return nil })
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("find releases: %w", err)
	}
	found := make([][]string, len(reqs))
	for i, r := range reqs {
		for _, id := range []ident{{"upc", r.ref.UPC}, {"grid", r.ref.GRid}} {
			if key, ok := streams[id]; ok && !slices.Contains(found[i], key) {
				found[i] = append(found[i], key)
			}
		}
	}
	set := make([]bulkStream, len(reqs))
	keys := make([]string, 0, len(reqs))
	var fresh []string
	for i, r := range reqs {
		switch {
		case len(found[i]) == 1:
			set[i].st.Key = found[i][0]
		case len(found[i]) == 0 && r.create:
			set[i].st.Key, set[i].isNew = r.ref.UPC, true
			if set[i].st.Key == "" {
				set[i].st.Key = r.ref.GRid
			}
			fresh = append(fresh, set[i].st.Key)
		default:
			// An identity conflict, or a release that does not exist and is
			// not to be created: the per-delivery path says which.
			return nil, errors.New("a delivery the set cannot write")
		}
		set[i].r = r
		keys = append(keys, set[i].st.Key)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
		return nil, errors.New("two deliveries of one release")
	}

	type locked struct {
		id, version int64
		state       []byte
	}
	states := make(map[string]locked, len(keys))
	blocked := map[string]int64{}
	b = &pgx.Batch{}
	if len(fresh) > 0 {
		b.Queue(`insert into release_streams (stream_key) select unnest($1::text[]) order by 1 on conflict (stream_key) do nothing`, fresh)
	}
	b.Queue(`select stream_key, release_id, version, state from release_streams where stream_key = any($1) order by stream_key for update`, keys).
		Query(func(rows pgx.Rows) error {
			var k string
			var l locked
			_, err := pgx.ForEachRow(rows, []any{&k, &l.id, &l.version, &l.state}, func() error { states[k] = l; l = locked{}; return nil })
			return err
		})
	b.Queue(`select key, min(id) from outbox where key = any($1) and blocked_at is not null group by key`, keys).
		Query(func(rows pgx.Rows) error {
			var k string
			var id int64
			_, err := pgx.ForEachRow(rows, []any{&k, &id}, func() error { blocked[k] = id; return nil })
			return err
		})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("lock streams: %w", err)
	}
	if len(blocked) > 0 || len(states) != len(keys) {
		// A blocked release's delivery fails alone: the per-delivery path
		// answers it and writes its batch-mates.
		return nil, errors.New("a blocked release in the set")
	}
	for i := range set {
		l := states[set[i].st.Key]
		if l.state != nil {
			if err := jsonv1.Unmarshal(l.state, &set[i].st.State); err != nil {
				return nil, fmt.Errorf("stream %s state: %w", set[i].st.Key, err)
			}
		}
		set[i].st.State.ReleaseID, set[i].st.State.Version = l.id, l.version
	}

	if err := s.decideAll(ctx, tx, set); err != nil {
		return nil, err
	}

	b = &pgx.Batch{}
	var (
		skeys    []string
		states2  [][]byte
		versions []int64
		idKinds  []string
		idValues []string
		idKeys   []string
		envs     = map[string][]int{} // topic -> indexes into set, in order
		topics   []string
	)
	for i := range set {
		c := set[i].change
		next, err := jsonv1.Marshal(c.Next)
		if err != nil {
			return nil, fmt.Errorf("stream %s state: %w", set[i].st.Key, err)
		}
		skeys, versions, states2 = append(skeys, set[i].st.Key), append(versions, c.Next.Version), append(states2, next)
		if set[i].r.create {
			for _, id := range []struct{ kind, value string }{{"upc", set[i].r.ref.UPC}, {"grid", set[i].r.ref.GRid}} {
				if id.value != "" {
					idKinds, idValues, idKeys = append(idKinds, id.kind), append(idValues, id.value), append(idKeys, set[i].st.Key)
				}
			}
		}
		if len(c.Events) > 0 {
			if _, ok := envs[c.Topic]; !ok {
				topics = append(topics, c.Topic)
			}
			envs[c.Topic] = append(envs[c.Topic], i)
		}
	}
	b.Queue(`update release_streams s set version = u.version, state = u.state, updated_at = now()
		from unnest($1::text[], $2::bigint[], $3::json[]) as u(stream_key, version, state)
		where s.stream_key = u.stream_key`, skeys, versions, states2)
	if len(idKinds) > 0 {
		b.Queue(`insert into release_identifiers (kind, value, stream_key)
			select * from unnest($1::text[], $2::text[], $3::text[]) on conflict (kind, value) do nothing`, idKinds, idValues, idKeys)
	}
	type appended struct {
		ids []int64
		of  []int // set index of each id
	}
	var apps []appended
	for _, t := range topics {
		var all []events.Envelope
		var traces []map[string]string
		var a appended
		for _, i := range envs[t] {
			all = append(all, set[i].change.Events...)
			for range set[i].change.Events {
				a.of = append(a.of, i)
				traces = append(traces, set[i].change.Trace)
			}
		}
		ids, err := eventpg.QueueAppend(b, t, all, traces)
		if err != nil {
			return nil, err
		}
		a.ids = ids
		apps = append(apps, a)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("save streams: %w", err)
	}
	for _, a := range apps {
		for j, id := range a.ids {
			set[a.of[j]].ids = append(set[a.of[j]].ids, id)
		}
	}
	return set, nil
}

// assignCall is one decision's call of IDAssigner.AssignIDs, waiting for
// the set's answer.
type assignCall struct {
	releaseID int64
	artists   []string
	isrcs     []release.ISRC
	reply     chan assignReply // buffered
}

type assignReply struct {
	ids release.IDs
	err error
}

// decided is a decision's outcome.
type decided struct {
	i      int
	change ingest.Change
	err    error
}

// setAssigner is the IDAssigner of a decision in a set: it hands its call
// to decideAll and waits for the set's answer.
type setAssigner struct{ calls chan<- any }

func (a setAssigner) AssignIDs(ctx context.Context, releaseID int64, artists []string, isrcs []release.ISRC) (release.IDs, error) {
	c := assignCall{releaseID: releaseID, artists: artists, isrcs: isrcs, reply: make(chan assignReply, 1)}
	a.calls <- c
	select {
	case r := <-c.reply:
		return r.ids, r.err
	case <-ctx.Done():
		// decideAll still answers c (the reply is buffered); this decision
		// fails, and with it the set.
		return release.IDs{}, ctx.Err()
	}
}

// decideAll runs every decision of set at once and answers their id
// assignments together: whenever each running decision has either asked
// for ids or finished, the asks so far are one round trip. A decision that
// fails fails the set (errNotBulk's caller writes each delivery alone, so
// only the failing one fails); every decision has finished when it returns.
func (s *Store) decideAll(ctx context.Context, tx pgx.Tx, set []bulkStream) error {
	msgs := make(chan any, len(set))
	for i := range set {
		go func() {
			ch, err := set[i].r.fn(ctx, set[i].st, setAssigner{calls: msgs})
			msgs <- decided{i: i, change: ch, err: err}
		}()
	}
	var failed error
	for running := len(set); running > 0; {
		var asks []assignCall
		for range running {
			switch m := (<-msgs).(type) {
			case assignCall:
				asks = append(asks, m)
			case decided:
				if m.err != nil && failed == nil {
					failed = m.err
				}
				set[m.i].change = m.change
			}
		}
		running = len(asks)
		if len(asks) == 0 {
			break
		}
		var ids []release.IDs
		var err error
		if failed == nil {
			ids, err = assignAll(ctx, tx, asks)
		} else {
			err = errNotBulk // the set is lost already: assign nothing more
		}
		for i, c := range asks {
			if err != nil {
				c.reply <- assignReply{err: err}
				continue
			}
			c.reply <- assignReply{ids: ids[i]}
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// assignAll does what txAssigner.AssignIDs does for each of calls, for all
// of them in one round trip: new artist names are inserted in name order,
// and each release's new tracks in its tracklist's order.
func assignAll(ctx context.Context, tx pgx.Tx, calls []assignCall) ([]release.IDs, error) {
	var names []string
	var rids []int64
	var codes []string
	for _, c := range calls {
		names = append(names, c.artists...)
		for _, v := range c.isrcs {
			rids, codes = append(rids, c.releaseID), append(codes, v.String())
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	artists := make(map[string]int64, len(names))
	type track struct {
		rid  int64
		isrc string
	}
	tracks := make(map[track]int64, len(codes))
	b := &pgx.Batch{}
	b.Queue(`insert into artist_ids (name) select unnest($1::text[]) order by 1 on conflict (name) do nothing`, names)
	b.Queue(`insert into release_track_ids (release_id, isrc)
		select u.release_id, u.isrc from unnest($1::bigint[], $2::text[]) with ordinality as u(release_id, isrc, n)
		where not exists (select 1 from release_track_ids r where r.release_id = u.release_id and r.isrc = u.isrc)
		order by u.n`, rids, codes)
	b.Queue(`select name, artist_id from artist_ids where name = any($1)`, names).Query(func(rows pgx.Rows) error {
		var name string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error { artists[name] = id; return nil })
		return err
	})
	b.Queue(`select r.release_id, r.isrc, r.track_id from release_track_ids r
		join unnest($1::bigint[], $2::text[]) as u(release_id, isrc) on r.release_id = u.release_id and r.isrc = u.isrc`,
		rids, codes).Query(func(rows pgx.Rows) error {
		var t track
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&t.rid, &t.isrc, &id}, func() error { tracks[t] = id; return nil })
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("assign ids of %d releases: %w", len(calls), err)
	}
	out := make([]release.IDs, len(calls))
	for i, c := range calls {
		ids := release.IDs{Artists: map[string]int64{}, Tracks: map[release.ISRC]int64{}}
		for _, n := range c.artists {
			if id, ok := artists[n]; ok {
				ids.Artists[n] = id
			}
		}
		for _, v := range c.isrcs {
			if id, ok := tracks[track{c.releaseID, v.String()}]; ok {
				ids.Tracks[v] = id
			}
		}
		out[i] = ids
	}
	return out, nil
}
