package ingest

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/warehouse"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in, format, zone string
		want             string // RFC 3339 UTC, or "" for an error
	}{
		{"2024-03-05T10:11:12Z", "", "", "2024-03-05T10:11:12Z"},
		{"2024-03-05T10:11:12+02:00", "", "", "2024-03-05T08:11:12Z"},
		{"2024-03-05 10:11:12.123456-05:00", "", "", "2024-03-05T15:11:12.123456Z"},
		{"2024-03-05T10:11:12+0530", "", "", "2024-03-05T04:41:12Z"},
		{"2024-03-05 10:11:12", "", "", "2024-03-05T10:11:12Z"},
		{"2024-03-05 10:11:12", "", "Europe/Berlin", "2024-03-05T09:11:12Z"},
		{"2024-07-05 10:11", "", "Europe/Berlin", "2024-07-05T08:11:00Z"},
		{"2024-03-05", "", "America/New_York", "2024-03-05T05:00:00Z"},
		{"19970101", "", "", "1997-01-01T00:00:00Z"},
		{"1700000000", "", "", "2023-11-14T22:13:20Z"},
		{"1700000000123", "", "", "2023-11-14T22:13:20.123Z"},
		{"1700000000", "epoch", "", "2023-11-14T22:13:20Z"},
		{"13/01/2024", "", "", "2024-01-13T00:00:00Z"},
		{"1/13/2024 8:26", "", "", "2024-01-13T08:26:00Z"},
		{"12/1/2010 8:26", "monthfirst", "", "2010-12-01T08:26:00Z"},
		{"12/1/2010 8:26", "dayfirst", "", "2010-01-12T08:26:00Z"},
		{"3/4/2024 1:05 PM", "monthfirst", "", "2024-03-04T13:05:00Z"},
		{"05.03.2024 13:05:09", "dayfirst", "", "2024-03-05T13:05:09Z"},
		{"05.03.24", "%d.%m.%y", "", "2024-03-05T00:00:00Z"},
		{"2024/03/05 10:00", "", "", "2024-03-05T10:00:00Z"},
		{"05 Mar 2024 10:00", "%d %b %Y %H:%M", "UTC", "2024-03-05T10:00:00Z"},
		// DST, Europe/Berlin: 2024-03-31 02:00 → 03:00 (gap), 2024-10-27 03:00 → 02:00 (overlap).
		{"2024-03-31 02:30", "", "Europe/Berlin", "2024-03-31T01:30:00Z"}, // in the gap: offset before (+01), i.e. 03:30 CEST
		{"2024-10-27 02:30", "", "Europe/Berlin", "2024-10-27T00:30:00Z"}, // overlap: the earlier instant (+02)
		{"2024-10-27 03:30", "", "Europe/Berlin", "2024-10-27T02:30:00Z"},
		{"01/02/2024", "", "", ""},         // ambiguous without a format
		{"31/02/2024", "dayfirst", "", ""}, // not a date
		{"not-a-date", "", "", ""},
		{"", "", "", ""},
		{"2024-13-01", "", "", ""},
		{"123", "", "", ""},
	}
	for _, tc := range tests {
		p, err := NewTimeParser(tc.format, tc.zone)
		if err != nil {
			t.Fatalf("NewTimeParser(%q, %q): %v", tc.format, tc.zone, err)
		}
		got, err := p.Parse(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrBadTime) {
				t.Errorf("Parse(%q) = %v, %v; want ErrBadTime", tc.in, got, err)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != tc.want {
			t.Errorf("Parse(%q, format %q, zone %q) = %s, %v; want %s", tc.in, tc.format, tc.zone, got.Format(time.RFC3339Nano), err, tc.want)
		}
	}
}

func TestNewTimeParserRejectsBadOptions(t *testing.T) {
	for _, c := range [][2]string{{"", "Mars/Olympus"}, {"%Q", ""}, {"yyyy-mm-dd", ""}} {
		if _, err := NewTimeParser(c[0], c[1]); !errors.Is(err, warehouse.ErrOption) {
			t.Errorf("NewTimeParser(%q, %q) err = %v; want ErrOption", c[0], c[1], err)
		}
	}
}

