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
	for _, s := range []string{"1.234,56 €", "61,56€", "EUR 61,56", "61,56 EUR", "12,00-", "-€3,50", "1\u00a0234,56 €", "CHF 12.00", "12.00 USD-"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, comma bool) {
		// A currency written with the amount, on either side, or a trailing
		// minus, reads as the bare amount does.
		if v, code, err := warehouse.ParseMoney(s, comma); err == nil {
			if code != "" && (len(code) != 3 || strings.ToUpper(code) != code) {
				t.Fatalf("ParseMoney(%q) names currency %q", s, code)
			}
			bare := warehouse.FormatAmount(v, warehouse.AmountScale)
			for _, form := range []string{bare + " €", "EUR " + bare, bare + "EUR"} {
				if w, _, err := warehouse.ParseMoney(form, false); err != nil || w != v {
					t.Fatalf("%q reads as %d but %q as %d, %v", s, v, form, w, err)
				}
			}
			if v > 0 {
				if w, err := warehouse.ParseAmount(bare+"-", false); err != nil || w != -v {
					t.Fatalf("%q- reads as %d, want %d, %v", bare, w, -v, err)
				}
			}
		}
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

// TestEuropeanAmounts: the forms shop systems write amounts in, read exactly.
func TestEuropeanAmounts(t *testing.T) {
	tests := []struct {
		in       string
		comma    bool
		want     int64
		currency string
	}{
		{"1.234,56 €", true, 1_234_560_000, "EUR"},
		{"61,56€", true, 61_560_000, "EUR"},
		{"€61,56", true, 61_560_000, "EUR"},
		{"EUR 61,56", true, 61_560_000, "EUR"},
		{"61,56 EUR", true, 61_560_000, "EUR"},
		{"61,56EUR", true, 61_560_000, "EUR"},
		{"12,00-", true, -12_000_000, ""},
		{"-€3,50", true, -3_500_000, "EUR"},
		{"€-3,50", true, -3_500_000, "EUR"},
		{"1\u00a0234,56 €", true, 1_234_560_000, "EUR"},
		{"£12.00", false, 12_000_000, "GBP"},
		{"$12.00", false, 12_000_000, ""},
		{"12.00 USD", false, 12_000_000, "USD"},
		{"CHF 1'234.50", false, 1_234_500_000, "CHF"},
		{"(12.00) EUR", false, -12_000_000, "EUR"},
	}
	for _, tc := range tests {
		v, code, err := warehouse.ParseMoney(tc.in, tc.comma)
		if err != nil || v != tc.want || code != tc.currency {
			t.Errorf("ParseMoney(%q, %v) = %d %q %v; want %d %q", tc.in, tc.comma, v, code, err, tc.want, tc.currency)
		}
	}
	for _, bad := range []string{"61,56 €", "1.234,56"} { // with a decimal point
		if _, err := warehouse.ParseAmount(bad, false); err == nil || !strings.Contains(err.Error(), "--decimal-comma") {
			t.Errorf("ParseAmount(%q, point) = %v; want a bad amount naming --decimal-comma", bad, err)
		}
	}
}

// TestInferDecimalComma: a file's amounts decide the decimal separator
// only when some can be read one way only, and none the other way.
func TestInferDecimalComma(t *testing.T) {
	tests := []struct {
		values []string
		comma  bool
	}{
		{[]string{"17,22 €", "1.234,56 €", "5"}, true},
		{[]string{"1,234", "17,22"}, true},
		{[]string{"1,234", "17.22"}, false},
		{[]string{"1,234", "2,500"}, false}, // either: the default
		{[]string{"17,22", "17.22"}, false}, // both: the default, and the rows that contradict it are bad
		{[]string{"12", "7"}, false},
		{[]string{"1.234.567,8"}, true},
		{[]string{"1,234,567.8"}, false},
	}
	for _, tc := range tests {
		if got, _ := inferDecimalComma(tc.values); got != tc.comma {
			t.Errorf("inferDecimalComma(%q) = %v; want %v", tc.values, got, tc.comma)
		}
	}
}

// TestBadRowsAllowed: f·n plus three binomial standard deviations.
func TestBadRowsAllowed(t *testing.T) {
	tests := []struct {
		n    int64
		f    float64
		want int64
	}{
		{150, 0.01, 5}, {20, 0.01, 1}, {5, 0.01, 0}, {1_000_000, 0.01, 10_298}, {150, 0, 0}, {0, 0.5, 0}, {100, 1, 100},
	}
	for _, tc := range tests {
		if got := BadRowsAllowed(tc.n, tc.f); got != tc.want {
			t.Errorf("BadRowsAllowed(%d, %v) = %d; want %d", tc.n, tc.f, got, tc.want)
		}
	}
}

// TestFieldFastPaths: the converter's fast paths agree with the strings
// functions they stand in for.
func TestFieldFastPaths(t *testing.T) {
	for _, v := range []string{"", " ", "a", " a", "a ", "\ta\n", "EUR", "eur", "Eur", "E1", "\u00a0a", "a\u00a0", "\u0085x", "é", "x\u2003", "A-B", "ÉUR",
		"GUEST", "Guest", "0", "N/A", "pending payment", "Pending_Payment", "pending  payment", " voided", "Storniert", "annulé", "wc-cancelled"} {
		if got, want := trimSpace(v), strings.TrimSpace(v); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", v, got, want)
		}
		if got, want := upperCode(v), strings.ToUpper(v); got != want {
			t.Errorf("upperCode(%q) = %q, want %q", v, got, want)
		}
		if got, want := isGuestID(v), guestIDs[strings.ToLower(v)]; got != want {
			t.Errorf("isGuestID(%q) = %v, want %v", v, got, want)
		}
		if got, want := normaliseStatus(v), strings.Join(strings.Fields(statusSeparators.Replace(foldAccents.Replace(strings.ToLower(v)))), " "); got != want {
			t.Errorf("normaliseStatus(%q) = %q, want %q", v, got, want)
		}
	}
}
