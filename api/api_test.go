package api_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/domain/catalogue"
)

// xmlError reads a 7digital error body.
type xmlError struct {
	XMLName xml.Name `xml:"response"`
	Status  string   `xml:"status,attr"`
	Version string   `xml:"version,attr"`
	Error   struct {
		Code    int    `xml:"code,attr"`
		Message string `xml:"errorMessage"`
	} `xml:"error"`
}

func TestErrors(t *testing.T) {
	t.Parallel()
	unavailable := stored{track: fixtureTrack(), offers: map[string]offers{}}
	unavailable.track.ID, unavailable.track.ISRC = 777, "GBAYE6900477"
	unavailable.track.Release.ID, unavailable.track.Release.UPC = 900, "5099902988023"
	f := newFakeCatalogue(fixtureStored(), unavailable)
	h := newServer(t, f)
	for _, tc := range []struct {
		target, message string
		code, status    int
		cache           string
	}{
		{"/1.2/track/details", "Missing parameter trackId", 1001, 400, "no-store"},
		{"/1.2/track/details?trackId=", "Missing parameter trackId", 1001, 400, "no-store"},
		{"/1.2/track/details?trackId=abc", "Value of parameter trackId is not valid: abc", 1002, 400, "no-store"},
		{"/1.2/track/details?trackId=-4", "Value of parameter trackId is not valid: -4", 1002, 400, "no-store"},
		{"/1.2/track/details?trackId=12345&country=XX", "Value of parameter country is not valid: XX", 1002, 400, "no-store"},
		{"/1.2/track/details?trackId=12345&usageTypes=download,rental", "usageTypes is not valid: rental", 1006, 400, "no-store"},
		{"/1.2/track/details?trackId=12345&imageSize=big", "Value of parameter imageSize is not valid: big", 1002, 400, "no-store"},
		{"/1.2/track/details?trackId=12345&imageSize=64", "imageSize is out of allowable range: 64", 1003, 400, "no-store"},
		{"/1.2/track/details?trackId=12345&shopId=shop", "Value of parameter shopId is not valid: shop", 1002, 400, "no-store"},
		{"/1.2/track/details?trackId=999", "Track not found", 2001, 404, "public, max-age=10"},
		{"/1.2/track/details?trackId=777", "Track 777 is not available in GB", 2002, 404, "public, max-age=10"},
		{"/1.2/track/details?trackId=12345&country=FR", "Track 12345 is not available in FR", 2002, 404, "public, max-age=10"},
		{"/1.2/track/details/isrc", "Missing parameter isrc", 1001, 400, "no-store"},
		{"/1.2/track/details/isrc?isrc=US-CA2", "Value of parameter isrc is not valid: US-CA2", 1002, 400, "no-store"},
		{"/1.2/track/details/isrc?isrc=USCA29600000", "No track found with ISRC USCA29600000", 2001, 404, "public, max-age=10"},
		{"/1.2/track/details/isrc?isrc=GBAYE6900477", "Track with ISRC GBAYE6900477 is not available in GB", 2002, 404, "public, max-age=10"},
		{"/1.2/release/details/upc", "Missing parameter upc", 1001, 400, "no-store"},
		{"/1.2/release/details/upc?upc=00724349501059", "Value of parameter upc is not valid: 00724349501059", 1002, 400, "no-store"},
		{"/1.2/release/details/upc?upc=4006381333931", "No release found with UPC 4006381333931", 2001, 404, "public, max-age=10"},
		{"/1.2/release/details/upc?upc=5099902988023", "Release with UPC 5099902988023 is not available in GB", 2002, 404, "public, max-age=10"},
		{"/1.2/artist/details?artistId=1", "Resource not found: /1.2/artist/details", 2001, 404, "public, max-age=10"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			rec := get(t, h, tc.target)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != tc.cache {
				t.Errorf("Cache-Control %q, want %q", cc, tc.cache)
			}
			if rec.Header().Get("ETag") != "" {
				t.Error("an error has an ETag")
			}
			var r xmlError
			if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, rec.Body)
			}
			if r.Status != "error" || r.Version != "1.2" || r.Error.Code != tc.code || !strings.Contains(r.Error.Message, tc.message) {
				t.Errorf("got %+v, want code %d with %q", r, tc.code, tc.message)
			}

			rec = get(t, h, tc.target, "Accept", "application/json")
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("JSON: status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			var j struct {
				Status, Version string
				Error           *struct {
					Code         json.Number `json:"code"`
					ErrorMessage string      `json:"errorMessage"`
				}
			}
			d := json.NewDecoder(rec.Body)
			d.UseNumber()
			if err := d.Decode(&j); err != nil {
				t.Fatal(err)
			}
			if j.Status != "error" || j.Version != "1.2" || j.Error == nil || j.Error.Code.String() != itoa(tc.code) ||
				!strings.Contains(j.Error.ErrorMessage, tc.message) {
				t.Errorf("JSON error %+v", j)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestNotFoundIsPurgeable(t *testing.T) {
	t.Parallel()
	h := newServer(t, newFakeCatalogue())
	for target, want := range map[string]string{
		"/1.2/track/details?trackId=999":                   "track-999",
		"/1.2/track/details/isrc?isrc=us-ca2-96-00191":     "isrc-USCA29600191",
		"/1.2/release/details/upc?upc=0724349501058":       "upc-0724349501058 upc-724349501058 upc-00724349501058",
		"/1.2/release/details/upc?upc=00724349501058":      "upc-00724349501058 upc-724349501058 upc-0724349501058",
		"/1.2/release/details/upc?upc=%204006381333931%20": "upc-4006381333931 upc-04006381333931",
	} {
		rec := get(t, h, target)
		if got := rec.Header().Get("Surrogate-Key"); rec.Code != http.StatusNotFound || got != want {
			t.Errorf("%s: %d, Surrogate-Key %q, want %q", target, rec.Code, got, want)
		}
	}
}

func TestInternalErrorIsNotCached(t *testing.T) {
	t.Parallel()
	f := newFakeCatalogue()
	f.fail = errors.New("connection refused")
	rec := get(t, newServer(t, f), "/1.2/track/details?trackId=1")
	var r xmlError
	if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 500 || r.Error.Code != 9001 || strings.Contains(r.Error.Message, "refused") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("%d %+v %v", rec.Code, r, rec.Header())
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	req, _ := http.NewRequest(http.MethodPost, "/1.2/track/details?trackId=12345", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r xmlError
	if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusMethodNotAllowed || r.Error.Code != 1002 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("%d %+v", rec.Code, r)
	}
}

func TestParameters(t *testing.T) {
	t.Parallel()
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	type track struct {
		ID      int64 `xml:"id,attr"`
		Release struct {
			Image string `xml:"image"`
		} `xml:"release"`
		Download *struct {
			Currency string `xml:"packages>package>price>currencyCode"`
		} `xml:"download"`
		Subscription *struct{} `xml:"subscriptionStreaming"`
		AdSupported  *struct{} `xml:"adSupportedStreaming"`
	}
	for _, tc := range []struct {
		target, image, currency string
		download, subscription  bool
	}{
		{"/1.2/track/details?trackId=12345", "1302_50.jpg", "GBP", true, false},
		{"/track/details?TRACKID=12345&Country=gb", "1302_50.jpg", "GBP", true, false},
		{"/1.2/track/details?trackid=12345&country=IE&imagesize=350", "1302_350.jpg", "EUR", true, false},
		{"/1.2/track/details?trackId=12345&imageSize=800&shopId=34&page=2&oauth_signature=x", "1302_800.jpg", "GBP", true, false},
		{"/1.2/track/details?trackId=12345&usageTypes=subscriptionstreaming", "1302_50.jpg", "", false, true},
		{"/1.2/track/details?trackId=12345&usagetypes=Download%2CSubscriptionStreaming%2Cadsupportedstreaming&imageSize=", "1302_50.jpg", "GBP", true, true},
		{"/1.2/track/details?trackId=12345&country=IE&usageTypes=subscriptionstreaming,download", "1302_50.jpg", "EUR", true, false},
	} {
		rec := get(t, h, tc.target)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.target, rec.Code, rec.Body)
			continue
		}
		var r struct {
			Track track `xml:"track"`
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Track.ID != 12345 || r.Track.Release.Image != "http://artwork.catalog.example/sleeve/"+tc.image ||
			(r.Track.Download != nil) != tc.download || (tc.download && r.Track.Download.Currency != tc.currency) ||
			(r.Track.Subscription != nil) != tc.subscription || r.Track.AdSupported != nil {
			t.Errorf("%s: %+v", tc.target, r.Track)
		}
	}
}

func TestImageBaseURL(t *testing.T) {
	t.Parallel()
	f := newFakeCatalogue(fixtureStored())
	h, err := api.NewHandler(api.Config{ImageBaseURL: "https://img.example/s/", Now: func() time.Time { return fixtureNow }}, f,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if b := get(t, h, "/track/details?trackId=12345&imageSize=33").Body.String(); !strings.Contains(b, "<image>https://img.example/s/1302_33.jpg</image>") {
		t.Error(b)
	}
}

func TestNewHandlerChecksItsInputs(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := api.NewHandler(api.Config{}, nil, log); err == nil {
		t.Error("nil track reader accepted")
	}
	if _, err := api.NewHandler(api.Config{DefaultCountry: "UK"}, newFakeCatalogue(), log); err == nil {
		t.Error("default country UK (not an ISO code) accepted")
	}
	h, err := api.NewHandler(api.Config{DefaultCountry: "ie", Now: func() time.Time { return fixtureNow }}, newFakeCatalogue(fixtureStored()), log)
	if err != nil {
		t.Fatal(err)
	}
	if b := get(t, h, "/track/details?trackId=12345").Body.String(); !strings.Contains(b, "<currencyCode>EUR</currencyCode>") {
		t.Errorf("default country ie did not give the IE offer: %s", b)
	}
}

func TestIdentifierRoutesNeedAReader(t *testing.T) {
	t.Parallel()
	h, err := api.NewHandler(api.Config{}, newFakeCatalogue(fixtureStored()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/1.2/track/details/isrc?isrc=USCA29600191", "/1.2/release/details/upc?upc=00724349501058"} {
		if rec := get(t, h, target); rec.Code != http.StatusNotFound {
			t.Errorf("%s without identifiers: %d", target, rec.Code)
		}
	}
}

func TestContentNegotiation(t *testing.T) {
	t.Parallel()
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	for _, tc := range []struct {
		accept []string
		json   bool
	}{
		{nil, false},
		{[]string{"application/xml"}, false},
		{[]string{"*/*"}, false},
		{[]string{"text/html"}, false},
		{[]string{"application/json"}, true},
		{[]string{"Application/JSON; charset=utf-8"}, true},
		{[]string{"application/json, application/xml;q=0.5"}, true},
		{[]string{"application/xml, application/json;q=0.5"}, false},
		{[]string{"application/json;q=0.4, text/xml;q=0.8"}, false},
		{[]string{"application/json;q=0.9, */*;q=0.1"}, true},
		{[]string{"application/json, */*"}, true},
		{[]string{"*/*, application/json"}, true},
		{[]string{"application/xml, application/json"}, false},
		{[]string{"application/json, application/xml"}, true},
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/xml;q=0, text/xml;q=0, */*;q=0.5"}, true},
		{[]string{"application/*"}, false},
		{[]string{"text/plain", "application/json"}, true},
	} {
		rec := get(t, h, "/1.2/track/details?trackId=12345", headerPairs("Accept", tc.accept)...)
		ct := rec.Header().Get("Content-Type")
		if got := ct == "application/json; charset=utf-8"; got != tc.json || rec.Code != http.StatusOK {
			t.Errorf("Accept %q: %d %s", tc.accept, rec.Code, ct)
		}
		if v := rec.Header().Get("Vary"); v != "Accept" {
			t.Errorf("Accept %q: Vary %q", tc.accept, v)
		}
	}
}

func headerPairs(name string, values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, name, v)
	}
	return out
}

func TestJSONShape(t *testing.T) {
	t.Parallel()
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	rec := get(t, h, "/1.2/track/details?trackId=12345&usageTypes=download,subscriptionstreaming", "Accept", "application/json")
	var r map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if r["status"] != "ok" || r["version"] != "1.2" || len(r) != 3 {
		t.Fatalf("envelope %v", r)
	}
	tr := r["track"].(map[string]any)
	want := map[string]any{
		"id": 12345.0, "title": "I Love You", "version": "", "trackNumber": 5.0, "duration": 252.0, "explicitContent": false,
		"isrc": "USCA29600191", "type": "audio", "slug": "i-love-you", "discNumber": 1.0, "number": 5.0, "pline": "2014 Noz Recordings",
	}
	for k, v := range want {
		if tr[k] != v {
			t.Errorf("track.%s = %#v, want %#v", k, tr[k], v)
		}
	}
	rel := tr["release"].(map[string]any)
	if rel["id"] != 1302.0 || rel["barcode"] != "00724349501058" || rel["image"] != "http://artwork.catalog.example/sleeve/1302_50.jpg" {
		t.Errorf("release %v", rel)
	}
	if a := rel["artist"].(map[string]any); a["id"] != 437.0 || a["slug"] != "the-dandy-warhols" {
		t.Errorf("release artist %v", a)
	}
	d := tr["download"].(map[string]any)
	pkgs, ok := d["packages"].([]any)
	if !ok || len(pkgs) != 1 || d["releaseDate"] != "1997-07-03T00:00:00Z" {
		t.Fatalf("download %v", d)
	}
	p := pkgs[0].(map[string]any)
	price := p["price"].(map[string]any)
	formats, ok := p["formats"].([]any)
	if p["id"] != 2.0 || price["sevendigitalPrice"] != "0.99" || price["currencyCode"] != "GBP" || !ok || len(formats) != 1 ||
		formats[0].(map[string]any)["id"] != 17.0 {
		t.Errorf("package %v", p)
	}
	if s := tr["subscriptionStreaming"].(map[string]any); s["releaseDate"] != "1997-07-03T00:00:00Z" {
		t.Errorf("subscriptionStreaming %v", s)
	}
	if _, ok := tr["adSupportedStreaming"]; ok {
		t.Error("adSupportedStreaming present though not offered")
	}
}

func TestCaching(t *testing.T) {
	t.Parallel()
	f := newFakeCatalogue(fixtureStored())
	h := newServer(t, f)
	const target = "/1.2/track/details?trackId=12345"
	rec := get(t, h, target)
	etag := rec.Header().Get("ETag")
	if !strings.HasPrefix(etag, `W/"t12345-r1302.7-`) || !strings.HasSuffix(etag, `"`) {
		t.Errorf("ETag %q", etag)
	}
	for k, v := range map[string]string{"Cache-Control": "public, max-age=60", "Vary": "Accept", "Surrogate-Key": "track-12345 release-1302"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	if rec.Header().Get("Last-Modified") != "" {
		t.Error("Last-Modified sent; the read model has no modification time")
	}
	if again := get(t, h, target).Header().Get("ETag"); again != etag {
		t.Errorf("same representation, different tags %q %q", etag, again)
	}

	t.Run("conditional GET", func(t *testing.T) {
		for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"x", ` + etag, `W/"x",` + etag + `, "y"`, "*"} {
			rec := get(t, h, target, "If-None-Match", inm)
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag ||
				rec.Header().Get("Cache-Control") != "public, max-age=60" || rec.Header().Get("Surrogate-Key") == "" {
				t.Errorf("If-None-Match %s: %d %q %v", inm, rec.Code, rec.Body, rec.Header())
			}
		}
		for _, inm := range []string{`W/"t12345-r1302.6-0000000000000000"`, `"other"`, `garbage`} {
			if rec := get(t, h, target, "If-None-Match", inm); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("If-None-Match %s: %d", inm, rec.Code)
			}
		}
	})

	t.Run("every representation has its own tag", func(t *testing.T) {
		seen := map[string]string{etag: target}
		for _, v := range []struct{ target, accept string }{
			{target, "application/json"},
			{target + "&country=IE", ""},
			{target + "&usageTypes=download,subscriptionstreaming", ""},
			{target + "&imageSize=500", ""},
			{"/1.2/track/details?trackId=12345&country=IE", "application/json"},
		} {
			rec := get(t, h, v.target, "Accept", v.accept)
			tag := rec.Header().Get("ETag")
			if prev, dup := seen[tag]; dup || tag == "" {
				t.Errorf("%s (Accept %q) has tag %q, as %s has", v.target, v.accept, tag, prev)
			}
			seen[tag] = v.target + " " + v.accept
		}
		// Parameters that do not change the representation do not change the tag.
		for _, same := range []string{target + "&imageSize=50", target + "&country=GB&usageTypes=download&shopId=34", "/track/details?trackid=12345"} {
			if tag := get(t, h, same).Header().Get("ETag"); tag != etag {
				t.Errorf("%s: tag %q, want %q", same, tag, etag)
			}
		}
	})

	t.Run("a new read-model version changes the tag", func(t *testing.T) {
		s := fixtureStored()
		s.track.Release.Sequence = 8
		s.track.Title = "I Love You (Remastered)"
		f2 := newFakeCatalogue(s)
		tag := get(t, newServer(t, f2), target).Header().Get("ETag")
		if !strings.HasPrefix(tag, `W/"t12345-r1302.8-`) {
			t.Errorf("tag %q", tag)
		}
		if rec := get(t, newServer(t, f2), target, "If-None-Match", etag); rec.Code != http.StatusOK {
			t.Errorf("stale tag answered %d", rec.Code)
		}
	})

	t.Run("an offer ending changes the tag without a new version", func(t *testing.T) {
		s := fixtureStored()
		o := s.offers["GB"]
		o.subscription = &catalogue.Offer{From: at("1997-07-03T00:00:00Z"), To: at("2025-06-01T12:00:30Z")}
		s.offers["GB"] = o
		now := fixtureNow
		f3 := newFakeCatalogue(s)
		h3, err := api.NewHandler(api.Config{Now: func() time.Time { return now }}, f3, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		const streaming = target + "&usageTypes=download,subscriptionstreaming"
		before := get(t, h3, streaming).Header().Get("ETag")
		now = now.Add(time.Minute)
		rec := get(t, h3, streaming, "If-None-Match", before)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "subscriptionStreaming") {
			t.Errorf("after the offer ended: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestTrackByISRC(t *testing.T) {
	t.Parallel()
	// The recording also appears on a compilation (track 20001) offered in
	// DE only, and on a single (track 99) with no offers at all.
	comp := fixtureStored()
	comp.track.ID, comp.track.Release.ID, comp.track.Release.UPC = 20001, 5000, "4006381333931"
	comp.offers = map[string]offers{"DE": {download: &catalogue.Offer{From: at("2001-01-01T00:00:00Z")}}}
	single := fixtureStored()
	single.track.ID, single.track.Release.ID, single.offers = 99, 98, nil
	f := newFakeCatalogue(fixtureStored(), comp, single)
	h := newServer(t, f)
	for target, want := range map[string]int64{
		"/1.2/track/details/isrc?isrc=USCA29600191&country=GB": 12345,
		"/track/details/isrc?ISRC=us-ca2-96-00191":             12345,
		"/1.2/track/details/isrc?isrc=USCA29600191&country=DE": 20001,
	} {
		rec := get(t, h, target)
		var r struct {
			Track struct {
				ID int64 `xml:"id,attr"`
			} `xml:"track"`
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != http.StatusOK || r.Track.ID != want {
			t.Errorf("%s: %d track %d, want %d (%v)", target, rec.Code, r.Track.ID, want, err)
		}
		if sk := rec.Header().Get("Surrogate-Key"); !strings.HasSuffix(sk, " isrc-USCA29600191") || !strings.HasPrefix(sk, "track-") {
			t.Errorf("%s: Surrogate-Key %q", target, sk)
		}
	}
	// The same track by id and by ISRC is the same representation.
	a := get(t, h, "/1.2/track/details?trackId=12345")
	b := get(t, h, "/1.2/track/details/isrc?isrc=USCA29600191")
	if a.Body.String() != b.Body.String() || a.Header().Get("ETag") != b.Header().Get("ETag") {
		t.Error("track/details and track/details/isrc differ for the same track")
	}
}

func TestReleaseByUPC(t *testing.T) {
	t.Parallel()
	// A two-disc release: disc 2 track 1 is offered in GB, disc 1 track 2
	// only in IE, disc 1 track 1 in GB with subscription streaming.
	rel := catalogue.Release{ID: 40, UPC: "0724349501058", Title: "Two Discs", Type: "Album", Label: "Capitol",
		Artist: catalogue.Artist{ID: 437, Name: "The Dandy Warhols"}, Sequence: 3}
	mk := func(id int64, disc, number int, o map[string]offers) stored {
		return stored{track: catalogue.Track{ID: id, ISRC: "USCA2960000" + itoa(int(id%10)), Title: "T" + itoa(int(id)),
			Artist: rel.Artist, DurationSeconds: 100, Disc: disc, Number: number, Release: rel}, offers: o}
	}
	from := at("2000-01-01T00:00:00Z")
	f := newFakeCatalogue(
		mk(403, 2, 1, map[string]offers{"GB": {download: &catalogue.Offer{From: from}}}),
		mk(402, 1, 2, map[string]offers{"IE": {download: &catalogue.Offer{From: from}}}),
		mk(401, 1, 1, map[string]offers{"GB": {download: &catalogue.Offer{From: from}, subscription: &catalogue.Offer{From: from}}}),
	)
	h := newServer(t, f)
	for _, target := range []string{
		"/1.2/release/details/upc?upc=0724349501058&country=GB&usageTypes=download,subscriptionstreaming&imageSize=350",
		"/release/details/upc?UPC=724349501058&usagetypes=download,subscriptionstreaming&imagesize=350",
		"/1.2/release/details/upc?upc=00724349501058&usageTypes=download,subscriptionstreaming&imageSize=350",
	} {
		rec := get(t, h, target)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		var r struct {
			Status  string `xml:"status,attr"`
			Release struct {
				ID      int64  `xml:"id,attr"`
				Title   string `xml:"title"`
				Type    string `xml:"type"`
				Barcode string `xml:"barcode"`
				Artist  struct {
					ID int64 `xml:"id,attr"`
				} `xml:"artist"`
				Label  string `xml:"label>name"`
				Image  string `xml:"image"`
				Tracks []struct {
					ID           int64     `xml:"id,attr"`
					Release      struct{}  `xml:"release"`
					Download     *struct{} `xml:"download"`
					Subscription *struct{} `xml:"subscriptionStreaming"`
				} `xml:"tracks>track"`
			} `xml:"release"`
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got := r.Release
		if r.Status != "ok" || got.ID != 40 || got.Title != "Two Discs" || got.Type != "Album" || got.Barcode != "0724349501058" ||
			got.Artist.ID != 437 || got.Label != "Capitol" || got.Image != "http://artwork.catalog.example/sleeve/40_350.jpg" || len(got.Tracks) != 3 {
			t.Fatalf("%s: %+v", target, r)
		}
		for i, want := range []struct {
			id                     int64
			download, subscription bool
		}{{401, true, true}, {402, false, false}, {403, true, false}} {
			tr := got.Tracks[i]
			if tr.ID != want.id || (tr.Download != nil) != want.download || (tr.Subscription != nil) != want.subscription {
				t.Errorf("%s: track %d = %+v, want %+v", target, i, tr, want)
			}
		}
		if et := rec.Header().Get("ETag"); !strings.HasPrefix(et, `W/"r40.3-`) {
			t.Errorf("ETag %q", et)
		}
		if sk := rec.Header().Get("Surrogate-Key"); !strings.HasPrefix(sk, "release-40 upc-") {
			t.Errorf("Surrogate-Key %q", sk)
		}
		if rec := get(t, h, target, "If-None-Match", rec.Header().Get("ETag")); rec.Code != http.StatusNotModified {
			t.Errorf("conditional GET: %d", rec.Code)
		}
	}
	rec := get(t, h, "/1.2/release/details/upc?upc=0724349501058", "Accept", "application/json")
	var j struct {
		Status  string `json:"status"`
		Release struct {
			ID     int64 `json:"id"`
			Tracks []struct {
				ID int64 `json:"id"`
			} `json:"tracks"`
		} `json:"release"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &j); err != nil || j.Status != "ok" || j.Release.ID != 40 || len(j.Release.Tracks) != 3 {
		t.Errorf("JSON %v %s", err, rec.Body)
	}
}

// TestTreeComparer makes sure the golden comparison can fail: it must see
// a legacy element, a missing element, a reordering and an attribute.
func TestTreeComparer(t *testing.T) {
	t.Parallel()
	fixtureXML := fixture(t, "track-details-ok-trackid-12345.xml")
	h := newServer(t, newFakeCatalogue(fixtureStored()))
	ours := get(t, h, "/1.2/track/details?trackId=12345").Body.Bytes()
	unpruned := parseTree(t, fixtureXML)
	if d := diffTrees("", unpruned, parseTree(t, ours)); len(d) == 0 {
		t.Error("legacy elements of the fixture went unnoticed")
	}
	want := parseTree(t, fixtureXML)
	prune(want, "/response", legacyPaths, legacyNames)
	prune(want, "/response", absentByDesign, nil)
	for name, mutate := range map[string]func(*node){
		"reorder":   func(n *node) { tr := n.kids[0]; tr.kids[1], tr.kids[2] = tr.kids[2], tr.kids[1] },
		"drop":      func(n *node) { rel := find(n, "track/release"); rel.kids = rel.kids[:len(rel.kids)-1] },
		"attribute": func(n *node) { find(n, "track/artist").attrs = nil },
		"rename":    func(n *node) { find(n, "track/pline").name = "pLine" },
	} {
		got := parseTree(t, ours)
		mutate(got)
		if d := diffTrees("", want, got); len(d) == 0 {
			t.Errorf("%s went unnoticed", name)
		}
	}
}

// TestReleaseByGRidAndPartyReleases: release/details/grid answers as
// release/details/upc does; party/releases pages a party's releases in
// release id order with page, pageSize and totalItems, and refuses pages
// outside its bounds.
func TestReleaseByGRidAndPartyReleases(t *testing.T) {
	t.Parallel()
	var ts []stored
	for i := int64(1); i <= 12; i++ {
		rel := catalogue.Release{ID: 100 + i, GRid: "A10302B00012345" + itoa(int(10+i)), Title: "R" + itoa(int(i)), Type: "Album",
			Artist: catalogue.Artist{ID: 1, Name: "A"}, Sequence: i}
		ts = append(ts, stored{track: catalogue.Track{ID: 1000 + i, ISRC: "USCA29600191", Title: "T", Artist: rel.Artist, Disc: 1, Number: 1, Release: rel},
			offers: map[string]offers{"GB": {download: &catalogue.Offer{From: at("2000-01-01T00:00:00Z")}}}})
	}
	f := newFakeCatalogue(ts...)
	f.owners = map[int64][]string{}
	for i := int64(1); i <= 12; i++ {
		f.owners[100+i] = []string{"PADPIDA2014072901K"}
	}
	h := newServer(t, f)

	rec := get(t, h, "/1.2/release/details/grid?grid=a10302b0001234515", "Accept", "application/json")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":105`) ||
		rec.Header().Get("Surrogate-Key") != "release-105 grid-A10302B0001234515" {
		t.Fatalf("by GRid: %d %s %s", rec.Code, rec.Header().Get("Surrogate-Key"), rec.Body)
	}
	if rec := get(t, h, "/release/details/grid?grid=A10302B0009999999"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown GRid: %d", rec.Code)
	}
	if rec := get(t, h, "/release/details/grid?grid=A1-B"); rec.Code != http.StatusBadRequest {
		t.Errorf("malformed GRid: %d", rec.Code)
	}

	var page struct {
		Status   string `json:"status"`
		Releases struct {
			Page       int `json:"page"`
			PageSize   int `json:"pageSize"`
			TotalItems int `json:"totalItems"`
			Release    []struct {
				ID int64 `json:"id"`
			} `json:"release"`
		} `json:"releases"`
	}
	rec = get(t, h, "/1.2/party/releases?partyId=PADPIDA2014072901K&page=2&pageSize=5", "Accept", "application/json")
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("party page: %d %s %v", rec.Code, rec.Body, err)
	}
	r := page.Releases
	if page.Status != "ok" || r.Page != 2 || r.PageSize != 5 || r.TotalItems != 12 || len(r.Release) != 5 || r.Release[0].ID != 106 || r.Release[4].ID != 110 {
		t.Errorf("party page 2: %+v", page)
	}
	if rec := get(t, h, "/party/releases?partyId=PADPIDA2014072901K"); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `<releases page="1" pageSize="10" totalItems="12">`) {
		t.Errorf("party page XML: %d %s", rec.Code, rec.Body)
	}
	// A party named as delivered (not a DPID) is one surrogate key.
	if rec := get(t, h, "/party/releases?partyId=Some%20Label"); rec.Code != http.StatusOK || rec.Header().Get("Surrogate-Key") != "party-Some%20Label" ||
		!strings.Contains(rec.Body.String(), `totalItems="0"`) {
		t.Errorf("party with a space: %d %q %s", rec.Code, rec.Header().Get("Surrogate-Key"), rec.Body)
	}
	for target, want := range map[string]string{
		"/party/releases":                                     "Missing parameter partyId",
		"/party/releases?partyId=P&pageSize=101":              "Value of parameter pageSize is not valid: 101",
		"/party/releases?partyId=P&page=0":                    "Value of parameter page is not valid: 0",
		"/party/releases?partyId=P&page=10001":                "Value of parameter page is not valid: 10001",
		"/party/releases?partyId=" + strings.Repeat("x", 257): "Value of parameter partyId is not valid: (longer than 256 bytes)",
	} {
		if rec := get(t, h, target); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d %s", target[:min(len(target), 60)], rec.Code, rec.Body)
		}
	}
}
