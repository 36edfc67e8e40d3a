// Package ingestpg is the PostgreSQL store of ingest's write-side state:
// release streams (version and current state per release), the identifiers
// that lead to them, the catalogue ids assigned to releases, tracks and
// artists, and, in the same transactions, the outbox of events.
//
// A release's state is read and written with go-json-experiment's v1
// package: encoding/json's semantics on the json/v2 engine, which decodes a
// state in one pass where encoding/json scans it twice (encoding/json's
// Unmarshal of states was the largest JSON share of the ingest role's CPU
// under load).
package ingestpg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the store's tables, and the outbox's, up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := eventpg.MigrateOutbox(ctx, pool); err != nil {
		return err
	}
	return pgmigrate.Migrate(ctx, pool, "ingest_schema_version", migrations)
}

// Store implements ingest.Store. A Store from New runs each Update in a
// transaction of its own; one from NewGroupCommit commits several in one.
type Store struct {
	pool *pgxpool.Pool

	// Group commit (NewGroupCommit); shards is nil without it.
	shards   []chan *request
	maxBatch int
	stop     chan struct{}
	stopOnce sync.Once
	writers  sync.WaitGroup
}

// New returns a Store on pool whose every Update is a transaction of its
// own. Run Migrate first.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("ingestpg: pool is required")
	}
	return &Store{pool: pool}, nil
}

// GroupCommit configures a Store that commits several deliveries in one
// transaction.
type GroupCommit struct {
	// Writers is how many transactions run at once (default 16: a
	// writer's deliveries are written one after the other, so fewer
	// writers would serialise deliveries that run side by side in
	// transactions of their own). Deliveries are spread over the writers
	// by release (by UPC, else GRid), so the deliveries of one release are
	// written by one writer, in the order they arrived.
	Writers int
	// MaxBatch caps the deliveries of one transaction (default 32; each is
	// a savepoint, and Postgres keeps track of up to 64 of them per
	// transaction cheaply).
	MaxBatch int
}

// NewGroupCommit returns a Store on pool that writes deliveries in batches:
// a writer takes every delivery waiting for it (up to MaxBatch), writes
// those of distinct releases as one set (writeSet: a few round trips
// however many there are), the rest, or all of them when a set cannot be
// written whole, each under a savepoint, in one transaction, and commits
// once.
// A delivery that fails rolls back to its savepoint and fails alone; its
// batch-mates commit. While a batch is being written the next one gathers,
// so under load one commit (one WAL flush, one round trip) serves many
// deliveries, and with a single delivery waiting nothing waits for company.
// Close stops the writers. Run Migrate first.
func NewGroupCommit(pool *pgxpool.Pool, cfg GroupCommit) (*Store, error) {
	s, err := New(pool)
	if err != nil {
		return nil, err
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 16
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 32
	}
	s.maxBatch = cfg.MaxBatch
	s.stop = make(chan struct{})
	s.shards = make([]chan *request, cfg.Writers)
	for i := range s.shards {
		s.shards[i] = make(chan *request, cfg.MaxBatch)
		s.writers.Add(1)
		go s.write(s.shards[i])
	}
	return s, nil
}

// Close stops a group-commit Store's writers once their batches are
// written; Updates still waiting fail. A Store from New has nothing to stop.
func (s *Store) Close() {
	if s.shards == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stop) })
	s.writers.Wait()
}

// errClosed reports an Update on a Store that was closed.
var errClosed = errors.New("ingestpg: store closed")

// updateFunc is what Update calls with the locked stream.
type updateFunc = func(context.Context, ingest.Stream, ingest.IDAssigner) (ingest.Change, error)

// request is one Update waiting for a group-commit writer.
type request struct {
	ctx    context.Context
	ref    ingest.StreamRef
	create bool
	fn     updateFunc
	done   chan result // buffered
}

type result struct {
	ids []int64
	err error
}

