package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// Served is one track/details answer as the API gave it.
type Served struct {
	// HTTPStatus is the response status.
	HTTPStatus int
	// Code is the 7digital error code of an error answer.
	Code int
	// Track is the track of a 200 answer.
	Track *WireTrack
}

// status writes the answer as Status.String does: "200", "404 2001", ...
func (s Served) status() string {
	if s.HTTPStatus == http.StatusOK {
		return "200"
	}
	return fmt.Sprintf("%d %d", s.HTTPStatus, s.Code)
}

// WireTrack is the track of a track/details answer in its JSON form
// (docs/api.md), as far as the check compares it.
type WireTrack struct {
	ID                    int64          `json:"id"`
	Title                 string         `json:"title"`
	Version               string         `json:"version"`
	Artist                wireArtist     `json:"artist"`
	TrackNumber           int            `json:"trackNumber"`
	Duration              int            `json:"duration"`
	ExplicitContent       bool           `json:"explicitContent"`
	ISRC                  string         `json:"isrc"`
	Release               wireRelease    `json:"release"`
	DiscNumber            int            `json:"discNumber"`
	Number                int            `json:"number"`
	Download              *wireDownload  `json:"download"`
	SubscriptionStreaming *wireStreaming `json:"subscriptionStreaming"`
	AdSupportedStreaming  *wireStreaming `json:"adSupportedStreaming"`
	PLine                 string         `json:"pline"`
}

type wireArtist struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type wireRelease struct {
	ID      int64      `json:"id"`
	Title   string     `json:"title"`
	Version string     `json:"version"`
	Type    string     `json:"type"`
	Barcode string     `json:"barcode"`
	Artist  wireArtist `json:"artist"`
	Label   *wireLabel `json:"label"`
}

type wireLabel struct {
	Name string `json:"name"`
}

type wireDownload struct {
	ReleaseDate string        `json:"releaseDate"`
	Packages    []wirePackage `json:"packages"`
}

type wirePackage struct {
	Price struct {
		CurrencyCode      string `json:"currencyCode"`
		SevendigitalPrice string `json:"sevendigitalPrice"`
	} `json:"price"`
}

type wireStreaming struct {
	ReleaseDate string `json:"releaseDate"`
}

// Gateway asks track/details through the gateway with a consumer key, in
// JSON, for every usage type. Each request counts against the key's daily
// limit. Safe for concurrent use.
type Gateway struct {
	base   *url.URL
	key    string
	client *http.Client
}

// MaxAnswerBytes bounds the body of one answer the checker reads.
const MaxAnswerBytes = 1 << 20

// NewGateway returns a client of the gateway at base (e.g.
// http://127.0.0.1:8080) with the consumer key. A nil client gets one with
// a 10-second timeout.
func NewGateway(base, key string, client *http.Client) (*Gateway, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("verify: gateway %q is not an absolute URL such as http://127.0.0.1:8080", base)
	}
	if key == "" {
		return nil, errors.New("verify: a consumer key is required to ask the gateway")
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: MaxConcurrency, IdleConnTimeout: 30 * time.Second}}
	}
	return &Gateway{base: u, key: key, client: client}, nil
}

