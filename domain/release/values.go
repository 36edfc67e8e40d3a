package release

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors returned (wrapped) by the value parsers.
var (
	// ErrInvalidISRC reports a string that is not an ISO 3901 ISRC.
	ErrInvalidISRC = errors.New("invalid ISRC")
	// ErrInvalidUPC reports a string that is not a GTIN-12/13/14 (UPC/EAN) barcode.
	ErrInvalidUPC = errors.New("invalid UPC/EAN")
	// ErrInvalidTerritory reports a string that is not an ISO 3166-1 alpha-2 code.
	ErrInvalidTerritory = errors.New("invalid territory")
	// ErrInvalidDuration reports a duration that is not a positive ISO 8601 duration.
	ErrInvalidDuration = errors.New("invalid duration")
)

// ISRC is an International Standard Recording Code (ISO 3901), kept in its
// compact 12-character form: country (2 letters), registrant (3 alphanumerics),
// year (2 digits), designation (5 digits).
type ISRC struct{ s string }

var isrcPattern = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)

// ParseISRC accepts the compact form or the hyphenated display form
// (CC-XXX-YY-NNNNN), in any letter case.
func ParseISRC(s string) (ISRC, error) {
	c := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ""))
	if !isrcPattern.MatchString(c) {
		return ISRC{}, fmt.Errorf("%w: %s is not 2 letters, 3 letters or digits, then 7 digits", ErrInvalidISRC, Quote(s))
	}
	return ISRC{c}, nil
}