// Update implements ingest.Store. The stream row stays locked for the
// length of fn, so deliveries of one release are decided one at a time.
func (s *Store) Update(ctx context.Context, ref ingest.StreamRef, create bool, fn updateFunc) ([]int64, error) {
	if s.shards == nil {
		return s.updateAlone(ctx, ref, create, fn)
	}
	key := ref.UPC
	if key == "" {
		key = ref.GRid
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	req := &request{ctx: ctx, ref: ref, create: create, fn: fn, done: make(chan result, 1)}
	select {
	case s.shards[h.Sum32()%uint32(len(s.shards))] <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stop:
		return nil, errClosed
	}
	// Once queued, the request is answered: it may already be part of a
	// transaction, whose outcome it must report.
	r := <-req.done
	return r.ids, r.err
}

// write is one group-commit writer: it writes the requests of its shard
// in batches until the Store closes, then fails those still queued.
func (s *Store) write(ch chan *request) {
	defer s.writers.Done()
	for {
		var first *request
		select {
		case first = <-ch:
		case <-s.stop:
			for {
				select {
				case r := <-ch:
					r.done <- result{err: errClosed}
				default:
					return
				}
			}
		}
		batch := []*request{first}
	gather:
		for len(batch) < s.maxBatch {
			select {
			case r := <-ch:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.writeBatch(batch)
	}
}

// batchTimeout bounds one batch's transaction, whatever its callers'
// contexts: a caller that gives up does not abort its batch-mates.
const batchTimeout = 30 * time.Second

// writeBatch writes a batch in one transaction, each request under a
// savepoint. A request that fails rolls back to its savepoint and gets its
// error; one that lost a deadlock (its batch and another held locks the
// other wanted: deliveries of one release named by UPC in one and by GRid
// in the other, or two new artists) is written again in a transaction of
// its own once the batch has committed. A failed commit fails every
// request the batch had kept; nothing of them was written.
func (s *Store) writeBatch(batch []*request) {
	if len(batch) == 1 {
		r := batch[0]
		ids, err := s.updateAlone(r.ctx, r.ref, r.create, r.fn)
		r.done <- result{ids: ids, err: err}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		for _, r := range batch {
			r.done <- result{err: fmt.Errorf("begin: %w", err)}
		}
		return
	}
	type written struct {
		r   *request
		ids []int64
	}
	var kept []written
	var again []*request
	broken := error(nil)
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- result{err: err}
			continue
		}
		live = append(live, r)
	}
	one := live
	if set, rest := splitSet(live); len(set) > 1 {
		// Most of a batch under load: deliveries of distinct releases,
		// written as one set in a few round trips.
		done, err := s.writeSet(ctx, tx, set)
		switch {
		case err == nil:
			for _, w := range done {
				kept = append(kept, written{w.r, w.ids})
			}
			one = rest
		case errors.Is(err, errNotBulk):
			// One at a time, each under its savepoint, in arrival order.
		default:
			broken = fmt.Errorf("batch transaction: %w", err)
		}
	}
	for _, r := range one {
		if broken != nil {
			r.done <- result{err: broken}
			continue
		}
		ids, err := s.update(ctx, tx, r.ref, r.create, r.fn, true)
		if err == nil {
			kept = append(kept, written{r, ids})
			continue
		}
		if _, rb := tx.Exec(ctx, `rollback to savepoint delivery`); rb != nil {
			// The transaction is lost: so is every request it kept.
			broken = fmt.Errorf("batch transaction: %w", errors.Join(err, rb))
			r.done <- result{err: err}
			for _, w := range kept {
				w.r.done <- result{err: broken}
			}
			kept = nil
			continue
		}
		if isDeadlock(err) {
			again = append(again, r)
			continue
		}
		r.done <- result{err: err}
	}
	if broken != nil {
		_ = tx.Rollback(ctx)
	} else if err := tx.Commit(ctx); err != nil {
		for _, w := range kept {
			w.r.done <- result{err: fmt.Errorf("commit: %w", err)}
		}
	} else {
		for _, w := range kept {
			w.r.done <- result{ids: w.ids}
		}
	}
	for _, r := range again {
		ids, err := s.updateAlone(r.ctx, r.ref, r.create, r.fn)
		r.done <- result{ids: ids, err: err}
	}
}

// splitSet splits a batch into the deliveries writeSet may write as one
// set, in order, and the rest: a delivery that names a UPC or GRid an
// earlier one of the batch named may be of the same release, so it is
// left to be written after the set, one at a time, which keeps the
// deliveries of a release in their order.
func splitSet(batch []*request) (set, rest []*request) {
	named := make(map[[2]string]bool, 2*len(batch))
	for _, r := range batch {
		u, g := [2]string{"upc", r.ref.UPC}, [2]string{"grid", r.ref.GRid}
		if (r.ref.UPC != "" && named[u]) || (r.ref.GRid != "" && named[g]) {
			rest = append(rest, r)
		} else {
			set = append(set, r)
		}
		named[u], named[g] = true, true
	}
	return set, rest
}

// isDeadlock reports Postgres's deadlock_detected.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// updateAlone runs one Update in a transaction of its own.
func (s *Store) updateAlone(ctx context.Context, ref ingest.StreamRef, create bool, fn updateFunc) (outboxIDs []int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rb := tx.Rollback(ctx); rb != nil && !errors.Is(rb, pgx.ErrTxClosed) {
				err = errors.Join(err, rb)
			}
		}
	}()
	if outboxIDs, err = s.update(ctx, tx, ref, create, fn, false); err != nil {
		return nil, err
	}
	if err = tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit stream %s: %w", ref.UPC+ref.GRid, err)
	}
	return outboxIDs, nil
}

