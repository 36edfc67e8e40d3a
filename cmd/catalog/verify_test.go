package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
	"github.com/catalog-org/catalog/verify"
)

// verifyRun runs `catalog verify --json args...` and returns its report and
// exit status.
func verifyRun(t *testing.T, s stack, args ...string) (verify.Report, int, string) {
	t.Helper()
	cmd := exec.Command(catalogBin, append([]string{"verify", "--json"}, args...)...)
	cmd.Env = s.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep verify.Report
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("verify printed no JSON report: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	}
	return rep, code, stderr.String()
}

// layer returns a layer's summary from a report.
func layer(rep verify.Report, name string) verify.LayerSummary {
	for _, l := range rep.Layers {
		if l.Layer == name {
			return l
		}
	}
	return verify.LayerSummary{}
}

// writeCatalogue writes the generated catalogue (first deliveries, then
// metadata updates, deal changes, takedowns and purges) as DDEX ERN 4.3,
// and resends of a few releases with their first track removed, as JSON.
func writeCatalogue(t *testing.T, seed uint64, n int) string {
	t.Helper()
	dir := t.TempDir()
	deliveries := gen.Catalogue(seed, n, gen.DefaultReuse)
	for _, d := range deliveries {
		var b bytes.Buffer
		if err := gen.ERN43(&b, d); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d.Name+".xml"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range deliveries[:n] {
		j := d.Release
		if i%7 != 3 || len(j.Tracks) < 2 {
			continue
		}
		created, err := time.Parse(time.RFC3339, j.MessageCreated)
		if err != nil {
			t.Fatal(err)
		}
		j.MessageID += "-shorter"
		j.MessageCreated = created.AddDate(0, 0, 90).Format(time.RFC3339)
		j.Tracks = j.Tracks[1:]
		b, err := ingest.EncodeJSON(j)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("4-tracks-%07d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestVerify: after the sample catalogue of `catalog dev --sample` and a
// generated one with updates, deal changes, takedowns, purges and tracks
// removed, verify finds nothing in any layer; a read-model row corrupted on
// purpose is named exactly (layer, track, field), and so is a corrupted
// Redis entry; after a rebuild, nothing again.
func TestVerify(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "dev", "--sample", "30")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	s.run(t, "ingest", "--quiet", writeCatalogue(t, 5, 80))
	waitClient(t, s, "demo")

	rep, code, stderr := verifyRun(t, s, "--sample", "300")
	if code != 0 || len(rep.Divergences) != 0 {
		t.Fatalf("verify after loading: exit %d, divergences %v\n%s", code, rep.Divergences, stderr)
	}
	pg, api := layer(rep, verify.LayerPostgres), layer(rep, verify.LayerAPI)
	if rep.Log.LiveTracks < 500 || rep.Log.GoneTracks == 0 || rep.Log.Purged == 0 || pg.Tracks != rep.Log.LiveTracks+rep.Log.GoneTracks ||
		pg.Territories < 100 || api.Requests != 300 {
		t.Fatalf("verify covered too little: log %+v, postgres %+v, api %+v", rep.Log, pg, api)
	}
	if idf := layer(rep, verify.LayerIdentifiers); idf.Skipped != "" || idf.Tracks != rep.Log.LiveTracks || idf.Checks < rep.Log.LiveTracks ||
		rep.IdentifiersGeneration == 0 {
		t.Fatalf("the identifiers layer covered too little: log %+v, identifiers %+v", rep.Log, idf)
	}
	verifyIdentifiersCorrupted(t, s)

	// The api layer's reads filled hot entries; they are compared now.
	rep, code, stderr = verifyRun(t, s, "--sample", "50", "--seed", "2")
	if r := layer(rep, verify.LayerRedis); code != 0 || r.Entries == 0 {
		t.Fatalf("verify with hot entries: exit %d, redis %+v, divergences %v\n%s", code, r, rep.Divergences, stderr)
	}

	ctx := ctxT(t)
	pool, err := pgxpool.New(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var gen int
	var ids []int64
	rows, err := pool.Query(ctx, `select t.generation, t.track_id from td.tracks t join td.releases r on r.release_id = t.release_id
		where not r.purged order by t.track_id limit 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&gen, &id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if rows.Err() != nil || len(ids) != 2 {
		t.Fatalf("live tracks: %v %v", ids, rows.Err())
	}

	// One read-model row corrupted: exactly that track and field, in the
	// postgres layer.
	if _, err := pool.Exec(ctx, fmt.Sprintf(`update td_g%d.tracks set title = title || ' (corrupted)' where track_id = $1`, gen), ids[0]); err != nil {
		t.Fatal(err)
	}
	rep, code, _ = verifyRun(t, s, "--layers", "postgres")
	if d := rep.Divergences; code != 1 || len(d) != 1 || d[0].Layer != verify.LayerPostgres || d[0].Track != ids[0] || d[0].Field != "title" ||
		d[0].Served != d[0].Expected+" (corrupted)" {
		t.Fatalf("a corrupted title: exit %d, divergences %+v", code, d)
	}
	text := exec.Command(catalogBin, "verify", "--layers", "postgres")
	text.Env = s.env
	out, _ := text.Output()
	if want := fmt.Sprintf("divergence layer=postgres track=%d release=%d territory=- field=title expected=%q served=%q\n", ids[0],
		rep.Divergences[0].Release, rep.Divergences[0].Expected, rep.Divergences[0].Served); !strings.HasPrefix(string(out), want) ||
		!strings.Contains(string(out), "verify: 1 divergences") {
		t.Errorf("text output:\n%s\nwant it to start with\n%s", out, want)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`update td_g%d.tracks set title = left(title, -length(' (corrupted)')) where track_id = $1`, gen), ids[0]); err != nil {
		t.Fatal(err)
	}

	// One hot entry corrupted: an entry at the right version with a wrong
	// title is named in the redis layer.
	store, err := trackdetailspg.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	row, err := store.TrackRow(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	row.Track.Title += " (stale)"
	payload, _ := json.Marshal(row)
	prefix := s.prefix
	raw := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	defer raw.Close()
	keys, err := raw.Keys(ctx, fmt.Sprintf("%s%d:*:%d", prefix, gen, ids[1])).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := raw.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := projectionredis.New(projectionredis.Config{Addr: testenv.RedisAddr(t), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	// A fill counts as read once the client knows the server's run: reach
	// it first.
	if _, _, _, err := cache.Get(ctx, int64(gen), ids[1]); err != nil {
		t.Fatal(err)
	}
	if stored, err := cache.Fill(ctx, int64(gen), ids[1], projections.ReleaseVersion{Release: row.Track.Release.ID, Version: row.Version}, payload, time.Now()); err != nil || !stored {
		t.Fatalf("fill: %v %v", stored, err)
	}
	rep, code, _ = verifyRun(t, s, "--layers", "postgres,redis")
	if d := rep.Divergences; code != 1 || len(d) != 1 || d[0].Layer != verify.LayerRedis || d[0].Track != ids[1] || d[0].Field != "title" ||
		!strings.HasSuffix(d[0].Served, " (stale)") {
		t.Fatalf("a corrupted entry: exit %d, divergences %+v", code, d)
	}

	// A rebuild from offset zero serves what the log says too (and drops
	// the old generation's entries, the corrupted one with them).
	if out := s.run(t, "projections", "rebuild", "track-details"); !strings.Contains(out, fmt.Sprintf("generation %d is live", gen+1)) {
		t.Fatalf("rebuild printed %q", out)
	}
	rep, code, stderr = verifyRun(t, s, "--sample", "100")
	if code != 0 || rep.Generation != gen+1 || layer(rep, verify.LayerPostgres).Tracks != pg.Tracks {
		t.Fatalf("verify after the rebuild: exit %d, generation %d, postgres %+v, divergences %v\n%s", code, rep.Generation,
			layer(rep, verify.LayerPostgres), rep.Divergences, stderr)
	}
}

// verifyIdentifiersCorrupted corrupts the identifiers read model by SQL,
// one row at a time, and checks that verify names exactly the look-up
// that changed; each row is put back after.
func verifyIdentifiersCorrupted(t *testing.T, s stack) {
	t.Helper()
	ctx := ctxT(t)
	pool, err := pgxpool.New(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// A track of an ISRC that two live releases carry (a compilation's)
	// loses its ISRC: the ISRC's look-up misses that one track.
	var gen int
	var isrc string
	var track, rel int64
	if err := pool.QueryRow(ctx, `select t.generation, t.isrc, t.track_id, t.release_id from idf.tracks t
		join idf.releases r on r.release_id = t.release_id and not r.purged
		where t.isrc in (select t2.isrc from idf.tracks t2 join idf.releases r2 on r2.release_id = t2.release_id and not r2.purged
			group by t2.isrc having count(*) > 1)
		order by t.isrc, t.release_id desc limit 1`).Scan(&gen, &isrc, &track, &rel); err != nil {
		t.Fatalf("a shared ISRC: %v", err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`update idf_g%d.tracks set isrc = 'ZZX990000000' where release_id = $1 and track_id = $2`, gen), rel, track); err != nil {
		t.Fatal(err)
	}
	rep, code, stderr := verifyRun(t, s, "--layers", "postgres,identifiers")
	want := verify.Divergence{Layer: verify.LayerIdentifiers, Key: "isrc:" + isrc, Track: track, Release: rel, Field: "track", Expected: "listed", Served: "not listed"}
	if d := rep.Divergences; code != 1 || len(d) != 1 || d[0] != want {
		t.Fatalf("an ISRC altered: exit %d, divergences %+v, want %+v\n%s", code, d, want, stderr)
	}
	text := exec.Command(catalogBin, "verify", "--layers", "postgres,identifiers")
	text.Env = s.env
	out, _ := text.Output()
	if line := fmt.Sprintf("divergence layer=identifiers key=%q track=%d release=%d field=track expected=\"listed\" served=\"not listed\"\n",
		"isrc:"+isrc, track, rel); !strings.HasPrefix(string(out), line) || !strings.Contains(string(out), "verify: 1 divergences") {
		t.Errorf("text output:\n%s\nwant it to start with\n%s", out, line)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`update idf_g%d.tracks set isrc = $3 where release_id = $1 and track_id = $2`, gen), rel, track, isrc); err != nil {
		t.Fatal(err)
	}

	// A party's row of one of its releases deleted: that release is
	// missing from the party's list, and the total is one short.
	var party string
	var n int
	if err := pool.QueryRow(ctx, `select p.party, p.release_id, (select count(*) from idf.parties q where q.party = p.party)
		from idf.parties p order by p.party, p.release_id limit 1`).Scan(&party, &rel, &n); err != nil {
		t.Fatalf("a party's release: %v", err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`delete from idf_g%d.parties where party = $1 and release_id = $2`, gen), party, rel); err != nil {
		t.Fatal(err)
	}
	rep, code, stderr = verifyRun(t, s, "--layers", "postgres,identifiers")
	wantList := []verify.Divergence{
		{Layer: verify.LayerIdentifiers, Key: "party:" + party, Field: "total", Expected: fmt.Sprint(n), Served: fmt.Sprint(n - 1)},
		{Layer: verify.LayerIdentifiers, Key: "party:" + party, Release: rel, Field: "release", Expected: "listed", Served: "not listed"},
	}
	if d := rep.Divergences; code != 1 || len(d) != 2 || d[0] != wantList[0] || d[1] != wantList[1] || layer(rep, verify.LayerIdentifiers).Divergences != 2 {
		t.Fatalf("a party's row deleted: exit %d, divergences %+v, want %+v\n%s", code, d, wantList, stderr)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`insert into idf_g%d.parties (party, release_id) values ($1, $2)`, gen), party, rel); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNotCaughtUp: with no projector running, the read model never
// reaches the end of the log, and verify says so with exit status 2 after
// --wait.
func TestVerifyNotCaughtUp(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "ingest")
	s.start(t, "api") // creates the live generation, which nothing feeds
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	deliver(t, s.ingest, restartRelease(3, 1))
	_, code, stderr := verifyRun(t, s, "--layers", "postgres", "--wait", "1s")
	if code != 2 || !strings.Contains(stderr, "has not caught up") || !strings.Contains(stderr, "1 events behind") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	_, code, stderr = verifyRun(t, s, "--sample", "lots")
	if code != 2 || !strings.Contains(stderr, `--sample "lots"`) {
		t.Fatalf("a bad flag: exit %d\n%s", code, stderr)
	}
	_, code, _ = verifyRun(t, s, "--no-such-flag")
	if code != 2 {
		t.Fatalf("an unknown flag: exit %d", code)
	}
}

// compilationRelease is a release whose tracks carry the given ISRCs.
func compilationRelease(id, upcBody string, isrcs ...string) string {
	var tracks []string
	for i, isrc := range isrcs {
		tracks = append(tracks, fmt.Sprintf(`{"isrc":%q,"title":"Song %d on %s","duration":"PT3M","disc":1,"number":%d}`, isrc, i+1, id, i+1))
	}
	return fmt.Sprintf(`{"messageId":%q,"upc":%q,"title":"Release %s","artist":"Various","label":"Label",
	  "tracks":[%s],"availability":[{"territory":"GB","download":"2020-01-01"}]}`,
		id, release.WithCheckDigit("0770"+upcBody), id, strings.Join(tracks, ","))
}

// TestVerifyCompilation: an album, then a compilation that carries one of
// its recordings, then the album again: each release serves its own track
// of the shared ISRC, and verify finds nothing.
func TestVerifyCompilation(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, "dev", "--sample", "1")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	deliver(t, s.ingest, compilationRelease("album", "00000001", "GBCMP0000001", "GBCMP0000002"))
	deliver(t, s.ingest, compilationRelease("compilation", "00000002", "GBCMP0000002", "GBCMP0000003"))
	waitClient(t, s, "demo")
	rep, code, stderr := verifyRun(t, s, "--sample", "all")
	if code != 0 || len(rep.Divergences) != 0 {
		t.Fatalf("exit %d, divergences %+v\n%s", code, rep.Divergences, stderr)
	}
}

// waitClient waits until the gateway knows the API client named name (it
// reloads its client list every second in tests).
func waitClient(t *testing.T, s stack, name string) {
	t.Helper()
	ctx := ctxT(t)
	pool, err := pgxpool.New(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	testenv.Eventually(t, 60*time.Second, func() error {
		var key string
		if err := pool.QueryRow(ctx, `select key from api_clients where name = $1`, name).Scan(&key); err != nil {
			return err
		}
		status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=1&oauth_consumer_key=%s", s.gateway, key))
		if status == http.StatusUnauthorized {
			return fmt.Errorf("the gateway does not know %s yet: %s", name, body)
		}
		return nil
	})
}

// TestVerifyLegacyLog: a log written before track ids were per release
// (one track id on an album and a compilation), with a replayed event and
// a schema version 1 delivery, read by the projector and the oracle alike:
// nothing diverges; purging the album hands the shared id to the
// compilation, and nothing diverges then either.
func TestVerifyLegacyLog(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	key := strings.TrimSpace(s.run(t, "clients", "add", "verify"))
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	prod, err := events.NewProducer(events.KafkaConfig{Brokers: s.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	topic := s.prefix + "releases"
	send := func(subject string, seq int64, typ string, version int, data any) {
		t.Helper()
		env, err := events.NewEnvelope(typ, version, "/catalog/ingest", subject, seq, time.Now(), "legacy/1", data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: env}}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	deals := []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"}, Start: &start}}
	trk := func(id int64, isrc, title string, n int) release.TrackInfo {
		return release.TrackInfo{TrackID: id, ISRC: isrc, Title: title, Artist: "Band", ArtistID: 5, DurationSeconds: 200, Disc: 1, Number: n}
	}
	send("00724349501058", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 1,
		Metadata: release.Metadata{UPC: "00724349501058", Title: "Come Down", Artist: "Band"}, ArtistID: 5,
		Tracks: []release.TrackInfo{trk(11, "USCA29600191", "I Love You", 1), trk(12, "USCA29600192", "Minnesoter", 2)}, Deals: deals})
	send("5012345678900", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 2,
		Metadata: release.Metadata{UPC: "5012345678900", Title: "Best of", Artist: "Various"}, ArtistID: 6,
		Tracks: []release.TrackInfo{trk(21, "GBAAA9600001", "Other", 1), trk(11, "USCA29600191", "I Love You (edit)", 2)}, Deals: deals})
	send("5012345678900", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 2, // a replay: stale
		Metadata: release.Metadata{UPC: "5012345678900", Title: "Replayed", Artist: "Various"}, ArtistID: 6, Tracks: []release.TrackInfo{trk(21, "GBAAA9600001", "x", 1)}})
	send("0042282289827", 1, release.TypeDelivered, 1, map[string]any{"releaseId": 3, "upc": "0042282289827", "title": "Old Format",
		"artist": map[string]any{"id": 8, "name": "Elder"}, "label": "Vault",
		"tracks":       []map[string]any{{"trackId": 31, "isrc": "GBAAA6500001", "title": "Old", "artist": map[string]any{"id": 8, "name": "Elder"}, "durationSeconds": 150, "disc": 1, "number": 1}},
		"availability": []map[string]any{{"territory": "GB", "downloadFrom": "1965-01-01T00:00:00Z", "streamingFrom": "2010-01-01T00:00:00Z"}}})

	rep, code, stderr := verifyRun(t, s, "--key", key, "--sample", "all")
	if code != 0 || rep.Log.LiveTracks != 4 || rep.Log.Stats.Stale != 1 || layer(rep, verify.LayerAPI).Requests == 0 {
		t.Fatalf("legacy log: exit %d, log %+v, divergences %+v\n%s", code, rep.Log, rep.Divergences, stderr)
	}
	send("00724349501058", 2, release.TypePurged, 1, release.Purged{ReleaseID: 1, UPC: "00724349501058"})
	rep, code, stderr = verifyRun(t, s, "--key", key, "--sample", "all")
	if code != 0 || rep.Log.LiveTracks != 3 || rep.Log.GoneTracks != 1 {
		t.Fatalf("after the album's purge: exit %d, log %+v, divergences %+v\n%s", code, rep.Log, rep.Divergences, stderr)
	}
}