// MustParseISRC is ParseISRC for constants and tests; it panics on bad input.
func MustParseISRC(s string) ISRC {
	v, err := ParseISRC(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns the compact form.
func (v ISRC) String() string { return v.s }

// IsZero reports whether v is the zero value.
func (v ISRC) IsZero() bool { return v.s == "" }

// UPC is a release barcode: a UPC-A (GTIN-12), EAN-13 (GTIN-13) or GTIN-14,
// kept as a string so leading zeros survive.
type UPC struct{ s string }

// ParseUPC accepts 12 to 14 digits whose last digit is the GTIN check digit.
func ParseUPC(s string) (UPC, error) {
	c := strings.TrimSpace(s)
	if len(c) < 12 || len(c) > 14 {
		return UPC{}, fmt.Errorf("%w: %s must have 12, 13 or 14 digits", ErrInvalidUPC, Quote(s))
	}
	for _, r := range c {
		if r < '0' || r > '9' {
			return UPC{}, fmt.Errorf("%w: %s must contain digits only", ErrInvalidUPC, Quote(s))
		}
	}
	if want := gtinCheckDigit(c[:len(c)-1]); c[len(c)-1] != want {
		return UPC{}, fmt.Errorf("%w: %s has check digit %c, expected %c", ErrInvalidUPC, Quote(s), c[len(c)-1], want)
	}
	return UPC{c}, nil
}

// MustParseUPC is ParseUPC for constants and tests; it panics on bad input.
func MustParseUPC(s string) UPC {
	v, err := ParseUPC(s)
	if err != nil {
		panic(err)
	}
	return v
}

// WithCheckDigit appends the GTIN check digit to body (11 to 13 digits).
// Generators use it to make valid barcodes.
func WithCheckDigit(body string) string { return body + string(gtinCheckDigit(body)) }

// gtinCheckDigit computes the GS1 mod-10 check digit: weights 3,1,3,...
// from the rightmost digit of the body.
func gtinCheckDigit(body string) byte {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// String returns the barcode with its leading zeros.
func (v UPC) String() string { return v.s }

// IsZero reports whether v is the zero value.
func (v UPC) IsZero() bool { return v.s == "" }

// Territory is an ISO 3166-1 alpha-2 country code, upper case.
type Territory struct{ s string }

// ParseTerritory accepts an assigned ISO 3166-1 alpha-2 code in any case.
func ParseTerritory(s string) (Territory, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) != 2 || !strings.Contains(iso3166, " "+c+" ") {
		return Territory{}, fmt.Errorf("%w: %s is not an ISO 3166-1 alpha-2 country code", ErrInvalidTerritory, Quote(s))
	}
	return Territory{c}, nil
}

// MustParseTerritory is ParseTerritory for constants and tests; it panics on bad input.
func MustParseTerritory(s string) Territory {
	v, err := ParseTerritory(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns the two-letter code.
func (v Territory) String() string { return v.s }

// iso3166 lists every officially assigned ISO 3166-1 alpha-2 code, space separated.
const iso3166 = " AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ" +
	" CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR" +
	" GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP" +
	" KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ" +
	" NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW" +
	" SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ" +
	" UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "

// Duration is a track's playing time, whole seconds, as DDEX writes it
// (ISO 8601, e.g. PT3M25S). It is between one second and MaxDuration.
type Duration struct{ d time.Duration }

// MaxDuration is the longest duration a track may have: 48 hours. The
// longest commercially released recordings run a few hours, and a handful
// of art pieces run a full day (24 h); twice that leaves room for them and
// still refuses the absurd values (PT2562047H, P99999D) whose arithmetic
// used to overflow into a wrong but plausible duration.
const MaxDuration = 48 * time.Hour

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$`)

// ParseDuration accepts an ISO 8601 duration of days, hours, minutes and
// seconds (PT4M12S, PT1H2M, PT252.5S). Fractions of a second are rounded
// to the nearest second. The result must be longer than zero and at most
// MaxDuration; a component that alone exceeds MaxDuration (PT5124096H) is
// refused before any arithmetic, so nothing overflows.
func ParseDuration(s string) (Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return Duration{}, fmt.Errorf("%w: %s is not an ISO 8601 duration such as PT3M25S", ErrInvalidDuration, Quote(s))
	}
	limit := MaxDuration.Seconds()
	var total float64
	for i, unit := range []struct {
		name    string
		seconds float64
	}{{"days", 86400}, {"hours", 3600}, {"minutes", 60}, {"seconds", 1}} {
		if m[i+1] == "" {
			continue
		}
		// A component longer than the limit on its own is refused, by its
		// digit count or its value, before it is added to the total.
		if len(strings.SplitN(m[i+1], ".", 2)[0]) > 12 {
			return Duration{}, fmt.Errorf("%w: %s: %s exceed the maximum track duration of %s", ErrInvalidDuration, Quote(s), unit.name, Duration{MaxDuration})
		}
		n, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || n*unit.seconds >= limit+0.5 { // digits only: err is a range error
			return Duration{}, fmt.Errorf("%w: %s: %s exceed the maximum track duration of %s", ErrInvalidDuration, Quote(s), unit.name, Duration{MaxDuration})
		}
		total += n * unit.seconds
	}
	d := time.Duration(total+0.5) * time.Second
	if d <= 0 {
		return Duration{}, fmt.Errorf("%w: %s must be longer than zero", ErrInvalidDuration, Quote(s))
	}
	if d > MaxDuration {
		return Duration{}, fmt.Errorf("%w: %s is longer than the maximum track duration of %s", ErrInvalidDuration, Quote(s), Duration{MaxDuration})
	}
	return Duration{d}, nil
}

// DurationOfSeconds builds a Duration from whole seconds (0 < n <= MaxDuration).
func DurationOfSeconds(n int) (Duration, error) {
	if n <= 0 {
		return Duration{}, fmt.Errorf("%w: %d seconds must be more than zero", ErrInvalidDuration, n)
	}
	if int64(n) > int64(MaxDuration/time.Second) {
		return Duration{}, fmt.Errorf("%w: %d seconds exceed the maximum track duration of %s", ErrInvalidDuration, n, Duration{MaxDuration})
	}
	return Duration{time.Duration(n) * time.Second}, nil
}

// Seconds returns the whole number of seconds.
func (v Duration) Seconds() int { return int(v.d / time.Second) }

// String returns the ISO 8601 form, e.g. PT4M12S.
func (v Duration) String() string {
	s := v.Seconds()
	out := "PT"
	if h := s / 3600; h > 0 {
		out += strconv.Itoa(h) + "H"
	}
	if m := s / 60 % 60; m > 0 {
		out += strconv.Itoa(m) + "M"
	}
	if sec := s % 60; sec > 0 || s == 0 {
		out += strconv.Itoa(sec) + "S"
	}
	return out
}