// update does one Update's work in tx, without committing: finds the
// stream, locks it, calls fn and saves its change. With savepoint, it
// first sets the savepoint "delivery", which the caller rolls back to
// when update fails.
func (s *Store) update(ctx context.Context, tx pgx.Tx, ref ingest.StreamRef, create bool, fn updateFunc, savepoint bool) (outboxIDs []int64, err error) {
	var keys []string
	b := &pgx.Batch{}
	if savepoint {
		b.Queue(`savepoint delivery`)
	}
	b.Queue(`select distinct stream_key from release_identifiers
		where (kind = 'upc' and value = $1) or (kind = 'grid' and value = $2)`, ref.UPC, ref.GRid).Query(func(rows pgx.Rows) error {
		var err error
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err = tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("find release: %w", err)
	}
	var st ingest.Stream
	newStream := false
	switch {
	case len(keys) > 1:
		return nil, fmt.Errorf("UPC %q and GRid %q: %w", ref.UPC, ref.GRid, ingest.ErrIdentityConflict)
	case len(keys) == 1:
		st.Key = keys[0]
	case !create:
		// Unknown release: decide against the empty state, store nothing.
		ch, err := fn(ctx, st, txAssigner{tx})
		if err != nil {
			return nil, err
		}
		if len(ch.Events) > 0 {
			return nil, errors.New("ingestpg: events for a release that does not exist")
		}
		return nil, nil
	default:
		st.Key = ref.UPC
		if st.Key == "" {
			st.Key = ref.GRid
		}
		newStream = true
	}

	// One round trip creates the stream if need be, locks it, reads its
	// state and whether the release is blocked in the outbox.
	var raw []byte
	var blocked *int64
	b = &pgx.Batch{}
	if newStream {
		b.Queue(`insert into release_streams (stream_key) values ($1) on conflict (stream_key) do nothing`, st.Key)
	}
	b.Queue(`select release_id, version, state from release_streams where stream_key = $1 for update`, st.Key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&st.State.ReleaseID, &st.State.Version, &raw) })
	b.Queue(`select min(id) from outbox where key = $1 and blocked_at is not null`, st.Key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&blocked) })
	if err = tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("lock stream %s: %w", st.Key, err)
	}
	if raw != nil {
		id, version := st.State.ReleaseID, st.State.Version
		if err = jsonv1.Unmarshal(raw, &st.State); err != nil {
			return nil, fmt.Errorf("stream %s state: %w", st.Key, err)
		}
		st.State.ReleaseID, st.State.Version = id, version
	}

	// A release whose events are blocked in the outbox takes no new ones:
	// they could not reach Kafka before the blocked row anyway.
	if blocked != nil {
		return nil, fmt.Errorf("release %s, outbox row %d: %w", st.Key, *blocked, events.ErrBlocked)
	}

	ch, err := fn(ctx, st, txAssigner{tx})
	if err != nil {
		return nil, err
	}
	next, err := jsonv1.Marshal(ch.Next)
	if err != nil {
		return nil, fmt.Errorf("stream %s state: %w", st.Key, err)
	}
	// One round trip saves the state, the identifiers and the events.
	b = &pgx.Batch{}
	b.Queue(`update release_streams set version = $2, state = $3, updated_at = now() where stream_key = $1`,
		st.Key, ch.Next.Version, next)
	if create {
		for _, id := range []struct{ kind, value string }{{"upc", ref.UPC}, {"grid", ref.GRid}} {
			if id.value == "" {
				continue
			}
			b.Queue(`insert into release_identifiers (kind, value, stream_key) values ($1, $2, $3)
				on conflict (kind, value) do nothing`, id.kind, id.value, st.Key)
		}
	}
	if len(ch.Events) > 0 {
		if outboxIDs, err = eventpg.QueueAppend(b, ch.Topic, ch.Events, eventpg.SameTrace(ch.Trace, len(ch.Events))); err != nil {
			return nil, err
		}
	}
	if err = tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("save stream %s: %w", st.Key, err)
	}
	return outboxIDs, nil
}

