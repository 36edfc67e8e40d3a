package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// generatedSender is the party the generated releases are sent by here.
const generatedSender = "PADPIDA0000000000C"

// loadSentCatalogue ingests n generated releases sent by generatedSender.
func loadSentCatalogue(t testing.TB, s stack, seed uint64, n int) {
	t.Helper()
	dir := t.TempDir()
	for i, j := range gen.Releases(seed, n) {
		j.Sender = generatedSender
		b, _ := ingest.EncodeJSON(j)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("a-%05d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.run(t, "ingest", "--quiet", "--concurrency", "4", dir)
}

// TestIdentifiersProjection runs the identifiers read model in the real
// stack: the partner look-ups through the gateway (identifiers grant)
// answer from it (a row taken out of it is gone from the answers while
// track/details still serves the track), it is rebuilt on its own with
// `catalog projections rebuild identifiers` to its former content while
// the track-details and identifiers APIs are under load with no error,
// track-details' generation and content are untouched, and an operator's
// transfer moves the release between the parties' lists.
func TestIdentifiersProjection(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	key := strings.TrimSpace(s.run(t, "clients", "add", "partner"))
	s.run(t, "clients", "grant", key, "identifiers")
	s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	loadSentCatalogue(t, s, 13, 60)
	album := deliver(t, s.ingest, strings.Replace(dandyRelease, `"messageId"`, `"sender": "PADPIDA2014072901K", "sentOnBehalfOf": "PADPIDA2007040502I", "messageId"`, 1))
	comp := deliver(t, s.ingest, dandyCompilation)
	waitCaughtUp(t, s, "track-details")
	waitCaughtUp(t, s, "identifiers")

	base := "http://" + s.gateway
	q := "&country=GB&oauth_consumer_key=" + url.QueryEscape(key)
	lookup := func(path string) (int, string) {
		status, _, b := get(t, base+path+q)
		return status, b
	}
	// Both tracks of the shared recording, each with its release.
	testenv.Eventually(t, time.Minute, func() error {
		if status, b := lookup("/1.2/track/details/isrc?isrc=USCA29600191"); status != http.StatusOK || parse(t, b).Track == nil {
			return fmt.Errorf("by ISRC: %d %s", status, b)
		}
		for _, upc := range []string{"724349501058", "0724349501058", "00724349501058"} {
			if status, b := lookup("/1.2/release/details/upc?upc=" + upc); status != http.StatusOK || !strings.Contains(b, "<barcode>00724349501058</barcode>") {
				return fmt.Errorf("by UPC %s: %d %s", upc, status, b)
			}
		}
		for _, party := range []string{"PADPIDA2014072901K", "PADPIDA2007040502I"} {
			if status, b := lookup("/1.2/party/releases?partyId=" + party); status != http.StatusOK || !strings.Contains(b, `totalItems="1"`) {
				return fmt.Errorf("by party %s: %d %s", party, status, b)
			}
		}
		return nil
	})
	// The projector counts identifiers' batches under its name.
	if _, _, metrics := get(t, "http://"+s.projector+"/metrics"); !strings.Contains(metrics, `catalog_projection_events_applied_total{generation="1",projection="identifiers"}`) {
		t.Errorf("/metrics lacks identifiers' applied events")
	}
	// The generated releases' sender, paged in a stable order.
	var ids []int64
	for page := 1; ; page++ {
		status, _, b := getJSON(t, base+fmt.Sprintf("/1.2/party/releases?partyId=%s&page=%d&pageSize=25", generatedSender, page)+q)
		var r struct {
			Releases struct {
				TotalItems int `json:"totalItems"`
				Release    []struct {
					ID int64 `json:"id"`
				} `json:"release"`
			} `json:"releases"`
		}
		if err := json.Unmarshal([]byte(b), &r); status != http.StatusOK || err != nil {
			t.Fatalf("party page %d: %d %v %s", page, status, err, b)
		}
		if len(r.Releases.Release) == 0 {
			if len(ids) != r.Releases.TotalItems || len(ids) < 50 {
				t.Fatalf("party pages listed %d releases of %d", len(ids), r.Releases.TotalItems)
			}
			break
		}
		for _, x := range r.Releases.Release {
			if len(ids) > 0 && x.ID <= ids[len(ids)-1] {
				t.Fatalf("party pages out of order: %d after %d", x.ID, ids[len(ids)-1])
			}
			ids = append(ids, x.ID)
		}
	}

	// The answers come from the identifiers read model: with the
	// compilation's rows taken out of it, the compilation is not found by
	// its barcode, while track/details still serves its track.
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	tdBefore := liveHash(t, s, "track-details")
	idfBefore := strings.TrimSpace(s.run(t, "projections", "hash", "identifiers"))
	if _, err := pg.Exec(ctx, `delete from idf_g1.releases where upc = '5012345678900'`); err != nil {
		t.Fatal(err)
	}
	if status, _ := lookup("/1.2/release/details/upc?upc=5012345678900"); status != http.StatusNotFound {
		t.Errorf("UPC look-up of a release the identifiers read model lacks: %d", status)
	}
	compTrack := comp.TrackIDs["GBAAA9700001"]
	if status, _, b := get(t, base+fmt.Sprintf("/1.2/track/details?trackId=%d", compTrack)+q); status != http.StatusOK {
		t.Errorf("track/details of the compilation's track: %d %s", status, b)
	}

	// A rebuild of identifiers under load: 0 errors on both read models.
	// One worker asks the API for track/details, the other the gateway
	// for a partner look-up, paced and bounded below the partner key's
	// daily quota (4000); both stop when the rebuild is done.
	var served, failed [2]atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, target := range []string{
		fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.api, album.TrackIDs["USCA29600191"]),
		base + "/1.2/release/details/upc?upc=00724349501058" + q,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			limit, pace := 50000, time.Duration(0)
			if w == 1 {
				limit, pace = 3000, 2*time.Millisecond
			}
			for i := 0; i < limit; i++ {
				select {
				case <-stop:
					return
				case <-time.After(pace):
				}
				r, err := http.Get(target)
				switch {
				case err != nil:
					failed[w].Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case r.StatusCode != http.StatusOK:
					failed[w].Add(1)
					firstErr.CompareAndSwap(nil, target+": "+r.Status)
				default:
					served[w].Add(1)
				}
				if r != nil {
					r.Body.Close()
				}
			}
		}()
	}
	out := s.run(t, "projections", "rebuild", "identifiers")
	close(stop)
	wg.Wait()
	if !strings.Contains(out, "generation 2 is live") {
		t.Fatalf("rebuild printed %q", out)
	}
	for w, name := range []string{"track-details", "identifiers"} {
		if failed[w].Load() != 0 || served[w].Load() == 0 {
			t.Errorf("during the identifiers rebuild the %s API served %d answers and failed %d (first: %v)", name, served[w].Load(), failed[w].Load(), firstErr.Load())
		}
		t.Logf("during the identifiers rebuild, %s: %d answers, %d errors", name, served[w].Load(), failed[w].Load())
	}
	if after := strings.TrimSpace(s.run(t, "projections", "hash", "identifiers")); after != idfBefore {
		t.Errorf("identifiers hash after the rebuild %s, before the rows were taken out %s", after, idfBefore)
	}
	if status, _ := lookup("/1.2/release/details/upc?upc=5012345678900"); status != http.StatusOK {
		t.Errorf("the rebuilt identifiers read model lacks the compilation: %d", status)
	}
	if after := liveHash(t, s, "track-details"); after != tdBefore {
		t.Errorf("track-details content changed by the identifiers rebuild")
	}

	// An operator's transfer of the album (its current content, from the
	// new owner) reaches the log as owners-changed: the album leaves its
	// old owners' lists and joins the new owner's.
	newOwner := "PADPIDA0000000NEW"
	transfer := filepath.Join(t.TempDir(), "transfer.json")
	body := strings.Replace(dandyRelease, `"messageId": "e2e-1"`, `"sender": "`+newOwner+`", "messageId": "e2e-transfer"`, 1)
	if err := os.WriteFile(transfer, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := s.run(t, "ingest", "--quiet", "--override-owner", transfer); !strings.Contains(out, "1 accepted") {
		t.Fatalf("transfer: %s", out)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		for party, want := range map[string]string{newOwner: `totalItems="1"`, "PADPIDA2014072901K": `totalItems="0"`, "PADPIDA2007040502I": `totalItems="0"`} {
			if status, b := lookup("/1.2/party/releases?partyId=" + party); status != http.StatusOK || !strings.Contains(b, want) {
				return fmt.Errorf("after the transfer, party %s: %d %s", party, status, b)
			}
		}
		return nil
	})

	// An in-place rebuild replays into the live generation: same content.
	afterTransfer := strings.TrimSpace(s.run(t, "projections", "hash", "identifiers"))
	if out := s.run(t, "projections", "rebuild", "identifiers", "--in-place"); !strings.Contains(out, "generation 2 is live") {
		t.Fatalf("in-place rebuild printed %q", out)
	}
	if got := strings.TrimSpace(s.run(t, "projections", "hash", "identifiers")); got != afterTransfer {
		t.Errorf("identifiers hash after the in-place rebuild %s, before %s", got, afterTransfer)
	}

	var st projStatus
	if err := json.Unmarshal([]byte(s.run(t, "projections", "status", "track-details", "--json")), &st); err != nil || len(st.Generations) == 0 ||
		st.Generations[0].Generation != 1 || st.Generations[0].State != "live" {
		t.Errorf("track-details generations after the identifiers rebuild: %+v %v", st, err)
	}
}

// getJSON is get asking for JSON.
func getJSON(t testing.TB, rawURL string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}
