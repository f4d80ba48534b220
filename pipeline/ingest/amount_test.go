package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/churnhq/churn/pipeline/warehouse"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in    string
		comma bool
		want  int64
		bad   bool
	}{
		{"12.00", false, 12_000_000, false},
		{"0", false, 0, false},
		{"0.00", false, 0, false},
		{"-3.5", false, -3_500_000, false},
		{"+3.5", false, 3_500_000, false},
		{"(4.25)", false, -4_250_000, false},
		{"$1,234.56", false, 1_234_560_000, false},
		{"-$1,234.56", false, -1_234_560_000, false},
		{"$-7", false, -7_000_000, false},
		{"€1.234,56", true, 1_234_560_000, false},
		{"1 234,5", true, 1_234_500_000, false},
		{"12,5", true, 12_500_000, false},
		{".5", false, 500_000, false},
		{"1234567.123456", false, 1_234_567_123_456, false},
		{"  77.00 ", false, 77_000_000, false},
		{"1.2345678", false, 0, true},      // more decimals than we keep: never rounded
		{"1,2", false, 0, true},            // thousands separator that does not group by three
		{"12.3.4", false, 0, true},         // two decimal points
		{"abc", false, 0, true},            // no digits
		{"", false, 0, true},               // empty
		{"1e5", false, 0, true},            // no scientific notation
		{"12,50", false, 0, true},          // decimal comma without --decimal-comma
		{"99999999999999", false, 0, true}, // beyond ±9.2e12
		{"NaN", false, 0, true},
	}
	for _, tc := range tests {
		got, err := warehouse.ParseAmount(tc.in, tc.comma)
		if tc.bad {
			if !errors.Is(err, warehouse.ErrBadAmount) {
				t.Errorf("ParseAmount(%q) = %d, %v; want ErrBadAmount", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, comma=%v) = %d, %v; want %d", tc.in, tc.comma, got, err, tc.want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		micros   int64
		decimals int
		want     string
	}{
		{12_000_000, 2, "12.00"},
		{-3_505_000, 2, "-3.51"},
		{1_000, 2, "0.00"},
		{-1_000, 2, "0.00"},
		{1_500_000, 0, "2"},
		{1_234_567, 3, "1.235"},
		{1_234_567, 6, "1.234567"},
	}
	for _, tc := range tests {
		if got := warehouse.FormatAmount(tc.micros, tc.decimals); got != tc.want {
			t.Errorf("FormatAmount(%d, %d) = %q; want %q", tc.micros, tc.decimals, got, tc.want)
		}
	}
}

// FuzzParseAmount: never panics; whatever it accepts prints back to the same value.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.00", "-$1,234.56", "(3)", "1.234,5", "€ 7", ".5", "1,2"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Add("-12", false)
	f.Add("007.250000", false)
	f.Add("999999999999.999999", true)
	f.Fuzz(func(t *testing.T, s string, comma bool) {
		if fast, ok := warehouse.ParsePlainAmount(s, comma); ok {
			if slow, err := warehouse.ParseAmountGeneral(s, comma); err != nil || slow != fast {
				t.Fatalf("fast path reads %q as %d, the general path as %d, %v", s, fast, slow, err)
			}
		}
		v, err := warehouse.ParseAmount(s, comma)
		if err != nil {
			if !errors.Is(err, warehouse.ErrBadAmount) {
				t.Fatalf("ParseAmount(%q): error %v is not ErrBadAmount", s, err)
			}
			return
		}
		back, err := warehouse.ParseAmount(warehouse.FormatAmount(v, warehouse.AmountScale), false)
		if err != nil || back != v {
			t.Fatalf("ParseAmount(%q) = %d, which prints as %q and reads back as %d, %v", s, v, warehouse.FormatAmount(v, warehouse.AmountScale), back, err)
		}
	})
}

// TestFieldFastPaths: the converter's fast paths agree with the strings
// functions they stand in for.
func TestFieldFastPaths(t *testing.T) {
	for _, v := range []string{"", " ", "a", " a", "a ", "\ta\n", "EUR", "eur", "Eur", "E1", "\u00a0a", "a\u00a0", "\u0085x", "é", "x\u2003", "A-B", "ÉUR"} {
		if got, want := trimSpace(v), strings.TrimSpace(v); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", v, got, want)
		}
		if got, want := upperCode(v), strings.ToUpper(v); got != want {
			t.Errorf("upperCode(%q) = %q, want %q", v, got, want)
		}
	}
}