type txAssigner struct{ tx pgx.Tx }

// AssignIDs inserts the names not seen before and the release's ISRCs it
// has not carried before, and reads back every id. Track ids are per
// (release, ISRC): the same recording on two releases is two tracks. They
// are numbered in the order isrcs gives (the tracklist's), so a release's
// ids ascend with its tracklist. The release's stream row is locked by the
// caller's transaction, so its ids are assigned one delivery at a time;
// concurrent first sightings of one artist name serialise on its key.
func (a txAssigner) AssignIDs(ctx context.Context, releaseID int64, artists []string, isrcs []release.ISRC) (release.IDs, error) {
	ids := release.IDs{Artists: map[string]int64{}, Tracks: map[release.ISRC]int64{}}
	codes := make([]string, len(isrcs))
	byCode := make(map[string]release.ISRC, len(isrcs))
	for i, v := range isrcs {
		codes[i] = v.String()
		byCode[codes[i]] = v
	}
	b := &pgx.Batch{}
	b.Queue(`insert into artist_ids (name) select unnest($1::text[]) order by 1 on conflict (name) do nothing`, artists)
	b.Queue(`insert into release_track_ids (release_id, isrc)
		select $1, u.isrc from unnest($2::text[]) with ordinality as u(isrc, n)
		where not exists (select 1 from release_track_ids r where r.release_id = $1 and r.isrc = u.isrc)
		order by u.n`, releaseID, codes)
	b.Queue(`select name, artist_id from artist_ids where name = any($1)`, artists).Query(func(rows pgx.Rows) error {
		var name string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error { ids.Artists[name] = id; return nil })
		return err
	})
	b.Queue(`select isrc, track_id from release_track_ids where release_id = $1 and isrc = any($2)`, releaseID, codes).Query(func(rows pgx.Rows) error {
		var code string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&code, &id}, func() error { ids.Tracks[byCode[code]] = id; return nil })
		return err
	})
	if err := a.tx.SendBatch(ctx, b).Close(); err != nil {
		return release.IDs{}, fmt.Errorf("assign ids of release %d: %w", releaseID, err)
	}
	return ids, nil
}
