package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections/trackdetails"
	"github.com/catalog-org/catalog/testenv"
)

// samplesDir holds the public DDEX ERN samples, beside the repository.
const samplesDir = "../../../shared/reference/ddex/samples"

func readSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if os.IsNotExist(err) {
		t.Skipf("DDEX samples not found at %s (../shared is absent); skipping", samplesDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type deliveryResponse struct {
	Status   string           `json:"status"`
	Reason   string           `json:"reason"`
	Error    string           `json:"error"`
	Release  string           `json:"release"`
	Version  int64            `json:"version"`
	TrackIDs map[string]int64 `json:"trackIds"`
	Events   []struct {
		Type     string `json:"type"`
		Sequence int64  `json:"sequence"`
	} `json:"events"`
	Message struct {
		Sender string `json:"sender"`
		ID     string `json:"id"`
	} `json:"message"`
	Problems []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"problems"`
}

func (r deliveryResponse) types() string {
	var out []string
	for _, e := range r.Events {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

func post(t testing.TB, addr, contentType string, body io.Reader) (int, deliveryResponse) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/v1/deliveries", contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r deliveryResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: response is not JSON: %v\n%s", resp.Status, err, b)
	}
	return resp.StatusCode, r
}

// sampleRecipients are the MessageRecipient party ids the public samples
// are addressed to (the Orchard's are empty). catalog answers to them here,
// beside its default id, as a deployment lists former or alias DPIDs.
const sampleRecipients = "PADPIDA0000000000R,PADPIDA20010101002,PADPIDA202401120D9,DPID_OF_THE_RECIPIENT,PADPIDA2009101501Y,PADPIDA2007050901U"

// sampleStack runs every role and returns it with a function that reads a
// track through the API, waiting until the projector has caught up with a
// condition.
func sampleStack(t testing.TB) (stack, func(id int64, country string) (int, xmlResponse)) {
	t.Helper()
	s := newStack(t)
	s.env = append(s.env, "CATALOG_DPID="+sampleRecipients)
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	return s, func(id int64, country string) (int, xmlResponse) {
		status, _, body := get(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=%s&usageTypes=download,subscriptionstreaming,adsupportedstreaming", s.api, id, country))
		return status, parse(t, body)
	}
}

// eventually polls the API until check passes.
func eventually(t testing.TB, check func() error) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, check)
}

func date(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// TestSamplesIngest posts every public ERN sample to ingest and checks real
// fields of the resulting track details through the API.
func TestSamplesIngest(t *testing.T) {
	t.Parallel()
	s, track := sampleStack(t)
	ctx := ctxT(t)

	type want struct {
		isrc, title           string
		duration, disc, num   int
		country               string
		download, sub, ad     string // release dates, "-" for absent
		notIn                 string // a territory without offers
		tracks                int
		release, releaseTitle string
	}
	cases := []struct {
		file string
		want want
	}{
		{"ern43_1_Audio.xml", want{isrc: "JPTO09404900", title: "Yume no Lullaby", duration: 148, disc: 1, num: 1, country: "JP",
			download: "2004-04-01T00:00:00Z", sub: "2004-04-01T00:00:00Z", ad: "2004-04-01T00:00:00Z", notIn: "GB", tracks: 21, release: "00094631432057"}},
		{"ern43_4_SimpleAudioSingle.xml", want{isrc: "GBAYC1700598", title: "I Love You", duration: 264, // PT4M23.583S disc: 1, num: 1, country: "GB",
			download: "2017-04-25T00:00:00Z", sub: "2017-04-25T00:00:00Z", ad: "2017-04-25T00:00:00Z", tracks: 1}},
		{"ern382_016_utf8_artists_album.xml", want{isrc: "BAA052029415", title: "Sanela kolo", duration: 188, disc: 1, num: 1, country: "RS",
			download: "2020-10-26T00:00:00Z", sub: "2020-10-26T00:00:00Z", ad: "-", tracks: 12, release: "763331950658", releaseTitle: "12 zlatnih kola"}},
		{"ern382_orchard_album_jp.xml", want{isrc: "JPR842500194", title: "\u30cf\u30af\u3099\uff01", duration: 188, // as delivered, decomposed (NFD), disc: 1, num: 1, country: "JP",
			download: "2025-12-13T00:00:00Z", sub: "2025-12-13T00:00:00Z", ad: "-", notIn: "US", tracks: 2, release: "199806591208"}},
		{"ern382_ddex-crt14_Profile_AudioAlbumMusicOnly.xml", want{isrc: "CASE00000001", title: "Can you feel ...the Monkey Claw!", duration: 811,
			disc: 1, num: 1, notIn: "GB", tracks: 6}},
	}
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	for _, tc := range cases {
		status, r := post(t, s.ingest, "application/xml", strings.NewReader(readSample(t, tc.file)))
		w := tc.want
		if status != http.StatusAccepted || r.Status != "accepted" || r.types() != "catalog.release.delivered" {
			t.Errorf("%s: %d %+v", tc.file, status, r)
			continue
		}
		if w.release != "" && r.Release != w.release {
			t.Errorf("%s: release key %q, want %q", tc.file, r.Release, w.release)
		}
		if len(r.TrackIDs) != w.tracks {
			t.Errorf("%s: %d tracks, want %d", tc.file, len(r.TrackIDs), w.tracks)
		}
		id := r.TrackIDs[w.isrc]
		if id == 0 {
			t.Errorf("%s: no track id for %s in %v", tc.file, w.isrc, r.TrackIDs)
			continue
		}
		var n int
		eventually(t, func() error {
			if err := db.QueryRow(ctx, `select count(*) from td.tracks where release_id = (select release_id from td.tracks where track_id = $1)`, id).Scan(&n); err != nil {
				return err
			}
			if n != w.tracks {
				return fmt.Errorf("%s: %d tracks projected, want %d", tc.file, n, w.tracks)
			}
			return nil
		})
		if w.country != "" {
			var x xmlResponse
			eventually(t, func() error {
				var st int
				st, x = track(id, w.country)
				if st != http.StatusOK {
					return fmt.Errorf("%s: %d %+v", tc.file, st, x.Error)
				}
				return nil
			})
			tr := x.Track
			if tr.ISRC != w.isrc || tr.Title != w.title || tr.Duration != w.duration || tr.DiscNumber != w.disc || tr.Number != w.num {
				t.Errorf("%s: track = %+v", tc.file, tr)
			}
			if w.releaseTitle != "" && tr.Release.Title != w.releaseTitle {
				t.Errorf("%s: release title %q, want %q", tc.file, tr.Release.Title, w.releaseTitle)
			}
			if w.release != "" && tr.Release.Barcode != w.release {
				t.Errorf("%s: barcode %q, want %q", tc.file, tr.Release.Barcode, w.release)
			}
			if date(tr.Download) != w.download || date(tr.SubscriptionStreaming) != w.sub || date(tr.AdSupportedStreaming) != w.ad {
				t.Errorf("%s in %s: download %s subscription %s ad-supported %s; want %s %s %s", tc.file, w.country,
					date(tr.Download), date(tr.SubscriptionStreaming), date(tr.AdSupportedStreaming), w.download, w.sub, w.ad)
			}
		}
		if w.notIn != "" {
			if st, x := track(id, w.notIn); st != http.StatusNotFound || x.Error == nil || x.Error.Code != 2002 {
				t.Errorf("%s in %s: %d %+v, want 2002", tc.file, w.notIn, st, x.Error)
			}
		}
	}

	// The single's 747 deals cover all 249 territories, stored as three
	// terms (one per usage).
	var terms []trackdetails.Term
	if err := db.QueryRow(ctx, `select coalesce(t.terms, r.terms) from td.tracks t join td.releases r using (release_id)
		where t.isrc = 'GBAYC1700598'`).Scan(&terms); err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, term := range terms {
		for _, c := range release.Territories() {
			if term.Covers(c) {
				covered[c] = true
			}
		}
	}
	if len(covered) != 249 || len(terms) != 3 {
		t.Errorf("the single is available in %d territories through %d terms, want 249 through 3", len(covered), len(terms))
	}
}

// TestSampleTakedown: the Orchard takedown update withdraws the single in
// JP. It is first delivered with the same deals as offers (an earlier
// message), then the real sample takes it down.
func TestSampleTakedown(t *testing.T) {
	t.Parallel()
	s, track := sampleStack(t)
	sample := readSample(t, "ern382_orchard_single_takedown_update.xml")
	before := strings.ReplaceAll(sample, "<TakeDown>true</TakeDown>",
		"<Usage><UseType>PermanentDownload</UseType><UseType>OnDemandStream</UseType></Usage>"+
			"<CommercialModelType>PayAsYouGoModel</CommercialModelType><CommercialModelType>SubscriptionModel</CommercialModelType>")
	before = strings.Replace(before, "2024-10-02T10:10:32Z", "2024-09-01T00:00:00Z", 1)
	before = strings.Replace(before, "<MessageId>2417334_20241002_101032", "<MessageId>2417334_20240901_000000", 1)

	status, r := post(t, s.ingest, "application/xml", strings.NewReader(before))
	if status != http.StatusAccepted {
		t.Fatalf("original delivery: %d %+v", status, r)
	}
	id := r.TrackIDs["DKFD52275001"]
	eventually(t, func() error {
		if st, x := track(id, "JP"); st != http.StatusOK || x.Track.Download == nil || *x.Track.Download != "2019-01-14T00:00:00Z" {
			return fmt.Errorf("JP before the takedown: %d %+v", st, x.Error)
		}
		return nil
	})

	status, r = post(t, s.ingest, "application/xml", strings.NewReader(sample))
	if status != http.StatusAccepted || r.types() != "catalog.release.taken-down" || r.Message.ID != "2417334_20241002_101032" {
		t.Fatalf("takedown: %d %+v", status, r)
	}
	eventually(t, func() error {
		if st, x := track(id, "JP"); st != http.StatusNotFound || x.Error == nil || x.Error.Code != 2002 {
			return fmt.Errorf("JP after the takedown: %d %+v", st, x.Track)
		}
		return nil
	})
	// The same takedown again changes nothing; the older offer arriving
	// late changes nothing either, and says why.
	if status, r := post(t, s.ingest, "application/xml", strings.NewReader(sample)); status != http.StatusOK || r.Status != "unchanged" {
		t.Errorf("takedown again: %d %+v", status, r)
	}
	if status, r := post(t, s.ingest, "application/xml", strings.NewReader(before)); status != http.StatusOK || r.Status != "stale" || !strings.Contains(r.Reason, "older") {
		t.Errorf("late original: %d %+v", status, r)
	}
}

// TestSamplePurge: the purge sample removes a release delivered earlier
// with its GRid.
func TestSamplePurge(t *testing.T) {
	t.Parallel()
	s, track := sampleStack(t)
	purge := readSample(t, "ern382_audius_03_delete_purge.xml")
	grid := regexp.MustCompile(`<GRid>([^<]+)</GRid>`).FindStringSubmatch(purge)[1]

	// Purging a release the catalogue does not know changes nothing.
	if status, r := post(t, s.ingest, "application/xml", strings.NewReader(purge)); status != http.StatusOK || r.Status != "unchanged" {
		t.Fatalf("purge of an unknown release: %d %+v", status, r)
	}
	rel := fmt.Sprintf(`{"messageId":"before-purge","sender":"PADPIDA1234567890","messageCreated":"2024-03-01T00:00:00Z","grid":%q,
		"title":"To Be Purged","artist":"Someone","tracks":[{"isrc":"USAAA2400001","title":"Gone","duration":"PT2M","disc":1,"number":1}],
		"availability":[{"territory":"US","download":"2024-01-01"}]}`, grid)
	status, r := post(t, s.ingest, "application/json", strings.NewReader(rel))
	if status != http.StatusAccepted {
		t.Fatalf("release: %d %+v", status, r)
	}
	id := r.TrackIDs["USAAA2400001"]
	eventually(t, func() error {
		if st, _ := track(id, "US"); st != http.StatusOK {
			return fmt.Errorf("before the purge: %d", st)
		}
		return nil
	})
	status, r = post(t, s.ingest, "application/xml", strings.NewReader(purge))
	if status != http.StatusAccepted || r.types() != "catalog.release.purged" || r.Message.ID != "MessageID5680" {
		t.Fatalf("purge: %d %+v", status, r)
	}
	eventually(t, func() error {
		if st, x := track(id, "US"); st != http.StatusNotFound || x.Error == nil || x.Error.Code != 2001 {
			return fmt.Errorf("after the purge: %d %+v", st, x.Error)
		}
		return nil
	})
}

// TestSampleUpdate ingests a sample, then a changed copy (release title
// edited, the last track removed, deals cut from Worldwide to two
// territories), then the same copy again.
func TestSampleUpdate(t *testing.T) {
	t.Parallel()
	s, track := sampleStack(t)
	orig := readSample(t, "ern382_016_utf8_artists_album.xml")

	changed := strings.ReplaceAll(orig, "<TitleText>12 zlatnih kola</TitleText>", "<TitleText>12 zlatnih kola (remaster)</TitleText>")
	changed = strings.Replace(changed, "2021-09-29T06:38:37-04:00", "2021-10-29T06:38:37-04:00", 1)
	changed = strings.Replace(changed, "<MessageId>202101010101010101001", "<MessageId>202101010101010101002", 1)
	item := regexp.MustCompile(`(?s)<ResourceGroupContentItem>.*?</ResourceGroupContentItem>`)
	ref := regexp.MustCompile(`\s*<ReleaseResourceReference[^>]*>AT10487</ReleaseResourceReference>`)
	changed = regexp.MustCompile(`(?s)<Release[ >].*?</Release>`).ReplaceAllStringFunc(changed, func(b string) string {
		switch {
		case strings.Contains(b, "<ReleaseReference>R12</ReleaseReference>"):
			return "" // the removed track's own track release
		case strings.Contains(b, "<ReleaseReference>R0</ReleaseReference>"):
			b = item.ReplaceAllStringFunc(b, func(it string) string {
				if strings.Contains(it, "AT10487") {
					return ""
				}
				return it
			})
			return ref.ReplaceAllString(b, "")
		}
		return b
	})
	changed = regexp.MustCompile(`(?s)<ReleaseDeal>.*?</ReleaseDeal>`).ReplaceAllStringFunc(changed, func(d string) string {
		if strings.Contains(d, "<DealReleaseReference>R12</DealReleaseReference>") {
			return ""
		}
		return strings.ReplaceAll(d, "<TerritoryCode>Worldwide</TerritoryCode>", "<TerritoryCode>RS</TerritoryCode><TerritoryCode>HR</TerritoryCode>")
	})
	if changed == orig || strings.Count(changed, "AT10487") != strings.Count(orig, "AT10487")-4 {
		t.Fatalf("the changed copy did not remove track AT10487 as planned (%d -> %d mentions)",
			strings.Count(orig, "AT10487"), strings.Count(changed, "AT10487"))
	}

	status, first := post(t, s.ingest, "application/xml", strings.NewReader(orig))
	if status != http.StatusAccepted || first.types() != "catalog.release.delivered" {
		t.Fatalf("original: %d %+v", status, first)
	}
	var removedISRC string
	for _, sr := range regexp.MustCompile(`(?s)<SoundRecording[ >].*?</SoundRecording>`).FindAllString(orig, -1) {
		if strings.Contains(sr, "<ResourceReference>AT10487</ResourceReference>") {
			removedISRC = regexp.MustCompile(`<ISRC>([^<]+)</ISRC>`).FindStringSubmatch(sr)[1]
		}
	}
	kept, removed := first.TrackIDs["BAA052029415"], first.TrackIDs[removedISRC]
	if removed == 0 {
		t.Fatalf("no track id for the removed track's ISRC %q", removedISRC)
	}
	eventually(t, func() error {
		if st, _ := track(kept, "GB"); st != http.StatusOK {
			return fmt.Errorf("GB before the update: %d", st)
		}
		return nil
	})

	status, upd := post(t, s.ingest, "application/xml", strings.NewReader(changed))
	want := "catalog.release.metadata-changed,catalog.release.tracks-changed,catalog.release.deals-replaced"
	if status != http.StatusAccepted || upd.types() != want || upd.Version != 4 || len(upd.TrackIDs) != 11 {
		t.Fatalf("update: %d %s v%d %d tracks, want %s v4 11 tracks", status, upd.types(), upd.Version, len(upd.TrackIDs), want)
	}
	for isrc, id := range upd.TrackIDs {
		if first.TrackIDs[isrc] != id {
			t.Errorf("track %s changed id from %d to %d", isrc, first.TrackIDs[isrc], id)
		}
	}
	eventually(t, func() error {
		st, x := track(kept, "RS")
		if st != http.StatusOK || x.Track.Release.Title != "12 zlatnih kola (remaster)" {
			return fmt.Errorf("RS after the update: %d %+v", st, x.Track)
		}
		if st, x := track(kept, "GB"); st != http.StatusNotFound || x.Error.Code != 2002 {
			return fmt.Errorf("GB after the deals were cut: %d", st)
		}
		if st, x := track(removed, "RS"); st != http.StatusNotFound || x.Error.Code != 2001 {
			return fmt.Errorf("removed track: %d", st)
		}
		return nil
	})

	if status, again := post(t, s.ingest, "application/xml", strings.NewReader(changed)); status != http.StatusOK || again.Status != "unchanged" || len(again.Events) != 0 {
		t.Errorf("same file again: %d %+v", status, again)
	}
}
