package release

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Deal is one validated deal: usages granted for the release (Track "") or
// for one of its tracks (Track = its ISRC) in some territories, during a
// window, at a price. Its exported fields are the event schema.
type Deal struct {
	// Track is the ISRC of the track the deal is for; empty for the whole release.
	Track string `json:"track,omitempty"`
	// Territories holds ISO 3166-1 alpha-2 codes or "Worldwide".
	Territories []string `json:"territories,omitempty"`
	// ExcludedTerritories means "everywhere except these".
	ExcludedTerritories []string `json:"excludedTerritories,omitempty"`
	// UseTypes are DDEX use types (OnDemandStream, PermanentDownload, ...).
	UseTypes []string `json:"useTypes,omitempty"`
	// CommercialModels are DDEX commercial model types (SubscriptionModel, ...).
	CommercialModels []string `json:"commercialModels,omitempty"`
	// Start and End bound the deal's validity (End exclusive); nil is open.
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
	Price *Price     `json:"price,omitempty"`
	// TakeDown withdraws every usage in the deal's territories (ERN 3.8).
	TakeDown bool `json:"takeDown,omitempty"`
}

// Price is a deal's price: an amount in a currency and/or a price code.
type Price struct {
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	Code     string `json:"code,omitempty"`
}

// Worldwide is the DDEX territory that stands for every country.
const Worldwide = "Worldwide"

var (
	subdivision = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
	numeric     = regexp.MustCompile(`^\d+$`)
	decimal     = regexp.MustCompile(`^\d+(\.\d+)?$`)
)

// iso4217 lists the currency codes a price may use, space separated: the
// codes of ISO 4217 List One (current currencies, as published by the
// maintenance agency, SIX, in 2025) that a customer can pay in. Left out
// are the codes that are not money a price is paid in: XXX (no currency),
// XTS (reserved for testing), the precious metals (XAU, XAG, XPT, XPD),
// the bond-market and accounting units (XBA, XBB, XBC, XBD, XDR, XSU,
// XUA), and the fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW).
// Withdrawn codes (HRK, SLL, ZWL, ANG, VEF …) are not current either.
const iso4217 = " AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD" +
	" CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD" +
	" HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD" +
	" MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR" +
	" RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS" +
	" UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG "

// IsCurrency reports whether code (upper case) is an ISO 4217 currency a
// price may use (see iso4217).
func IsCurrency(code string) bool {
	return len(code) == 3 && strings.Contains(iso4217, " "+code+" ")
}

// normaliseTerritory returns the code to keep ("" to drop an ISO 3166-2
// subdivision code, which names no country we sell in) or an error.
func normaliseTerritory(s string) (string, error) {
	c := strings.TrimSpace(s)
	switch {
	case strings.EqualFold(c, Worldwide):
		return Worldwide, nil
	case numeric.MatchString(c):
		return "", fmt.Errorf("numeric territory code %s is not supported; use ISO 3166-1 alpha-2 or Worldwide", Quote(s))
	case subdivision.MatchString(strings.ToUpper(c)):
		return "", nil
	}
	t, err := ParseTerritory(c)
	if err != nil {
		return "", err
	}
	return t.String(), nil
}