// TrackDetails implements API. Answers other than 200 and 404 are returned
// as they came, except the gateway's refusals of the key (401, 403, 429),
// which are ErrRefused.
func (g *Gateway) TrackDetails(ctx context.Context, trackID int64, territory string) (Served, error) {
	q := url.Values{"trackId": {itoa(trackID)}, "country": {territory},
		"usageTypes": {"download,subscriptionstreaming,adsupportedstreaming"}, "oauth_consumer_key": {g.key}}
	u := g.base.JoinPath("/1.2/track/details")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Served{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return Served{}, fmt.Errorf("track/details %d %s: %w", trackID, territory, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return Served{}, fmt.Errorf("track/details %d %s: %w", trackID, territory, err)
	}
	s := Served{HTTPStatus: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return s, fmt.Errorf("%w: %s: %s", ErrRefused, resp.Status, strings.TrimSpace(string(body)))
	}
	var env struct {
		Status string     `json:"status"`
		Track  *WireTrack `json:"track"`
		Error  *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return s, nil // status alone: not the API's envelope
	}
	s.Track = env.Track
	if env.Error != nil {
		s.Code = env.Error.Code
	}
	return s, nil
}

// wireFields are what the API renders of a track, per the wire contract
// (docs/api.md): the release type in 7digital's set, explicitContent for
// an Explicit warning, dates as UTC with a Z and no fraction, a download's
// price only when it has an amount.
func wireFields(t WireTrack) []field {
	label := ""
	if t.Release.Label != nil {
		label = t.Release.Label.Name
	}
	return []field{
		{"id", itoa(t.ID)},
		{"title", t.Title},
		{"version", t.Version},
		{"artist.id", itoa(t.Artist.ID)},
		{"artist.name", t.Artist.Name},
		{"trackNumber", strconv.Itoa(t.TrackNumber)},
		{"duration", strconv.Itoa(t.Duration)},
		{"explicitContent", strconv.FormatBool(t.ExplicitContent)},
		{"isrc", t.ISRC},
		{"release.id", itoa(t.Release.ID)},
		{"release.title", t.Release.Title},
		{"release.version", t.Release.Version},
		{"release.type", t.Release.Type},
		{"release.barcode", t.Release.Barcode},
		{"release.artist.id", itoa(t.Release.Artist.ID)},
		{"release.artist.name", t.Release.Artist.Name},
		{"release.label", label},
		{"discNumber", strconv.Itoa(t.DiscNumber)},
		{"number", strconv.Itoa(t.Number)},
		{"pline", t.PLine},
	}
}

// wireUsages are the three usage blocks: present or not, with their
// dates and the download's price.
func wireUsages(t WireTrack) [3][]field {
	var u [3][]field
	if d := t.Download; d == nil {
		u[0] = []field{{"download", notOffered}}
	} else {
		p := ""
		if len(d.Packages) > 0 {
			p = strings.TrimSpace(d.Packages[0].Price.SevendigitalPrice + " " + d.Packages[0].Price.CurrencyCode)
		}
		u[0] = []field{{"download", "offered"}, {"download.releaseDate", d.ReleaseDate}, {"download.price", p}}
	}
	for i, s := range []struct {
		name string
		b    *wireStreaming
	}{{"subscriptionStreaming", t.SubscriptionStreaming}, {"adSupportedStreaming", t.AdSupportedStreaming}} {
		if s.b == nil {
			u[i+1] = []field{{s.name, notOffered}}
		} else {
			u[i+1] = []field{{s.name, "offered"}, {s.name + ".releaseDate", s.b.ReleaseDate}}
		}
	}
	return u
}

// render is the track as the API must render it.
func render(t catalogue.Track) WireTrack {
	w := WireTrack{ID: t.ID, Title: t.Title, Version: t.Version, Artist: wireArtist{t.Artist.ID, t.Artist.Name},
		TrackNumber: t.Number, Duration: t.DurationSeconds, ExplicitContent: t.ParentalWarning == "Explicit", ISRC: t.ISRC,
		Release: wireRelease{ID: t.Release.ID, Title: t.Release.Title, Version: t.Release.Version, Type: wireReleaseType(t.Release.Type),
			Barcode: t.Release.UPC, Artist: wireArtist{t.Release.Artist.ID, t.Release.Artist.Name}},
		DiscNumber: t.Disc, Number: t.Number, PLine: t.PLine}
	if t.Release.Label != "" {
		w.Release.Label = &wireLabel{t.Release.Label}
	}
	if o := t.Download; o != nil {
		w.Download = &wireDownload{ReleaseDate: wireDate(o.From)}
		if o.Price != nil && o.Price.Amount != "" {
			var p wirePackage
			p.Price.CurrencyCode, p.Price.SevendigitalPrice = o.Price.Currency, o.Price.Amount
			w.Download.Packages = []wirePackage{p}
		}
	}
	if o := t.Subscription; o != nil {
		w.SubscriptionStreaming = &wireStreaming{wireDate(o.From)}
	}
	if o := t.AdSupported; o != nil {
		w.AdSupportedStreaming = &wireStreaming{wireDate(o.From)}
	}
	return w
}

// wireReleaseType maps a DDEX release type to 7digital's set.
func wireReleaseType(t string) string {
	switch strings.ToLower(t) {
	case "single", "singleresourcerelease", "trackrelease":
		return "Single"
	case "videosingle", "videoalbum", "shortformmusicalworkvideo", "longformmusicalworkvideo":
		return "Video"
	}
	return "Album"
}

func wireDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// apiCase is one (track, territory) the api layer asks for.
type apiCase struct {
	track     int64
	territory string
}

// sample picks the api layer's cases: with SampleAll every live track in
// every territory compared and every track that must not be served once;
// else n cases drawn with the seed, nine in ten of a live track (a track
// at random, then one of its territories) and one in ten of a track that
// must not be served, without repeats.
func (c *checker) sample(n int) []apiCase {
	e := c.exp
	live, gone := sortedIDs(e.answers), sortedIDs(e.gone)
	var out []apiCase
	if n == SampleAll {
		for _, id := range live {
			for _, t := range c.avail.territories(e.answers[id].rel.id) {
				out = append(out, apiCase{id, t})
			}
		}
		for _, id := range gone {
			out = append(out, apiCase{id, "GB"})
		}
		return out
	}
	r := rand.New(rand.NewPCG(c.cfg.Seed, 0x76657269667921))
	seen := map[apiCase]bool{}
	for tries := 0; len(out) < n && tries < 20*n; tries++ {
		var k apiCase
		switch {
		case len(gone) > 0 && (len(live) == 0 || r.IntN(10) == 0):
			k = apiCase{gone[r.IntN(len(gone))], "GB"}
		case len(live) > 0:
			id := live[r.IntN(len(live))]
			ts := c.avail.territories(e.answers[id].rel.id)
			k = apiCase{id, ts[r.IntN(len(ts))]}
		default:
			return out
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// api asks the gateway for each sampled case and compares its answer with
// the oracle's at the moment of the request.
func (c *checker) api(ctx context.Context, api API) (LayerSummary, error) {
	began := time.Now()
	counts := newCounts()
	cases := c.sample(c.cfg.Sample)
	var requests atomic.Int64
	err := parallel(ctx, len(cases), c.cfg.Concurrency, func(ctx context.Context, i int) error {
		k := cases[i]
		want := c.exp.Answer(k.track, k.territory, c.cfg.Now())
		if want.Status == Unchecked {
			return nil
		}
		got, err := api.TrackDetails(ctx, k.track, k.territory)
		requests.Add(1)
		if err != nil {
			return err
		}
		rel := want.Track.Release.ID
		counts.saw(k.track, rel, []string{k.territory})
		if got.status() != want.Status.String() {
			served := got.status()
			if got.Track != nil {
				served += fmt.Sprintf(" (release %d)", got.Track.Release.ID)
			}
			c.out.add(Divergence{Layer: LayerAPI, Track: k.track, Release: rel, Territory: k.territory, Field: "status",
				Expected: want.Status.String(), Served: served})
			return nil
		}
		if want.Status != Found || got.Track == nil {
			return nil
		}
		w := render(want.Track)
		for _, d := range diff(wireFields(w), wireFields(*got.Track)) {
			c.out.add(Divergence{Layer: LayerAPI, Track: k.track, Release: rel, Territory: k.territory, Field: d.field, Expected: d.expected, Served: d.served})
		}
		eu, su := wireUsages(w), wireUsages(*got.Track)
		for u := range eu {
			if len(eu[u]) != len(su[u]) {
				c.out.add(Divergence{Layer: LayerAPI, Track: k.track, Release: rel, Territory: k.territory, Field: eu[u][0].name,
					Expected: describe(eu[u]), Served: describe(su[u])})
				continue
			}
			for _, d := range diff(eu[u], su[u]) {
				c.out.add(Divergence{Layer: LayerAPI, Track: k.track, Release: rel, Territory: k.territory, Field: d.field, Expected: d.expected, Served: d.served})
			}
		}
		return nil
	})
	if err != nil {
		return LayerSummary{}, fmt.Errorf("api layer: %w", err)
	}
	sum := counts.summary(LayerAPI, c.out, began)
	sum.Requests = int(requests.Load())
	c.log.Info("api layer compared", "requests", sum.Requests, "divergences", sum.Divergences, "seconds", sum.Seconds)
	return sum, nil
}
