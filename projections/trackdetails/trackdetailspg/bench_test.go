package trackdetailspg_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

// The replay benchmarks feed a rebuild's shadow generation the way the
// projector does: benchPartitions partitions consumed concurrently, in
// batches of up to benchBatch records (the consumer's MaxBatch).
const (
	benchPartitions = 6
	benchBatch      = 500
	benchTopic      = "bench"
	tracksPerRel    = 12
	// A release's DealsReplaced comes this many deliveries after its
	// Delivered in the log (about 10 later in the same partition), as a
	// later resend would, rather than right behind it.
	dealsLag = 60
)

var dealStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchDeals is a real delivery's deal set over the first n territories of
// release.Territories(): in each, a priced download under pay-as-you-go,
// subscription streaming and ad-supported streaming (3 deals a territory,
// 747 for all 249).
func benchDeals(n int) []release.Deal {
	start := dealStart
	var out []release.Deal
	for _, t := range release.Territories()[:n] {
		out = append(out,
			release.Deal{Territories: []string{t}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &start, Price: &release.Price{Amount: "9.99", Currency: "EUR"}},
			release.Deal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start},
			release.Deal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, Start: &start})
	}
	return out
}

// The deal sets are shared by every generated event: the store only reads
// them, and sharing keeps the benchmark's live heap to what a consumer
// holds (one batch), not 2000 releases' worth of decoded deals.
var (
	fullDeals = benchDeals(len(release.Territories()))
	cutDeals  = benchDeals(10)
)

var genres = []string{"Pop", "Rock", "Electronic", "Jazz", "Hip-Hop/Rap", "Classical", "Alternative", "R&B/Soul"}

// benchDelivered is release i's first delivery (release id i+1): full
// metadata, 12 tracks with ids i*12+k+1 and the 747-deal set.
func benchDelivered(i int) release.Delivered {
	artist := fmt.Sprintf("The Benchmarks %d", i%500)
	artistID := int64(100000 + i%500)
	credits := []release.Credit{{Name: artist, Role: "MainArtist"}}
	year := 2000 + i%26
	m := release.Metadata{
		UPC:                 release.WithCheckDigit(fmt.Sprintf("50%010d", i)),
		GRid:                fmt.Sprintf("A12425G%010dK", i),
		CatalogNumber:       fmt.Sprintf("BEN%06d", i),
		Title:               fmt.Sprintf("Benchmark Album %d", i),
		Type:                "Album",
		Label:               "Bench Records",
		Artist:              artist,
		Artists:             credits,
		PLine:               fmt.Sprintf("%d Bench Records", year),
		CLine:               fmt.Sprintf("%d Bench Records Ltd", year),
		Genre:               genres[i%len(genres)],
		ParentalWarning:     "NotExplicit",
		ReleaseDate:         "2026-01-01",
		OriginalReleaseDate: fmt.Sprintf("%d-%02d-%02d", year, 1+i%12, 1+i%28),
	}
	if i%7 == 3 {
		m.Version = "Deluxe Edition"
	}
	ev := release.Delivered{ReleaseID: int64(i + 1), Metadata: m, ArtistID: artistID, Deals: fullDeals}
	for k := 0; k < tracksPerRel; k++ {
		id := i*tracksPerRel + k + 1
		t := release.TrackInfo{
			TrackID: int64(id), ISRC: fmt.Sprintf("GBBEN%07d", id), Title: fmt.Sprintf("Track %d of Album %d", k+1, i),
			Artist: artist, ArtistID: artistID, Artists: credits, DurationSeconds: 150 + (i*37+k*53)%150,
			Disc: 1, Number: k + 1, PLine: m.PLine, ParentalWarning: "NotExplicit",
		}
		if k == 11 {
			t.Version = "Radio Edit"
		}
		ev.Tracks = append(ev.Tracks, t)
	}
	return ev
}

// benchLog is a deterministic release log of n releases, split into its
// partitions in offset order.
type benchLog struct {
	parts  [benchPartitions][]projections.Item
	events int // items in all partitions (every one an event to apply)
}