func newDeal(ps *problems, f string, dd DraftDeal, isrcs map[string]int) (Deal, bool) {
	before := len(ps.list)
	d := Deal{TakeDown: dd.TakeDown}
	if dd.Track != "" {
		if v, err := ParseISRC(dd.Track); err != nil {
			ps.add(f+".track", "%v", err)
		} else if _, ok := isrcs[v.String()]; !ok {
			ps.add(f+".track", "%s is not a track of this release", v)
		} else {
			d.Track = v.String()
		}
	}
	territories := func(name string, in []string) []string {
		var out []string
		for k, s := range in {
			c, err := normaliseTerritory(s)
			if err != nil {
				ps.add(fmt.Sprintf("%s.%s[%d]", f, name, k), "%v", err)
			} else if c != "" {
				out = append(out, c)
			}
		}
		return out
	}
	d.Territories = territories("territories", dd.Territories)
	d.ExcludedTerritories = territories("excludedTerritories", dd.ExcludedTerritories)
	if len(dd.Territories) == 0 && len(dd.ExcludedTerritories) == 0 {
		ps.add(f+".territories", "a deal needs territories or excluded territories")
	}
	for k, u := range dd.UseTypes {
		if u = strings.TrimSpace(u); u == "" {
			ps.add(fmt.Sprintf("%s.useTypes[%d]", f, k), "is empty")
		} else {
			d.UseTypes = append(d.UseTypes, u)
		}
	}
	if len(d.UseTypes) == 0 && !d.TakeDown {
		ps.add(f+".useTypes", "a deal that is not a takedown needs at least one use type")
	}
	for _, m := range dd.CommercialModels {
		if m = strings.TrimSpace(m); m != "" {
			d.CommercialModels = append(d.CommercialModels, m)
		}
	}
	for _, w := range []struct {
		name string
		in   string
		out  **time.Time
	}{{"start", dd.Start, &d.Start}, {"end", dd.End, &d.End}} {
		if strings.TrimSpace(w.in) == "" {
			continue
		}
		t, err := ParseTime(w.in)
		if err != nil {
			ps.add(f+"."+w.name, "%v", err)
			continue
		}
		*w.out = &t
	}
	if d.Start != nil && d.End != nil && !d.End.After(*d.Start) {
		ps.add(f+".end", "%s is not after the start %s", d.End.Format(time.RFC3339), d.Start.Format(time.RFC3339))
	}
	if dd.PriceAmount != "" || dd.PriceCurrency != "" || dd.PriceCode != "" {
		p := &Price{Amount: strings.TrimSpace(dd.PriceAmount), Currency: strings.ToUpper(strings.TrimSpace(dd.PriceCurrency)), Code: strings.TrimSpace(dd.PriceCode)}
		if p.Amount != "" && !decimal.MatchString(p.Amount) {
			ps.add(f+".price", "amount %s is not a decimal number such as 0.99", Quote(p.Amount))
		}
		switch {
		case p.Amount != "" && p.Currency == "":
			ps.add(f+".price", "amount %s has no currency; give an ISO 4217 code such as GBP", Quote(p.Amount))
		case p.Currency != "" && !IsCurrency(p.Currency):
			ps.add(f+".price", "currency %s is not an ISO 4217 currency a price can be paid in, such as GBP, EUR or USD", Quote(dd.PriceCurrency))
		}
		d.Price = p
	}
	return d, len(ps.list) == before
}