// FuzzParseTime: never panics, errors are ErrBadTime, accepted times are sane.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-05T10:11:12Z", "19970101", "1/13/2024 8:26", "1700000000", "2024-10-27 02:30", "31.12.99",
		"2024-01-05 10:11:12 -0500", "2024-01-05 10:11:12 UTC", "2024-01-05 10:11:12 +05:30", "13/01/2023 12:41"} {
		f.Add(s)
	}
	zones := []*time.Location{time.UTC, mustZone("Europe/Berlin"), mustZone("America/New_York")}
	for _, s := range []string{"2024-02-29T23:59:59.123456789+05:30", "1969-12-31T23:59:59.5Z", "2023-02-29T00:00:00Z", "0001-01-01T00:00:00-01:00", "2024-06-30T12:00:00.1234567890Z", "0000-02-29T00:00:00Z", "0000-03-01T00:00:00+01:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if fast, ok := parseRFC3339Micros(s); ok {
			slow, err := (&TimeParser{}).Parse(s)
			if err != nil || slow.UnixMicro() != fast {
				t.Fatalf("fast path reads %q as %d, Parse as %v (%d), %v", s, fast, slow, slow.UnixMicro(), err)
			}
		}
		// An RFC 3339 time reads the same written Shopify's way, with a space
		// before a zone without a colon, and Rails' way for UTC.
		if t0, err := time.Parse(time.RFC3339Nano, s); err == nil && t0.Year() > 0 && t0.Year() < 10000 {
			_, off := t0.Zone()
			shopify := t0.Format("2006-01-02 15:04:05.999999999 -0700")
			if got, err := (&TimeParser{}).Parse(shopify); err != nil || !got.Equal(t0) {
				t.Fatalf("%q reads as %v, %q as %v, %v", s, t0, shopify, got, err)
			}
			if off == 0 {
				rails := t0.Format("2006-01-02 15:04:05.999999999") + " UTC"
				if got, err := (&TimeParser{}).Parse(rails); err != nil || !got.Equal(t0) {
					t.Fatalf("%q reads as %v, %q as %v, %v", s, t0, rails, got, err)
				}
			}
		}
		// With a column's form known, a value is read as without, or is a bad time.
		for fam := familyISO; fam < familyOther; fam++ {
			p := &TimeParser{Family: fam, Order: DayFirst}
			got, err := p.Parse(s)
			if err != nil {
				if !errors.Is(err, ErrBadTime) {
					t.Fatalf("Parse(%q) in family %d: %v is not ErrBadTime", s, fam, err)
				}
				continue
			}
			if want, err := (&TimeParser{Order: DayFirst}).Parse(s); err != nil || !want.Equal(got) {
				t.Fatalf("Parse(%q) in family %d = %v; without a family %v, %v", s, fam, got, want, err)
			}
		}
		for _, loc := range zones {
			for _, order := range []DateOrder{OrderUnknown, DayFirst, MonthFirst} {
				p := &TimeParser{Location: loc, Order: order}
				got, err := p.Parse(s)
				if err != nil {
					if !errors.Is(err, ErrBadTime) {
						t.Fatalf("Parse(%q): %v is not ErrBadTime", s, err)
					}
					continue
				}
				if got.Location() != time.UTC {
					t.Fatalf("Parse(%q) = %v, not UTC", s, got)
				}
			}
		}
	})
}

// TestTimeFamilies: a column's times are in one form; a value in another is
// a bad time that names --time-format mixed.
func TestTimeFamilies(t *testing.T) {
	if got := inferFamily([]string{"2024-01-05T10:00:00Z", "2024-01-06 10:00", "13/01/2023 12:41"}); got != familyISO {
		t.Fatalf("inferFamily = %v, want ISO", got)
	}
	p := &TimeParser{Family: familyISO}
	for _, ok := range []string{"2024-01-05T10:00:00+01:00", "2024-01-05", "2024-01-05 10:11:12 UTC"} {
		if _, err := p.ParseMicros(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"13/01/2023 12:41", "1704449000", "20240105"} {
		_, err := p.ParseMicros(bad)
		if err == nil || !errors.Is(err, ErrBadTime) || !strings.Contains(err.Error(), "--time-format mixed") {
			t.Errorf("%q in an ISO column: %v; want a bad time naming --time-format mixed", bad, err)
		}
	}
	mixed, err := NewTimeParser("mixed", "")
	if err != nil || !mixed.Mixed {
		t.Fatalf("--time-format mixed: %+v %v", mixed, err)
	}
}

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// TestRFC3339FastPath compares the arithmetic reading of RFC 3339 with
// time.Parse over random instants, offsets and fractions.
func TestRFC3339FastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 100_000; i++ {
		// 1700 to 2300: across both ends of the month table (1900–2199).
		us := rng.Int64N(600*365*86_400_000_000) - 270*365*86_400_000_000
		zone := time.FixedZone("", (rng.IntN(49)-24)*30*60)
		tm := time.UnixMicro(us).In(zone)
		layout := []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00"}[rng.IntN(4)]
		s := tm.Format(layout)
		fast, ok := parseRFC3339Micros(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !ok || fast != want.UnixMicro() {
			t.Fatalf("%q: fast %d %v, time.Parse %d %v", s, fast, ok, want.UnixMicro(), err)
		}
	}
	for _, s := range []string{"2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00", "2024-01-01T00:00:00.Z", "2024-01-01 00:00:00Z"} {
		if _, ok := parseRFC3339Micros(s); ok {
			t.Errorf("fast path accepts %q", s)
		}
	}
}