// newBenchLog generates the log: one Delivered (sequence 1) per release,
// keyed by UPC, on partition i%6; every 10th release (i%10 == 9) also gets
// a DealsReplaced cutting its deals to 10 territories (sequence 2),
// dealsLag deliveries later.
func newBenchLog(n int) *benchLog {
	l := &benchLog{}
	upcs := make([]string, n)
	add := func(i int, seq int64, ev events.Payload) {
		p := i % benchPartitions
		off := int64(len(l.parts[p]))
		l.parts[p] = append(l.parts[p], projections.Item{
			Record: events.Record{Topic: benchTopic, Partition: int32(p), Offset: off, Key: []byte(upcs[i])},
			Key:    upcs[i],
			Change: &projections.Change{Sequence: seq, Event: ev},
		})
		l.events++
	}
	replace := func(i int) {
		if i >= 0 && i%10 == 9 {
			add(i, 2, release.DealsReplaced{ReleaseID: int64(i + 1), Deals: cutDeals})
		}
	}
	for i := 0; i < n; i++ {
		ev := benchDelivered(i)
		upcs[i] = ev.UPC
		add(i, 1, ev)
		replace(i - dealsLag)
	}
	for i := max(n-dealsLag, 0); i < n; i++ {
		replace(i)
	}
	return l
}