// normaliseDeals sorts each deal's lists and the deal set itself, and drops
// exact duplicates, so equal deal sets compare equal.
func normaliseDeals(in []Deal) []Deal {
	type keyed struct {
		key  string
		deal Deal
	}
	seen := map[string]bool{}
	var ks []keyed
	for _, d := range in {
		for _, l := range [][]string{d.Territories, d.ExcludedTerritories, d.UseTypes, d.CommercialModels} {
			sort.Strings(l)
		}
		b, _ := json.Marshal(d)
		if !seen[string(b)] {
			seen[string(b)] = true
			ks = append(ks, keyed{string(b), d})
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	out := make([]Deal, len(ks))
	for i, k := range ks {
		out[i] = k.deal
	}
	return out
}

// Usage is what a customer can do with a track: the three availability
// blocks of the catalogue API.
type Usage string

// The usages, as the API names its blocks.
const (
	UsageDownload     Usage = "download"
	UsageSubscription Usage = "subscriptionStreaming"
	UsageAdSupported  Usage = "adSupportedStreaming"
)

// Usages classifies a deal's use types under its commercial models
// (docs/deals.md):
//   - PermanentDownload and Download grant download;
//   - Stream, OnDemandStream, NonInteractiveStream, ConditionalDownload and
//     TetheredDownload are the streaming family: under SubscriptionModel
//     they grant subscription streaming, under AdvertisementSupportedModel
//     or FreeOfChargeModel ad-supported streaming, and with no commercial
//     model subscription streaming; under other models (PayAsYouGoModel)
//     nothing;
//   - any other use type grants nothing here.
func (d Deal) Usages() []Usage {
	set := d.usageSet()
	var out []Usage
	for _, u := range []Usage{UsageDownload, UsageSubscription, UsageAdSupported} {
		if set[usageSlot(u)] {
			out = append(out, u)
		}
	}
	return out
}

// usageSet is Usages as a set, indexed like usageOrder.
func (d *Deal) usageSet() [3]bool {
	var set [3]bool
	if d.TakeDown {
		return set
	}
	for _, u := range d.UseTypes {
		switch u {
		case "PermanentDownload", "Download":
			set[1] = true
		case "Stream", "OnDemandStream", "NonInteractiveStream", "ConditionalDownload", "TetheredDownload":
			if len(d.CommercialModels) == 0 {
				set[2] = true
			}
			for _, m := range d.CommercialModels {
				switch m {
				case "SubscriptionModel":
					set[2] = true
				case "AdvertisementSupportedModel", "FreeOfChargeModel":
					set[0] = true
				}
			}
		}
	}
	return set
}

// Covers reports whether the deal's territory terms include territory.
func (d Deal) Covers(territory string) bool {
	for _, x := range d.ExcludedTerritories {
		if x == territory || x == Worldwide {
			return false
		}
	}
	if len(d.Territories) == 0 {
		return len(d.ExcludedTerritories) > 0
	}
	for _, t := range d.Territories {
		if t == territory || t == Worldwide {
			return true
		}
	}
	return false
}

// territories lists the ISO codes the deal covers: its own list, or all
// of them for Worldwide or an exclusion list.
func (d Deal) territories() []string {
	if len(d.ExcludedTerritories) > 0 || len(d.Territories) == 0 {
		var out []string
		for _, t := range territoryList {
			if d.Covers(t) {
				out = append(out, t)
			}
		}
		return out
	}
	for _, t := range d.Territories {
		if t == Worldwide {
			return territoryList
		}
	}
	return d.Territories
}

// Window is when one usage of a track is available in one territory, and
// at what price. From nil means "since before the catalogue knew"; To nil
// means open-ended.
type Window struct {
	Territory string
	Usage     Usage
	From      *time.Time
	To        *time.Time
	Price     *Price
}

// TrackWindows expands a deal set into availability windows for one track,
// per territory and usage. A track with deals of its own uses those;
// otherwise it inherits the release's deals. Takedown deals remove every
// usage in their territories, whatever the other deals say. Several deals
// for one territory and usage merge into the earliest start and the latest
// end; the price is the one of the earliest-starting deal.
func TrackWindows(deals []Deal, isrc string) []Window {
	return TrackWindowsIn(make([]Window, WindowSlots), deals, isrc)
}

// WindowSlots is the length of the scratch TrackWindowsIn needs: a slot
// per territory and usage.
var WindowSlots = func() int {
	n := len(territoryList) * len(usageOrder)
	if n > maxWindowSlots {
		panic("release: more territories than maxWindowSlots holds")
	}
	return n
}()

// TrackWindowsIn is TrackWindows worked out in scratch, which must hold
// at least WindowSlots windows, all zero; it returns the front of scratch,
// where the windows end up. A caller folding many deal sets (a rebuild
// folds one per event) reuses one scratch instead of a new 40 KB array
// per call: it clears the windows returned, and only those (the rest is
// left zero), before it passes scratch again.
func TrackWindowsIn(scratch []Window, deals []Deal, isrc string) []Window {
	// The scope is the track's own deals when it has any, else the
	// release's (Track == "").
	scope := ""
	var takedowns []*Deal
	for i := range deals {
		d := &deals[i]
		if isrc != "" && d.Track == isrc {
			scope = isrc
		}
		if d.TakeDown && (d.Track == "" || d.Track == isrc) {
			takedowns = append(takedowns, d)
		}
	}
	// One slot per (territory, usage), in the order the windows are
	// returned: territories as listed (sorted), usages by name. A slot
	// holds, plus one (0 is a slot not in use), the index of the deal its
	// window starts with (whose start and price it takes) and of the deal
	// it ends with: plain numbers, on the stack, where windows (strings
	// and pointers) would be written and then moved for every slot; the
	// windows are made once, in order, from the slots in use.
	var slots [maxWindowSlots]struct{ from, to int32 }
	for k := range deals {
		d := &deals[k]
		if d.Track != scope {
			continue
		}
		usages := d.usageSet()
		if usages == [3]bool{} {
			continue
		}
		for _, t := range d.territories() {
			ti, known := TerritoryIndex(t)
			if !known || takenDown(takedowns, t) {
				continue
			}
			for slot, on := range usages {
				if !on {
					continue
				}
				w := &slots[ti*len(usageOrder)+slot]
				if w.from == 0 {
					w.from, w.to = int32(k+1), int32(k+1)
					continue
				}
				if earlier(d.Start, deals[w.from-1].Start) {
					w.from = int32(k + 1)
				}
				if later(d.End, deals[w.to-1].End) {
					w.to = int32(k + 1)
				}
			}
		}
	}
	out := scratch[:0:WindowSlots]
	for i, w := range slots[:WindowSlots] {
		if w.from == 0 {
			continue
		}
		from, to := &deals[w.from-1], &deals[w.to-1]
		out = append(out, Window{Territory: territoryList[i/len(usageOrder)], Usage: usageOrder[i%len(usageOrder)],
			From: from.Start, To: to.End, Price: from.Price})
	}
	return out
}

// maxWindowSlots bounds WindowSlots, for TrackWindowsIn's slots on the
// stack.
const maxWindowSlots = 256 * len(usageOrder)

// usageOrder lists the usages by name, the order TrackWindows returns them
// in within a territory.
var usageOrder = [...]Usage{UsageAdSupported, UsageDownload, UsageSubscription}

func usageSlot(u Usage) int {
	switch u {
	case UsageAdSupported:
		return 0
	case UsageDownload:
		return 1
	}
	return 2
}

// TerritoryIndex returns territory's position in Territories(), and false
// for anything not listed there. A fold looks up every territory of every
// deal (747 per album on sale everywhere): the table it reads, one entry
// per pair of capital letters, answers without hashing the string.
func TerritoryIndex(territory string) (int, bool) {
	if len(territory) != 2 {
		return 0, false
	}
	a, b := territory[0]-'A', territory[1]-'A'
	if a >= 26 || b >= 26 {
		return 0, false
	}
	i := territoryTable[int(a)*26+int(b)]
	return int(i) - 1, i != 0
}

// territoryTable holds, for each two-letter code, its position in
// territoryList plus one, or 0 for a code not listed.
var territoryTable = func() (tab [26 * 26]uint16) {
	for i, t := range territoryList {
		tab[int(t[0]-'A')*26+int(t[1]-'A')] = uint16(i + 1)
	}
	return tab
}()

func takenDown(takedowns []*Deal, territory string) bool {
	for _, d := range takedowns {
		if d.Covers(territory) {
			return true
		}
	}
	return false
}

// earlier reports whether start a is before b, nil being the earliest.
func earlier(a, b *time.Time) bool {
	if b == nil {
		return false
	}
	return a == nil || a.Before(*b)
}

// later reports whether end a is after b, nil being open-ended.
func later(a, b *time.Time) bool {
	if b == nil {
		return false
	}
	return a == nil || a.After(*b)
}

// Territories returns every ISO 3166-1 alpha-2 code, sorted: what
// Worldwide expands to.
func Territories() []string { return territoryList }

var territoryList = strings.Fields(iso3166)