// replay applies the log to generation gen as the projector would: one
// goroutine per partition, each applying its records in batches of
// benchBatch with the batch's checkpoint. It returns the events applied.
func replay(ctx context.Context, w *projectionpg.Writer, l *benchLog) (int, error) {
	var (
		wg      sync.WaitGroup
		applied atomic.Int64
		errs    = make(chan error, benchPartitions)
	)
	for p := range l.parts {
		items := l.parts[p]
		wg.Go(func() {
			for len(items) > 0 {
				batch := items[:min(benchBatch, len(items))]
				items = items[len(batch):]
				last := batch[len(batch)-1].Record
				res, err := w.Apply(ctx, projections.Checkpoint{Topic: benchTopic, Partition: last.Partition, NextOffset: last.Offset + 1}, batch)
				if err != nil {
					errs <- fmt.Errorf("partition %d: %w", p, err)
					return
				}
				if res.Applied != len(batch) {
					errs <- fmt.Errorf("partition %d: batch of %d applied %d (stale %d, parked %d)", p, len(batch), res.Applied, res.Stale, res.Parked)
					return
				}
				applied.Add(int64(res.Applied))
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(applied.Load()), <-errs
}

// records is the log as a projector reads it from Kafka: each event in its
// envelope, as record value and headers.
func (l *benchLog) records(tb testing.TB) (out [benchPartitions][]events.Record) {
	tb.Helper()
	at := dealStart
	for p, items := range l.parts {
		for _, it := range items {
			typ := it.Change.Event.EventType()
			env, err := events.NewEnvelope(typ, release.SchemaVersions[typ], "/catalog/ingest", it.Key, it.Change.Sequence, at, "bench", it.Change.Event)
			if err != nil {
				tb.Fatal(err)
			}
			r := it.Record
			r.Value, r.Headers = env.Data, env.Headers()
			out[p] = append(out[p], r)
		}
	}
	return out
}

// replayRecords feeds the records to h as the projector's consumer does:
// one goroutine per partition, batches of benchBatch records, each decoded
// and applied by the handler.
func replayRecords(ctx context.Context, h *projections.Handler, parts [benchPartitions][]events.Record) error {
	var (
		wg   sync.WaitGroup
		errs = make(chan error, benchPartitions)
	)
	for p := range parts {
		recs := parts[p]
		wg.Go(func() {
			for len(recs) > 0 {
				batch := recs[:min(benchBatch, len(recs))]
				recs = recs[len(batch):]
				if err := h.HandleBatch(ctx, events.Batch{Topic: benchTopic, Partition: int32(p), Records: batch}); err != nil {
					errs <- fmt.Errorf("partition %d: %w", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// cpuMeter measures the CPU time a benchmark takes: this process's (the
// projector's side: decoding, folding, encoding rows) and that of the
// PostgreSQL backends serving the benchmark's database (the server's
// side). CPU time moves less than wall time on a busy shared machine, so
// two benchmarks run there compare better by it.
type cpuMeter struct {
	pool *pgxpool.Pool
	self time.Duration
	pg   map[int]time.Duration
}

func startCPU(tb testing.TB, pool *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{pool: pool, self: selfCPU(), pg: backendsCPU(tb, pool)}
	return m
}

// report adds go-cpu-µs/<per> and pg-cpu-µs/<per>: the CPU time since
// start over n.
func (m *cpuMeter) report(b *testing.B, n int, per string) {
	self := selfCPU() - m.self
	var pg time.Duration
	for pid, t := range backendsCPU(b, m.pool) {
		pg += t - m.pg[pid]
	}
	b.ReportMetric(float64(self.Microseconds())/float64(n), "go-cpu-µs/"+per)
	b.ReportMetric(float64(pg.Microseconds())/float64(n), "pg-cpu-µs/"+per)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendsCPU reads the CPU time (user and system, /proc/PID/stat) of
// every backend connected to the pool's database, by process id.
func backendsCPU(tb testing.TB, pool *pgxpool.Pool) map[int]time.Duration {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `select pid from pg_stat_activity where datname = current_database()`)
	if err != nil {
		tb.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // not on this machine, or gone
		}
		// Fields after the command name: state is the 3rd field of the
		// line, utime and stime its 14th and 15th, in clock ticks (100/s).
		f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
		st, _ := strconv.ParseInt(string(f[12]), 10, 64)
		out[int(pid)] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// shadow is a fresh database, migrated, with an empty live generation and
// a rebuild's shadow generation (no secondary indexes yet).
type shadow struct {
	pool  *pgxpool.Pool
	store *trackdetailspg.Store
	gen   int
}

func newShadow(tb testing.TB) shadow {
	tb.Helper()
	ctx := context.Background()
	pool := testenv.Postgres(tb)
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		tb.Fatal(err)
	}
	store, err := trackdetailspg.New(pool)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := store.EnsureLive(ctx); err != nil {
		tb.Fatal(err)
	}
	g, err := store.StartRebuild(ctx, false, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return shadow{pool: pool, store: store, gen: g.Number}
}

func (s shadow) table(name string) pgx.Identifier {
	return pgx.Identifier{fmt.Sprintf("td_g%d", s.gen), name}
}

// checkpoint flushes the setup's writes so that a checkpoint does not land
// in the timed part by chance.
func (s shadow) checkpoint(tb testing.TB) {
	if _, err := s.pool.Exec(context.Background(), "checkpoint"); err != nil {
		tb.Logf("checkpoint: %v", err)
	}
}

// diskBytes is the size of the generation's tables with their TOAST and
// indexes.
func (s shadow) diskBytes(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	err := s.pool.QueryRow(context.Background(), `select pg_total_relation_size($1::regclass) + pg_total_relation_size($2::regclass)`,
		s.table("releases").Sanitize(), s.table("tracks").Sanitize()).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// tableRows is a table's rows as stored: column names and values, jsonb
// columns kept as their JSON text so that COPY writes them back unchanged.
type tableRows struct {
	cols []string
	rows [][]any
}

func (s shadow) read(ctx context.Context, table string) (tableRows, error) {
	var out tableRows
	rows, err := s.pool.Query(ctx, "select * from "+s.table(table).Sanitize())
	if err != nil {
		return out, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	dest := make([]any, len(fds))
	for j, fd := range fds {
		out.cols = append(out.cols, fd.Name)
		if fd.DataTypeOID == pgtype.JSONBOID {
			dest[j] = new([]byte)
		} else {
			dest[j] = new(any)
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return out, err
		}
		vals := make([]any, len(dest))
		for j, d := range dest {
			switch d := d.(type) {
			case *[]byte:
				vals[j], *d = *d, nil
			case *any:
				vals[j], *d = *d, nil
			}
		}
		out.rows = append(out.rows, vals)
	}
	return out, rows.Err()
}

// copyIn writes releases and tracks with one COPY each, the two at once.
func (s shadow) copyIn(ctx context.Context, rel, trk tableRows) (int64, error) {
	var (
		wg   sync.WaitGroup
		n    atomic.Int64
		errs = make(chan error, 2)
	)
	for name, t := range map[string]tableRows{"releases": rel, "tracks": trk} {
		wg.Go(func() {
			c, err := s.pool.CopyFrom(ctx, s.table(name), t.cols, pgx.CopyFromRows(t.rows))
			if err != nil {
				errs <- fmt.Errorf("copy %s: %w", name, err)
				return
			}
			n.Add(c)
		})
	}
	wg.Wait()
	close(errs)
	return n.Load(), <-errs
}

// finalRows replays l into a fresh shadow generation (indexes built, as a
// finished rebuild has them) and returns it with its rows.
func finalRows(tb testing.TB, l *benchLog) (src shadow, rel, trk tableRows) {
	tb.Helper()
	ctx := context.Background()
	src = newShadow(tb)
	if _, err := replay(ctx, src.store.Writer(src.gen), l); err != nil {
		tb.Fatal(err)
	}
	if err := src.store.BuildIndexes(ctx, src.gen); err != nil {
		tb.Fatal(err)
	}
	var err error
	if rel, err = src.read(ctx, "releases"); err != nil {
		tb.Fatal(err)
	}
	if trk, err = src.read(ctx, "tracks"); err != nil {
		tb.Fatal(err)
	}
	return src, rel, trk
}

// BenchmarkReplay measures a rebuild's bulk load through the store: b.N
// releases (b.N + b.N/10 events) applied to an empty shadow generation by
// 6 partition consumers in batches of 500, then its secondary indexes.
// Run with -benchtime=2000x: ns/op is per release.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	dst := newShadow(b)
	l := newBenchLog(b.N)
	w := dst.store.Writer(dst.gen)
	dst.checkpoint(b)

	cpu := startCPU(b, dst.pool)
	b.ResetTimer()
	applied, err := replay(ctx, w, l)
	if err != nil {
		b.Fatal(err)
	}
	if err := dst.store.BuildIndexes(ctx, dst.gen); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	cpu.report(b, b.N, "release")
	if applied != l.events {
		b.Fatalf("applied %d events of %d", applied, l.events)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(applied)/secs, "events/s")
	b.ReportMetric(float64(b.N)/secs, "releases/s")
	b.ReportMetric(float64(dst.diskBytes(b))/float64(b.N), "disk-bytes/release")
}

// BenchmarkReplayDecoded is BenchmarkReplay from records, as the
// projector's handler takes them from Kafka: every batch decoded
// (envelope, payload, each change prepared as the projector has it) and
// then applied. The difference to BenchmarkReplay is the decoding.
func BenchmarkReplayDecoded(b *testing.B) {
	ctx := context.Background()
	dst := newShadow(b)
	l := newBenchLog(b.N)
	recs := l.records(b)
	l.parts = [benchPartitions][]projections.Item{} // only the records stay live
	h, err := projections.NewHandler(dst.store.Writer(dst.gen), nil, slog.New(slog.DiscardHandler), projections.WithPrepare(trackdetailspg.Model{}.Prepare))
	if err != nil {
		b.Fatal(err)
	}
	dst.checkpoint(b)

	cpu := startCPU(b, dst.pool)
	b.ResetTimer()
	if err := replayRecords(ctx, h, recs); err != nil {
		b.Fatal(err)
	}
	if err := dst.store.BuildIndexes(ctx, dst.gen); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.report(b, b.N, "release")

	var applied int
	if err := dst.pool.QueryRow(ctx, `select coalesce(sum(applied), 0) from projection_checkpoints where generation = $1`, dst.gen).Scan(&applied); err != nil {
		b.Fatal(err)
	}
	if applied != l.events {
		b.Fatalf("applied %d events of %d", applied, l.events)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(applied)/secs, "events/s")
	b.ReportMetric(float64(b.N)/secs, "releases/s")
}

// BenchmarkRawCopy is the limit underneath BenchmarkReplay: the same final
// rows (those the replay of the same b.N releases leaves) written into an
// empty shadow generation with one COPY per table, then the same secondary
// indexes. events/s-equivalent is the replay's event count over the copy
// time, so the two compare the same data.
func BenchmarkRawCopy(b *testing.B) {
	ctx := context.Background()
	l := newBenchLog(b.N)
	_, rel, trk := finalRows(b, l)
	dst := newShadow(b)
	dst.checkpoint(b)

	cpu := startCPU(b, dst.pool)
	b.ResetTimer()
	n, err := dst.copyIn(ctx, rel, trk)
	if err != nil {
		b.Fatal(err)
	}
	if err := dst.store.BuildIndexes(ctx, dst.gen); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.report(b, b.N, "release")

	if want := int64(len(rel.rows) + len(trk.rows)); n != want {
		b.Fatalf("copied %d rows of %d", n, want)
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)/secs, "rows/s")
	b.ReportMetric(float64(l.events)/secs, "events/s-equivalent")
	b.ReportMetric(float64(dst.diskBytes(b))/float64(b.N), "disk-bytes/release")
}

// TestReplayMatchesCopy shows that BenchmarkRawCopy writes what the replay
// does: the copied generation hashes the same as the replayed one.
func TestReplayMatchesCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 50
	l := newBenchLog(n)
	if want := n + n/10; l.events != want {
		t.Fatalf("log has %d events, want %d", l.events, want)
	}
	src, rel, trk := finalRows(t, l)
	if len(rel.rows) != n || len(trk.rows) != n*tracksPerRel {
		t.Fatalf("replay left %d releases and %d tracks, want %d and %d", len(rel.rows), len(trk.rows), n, n*tracksPerRel)
	}
	var replaced int
	if err := src.pool.QueryRow(ctx, "select count(*) from "+src.table("releases").Sanitize()+" where version = 2").Scan(&replaced); err != nil {
		t.Fatal(err)
	}
	if replaced != n/10 {
		t.Errorf("%d releases at version 2, want %d", replaced, n/10)
	}

	dst := newShadow(t)
	if _, err := dst.copyIn(ctx, rel, trk); err != nil {
		t.Fatal(err)
	}
	if err := dst.store.BuildIndexes(ctx, dst.gen); err != nil {
		t.Fatal(err)
	}
	want, err := src.store.Hash(ctx, src.gen)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.store.Hash(ctx, dst.gen)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("copied generation hash %s, replayed %s", got, want)
	}
}
