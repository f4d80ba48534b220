package warehouse

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AmountScale is the number of decimal places kept for money in the warehouse:
// amounts are stored as int64 millionths of the currency unit (Parquet
// DECIMAL(18,6)), which is exact for every ISO 4217 currency and for unit
// prices with up to six decimals.
const AmountScale = 6

// AmountUnit is 10^AmountScale.
const AmountUnit = 1_000_000

// ErrBadAmount is the reason for an amount that is not an exact decimal number.
var ErrBadAmount = errors.New("bad amount")

// currencySymbols may lead or trail an amount ("$12.00", "-€3,50",
// "61,56 €") and are dropped; those that name one currency name it.
var currencySymbols = []struct{ sym, code string }{
	{"US$", "USD"}, {"R$", "BRL"}, {"A$", "AUD"}, {"C$", "CAD"}, {"NZ$", "NZD"}, {"HK$", "HKD"},
	{"$", ""}, {"€", "EUR"}, {"£", "GBP"}, {"¥", ""}, {"₹", "INR"}, {"₩", "KRW"}, {"₽", "RUB"},
	{"₺", "TRY"}, {"₪", "ILS"}, {"zł", "PLN"}, {"Kč", "CZK"}, {"Fr.", "CHF"}, {"kr.", ""}, {"kr", ""},
}

// ParseAmount parses a decimal money amount into millionths of the currency
// unit. It accepts a leading sign, a trailing minus (SAP's "12,00-") or
// accounting parentheses, a currency symbol or ISO code before or after
// the number, with or without a space ("$12.00", "61,56 €", "EUR 61,56",
// "61,56EUR"), and thousands separators that group digits by three (','
// with a decimal point; '.', ' ' or '\” with decimalComma). More than
// AmountScale decimals, stray characters, or values beyond ±9.2e12 are
// ErrBadAmount: nothing is rounded or guessed.
func ParseAmount(s string, decimalComma bool) (int64, error) {
	if v, ok := ParsePlainAmount(s, decimalComma); ok {
		return v, nil
	}
	v, _, err := ParseMoney(s, decimalComma)
	return v, err
}

// ParseAmountGeneral is ParseAmount for every form it accepts.
func ParseAmountGeneral(s string, decimalComma bool) (int64, error) {
	v, _, err := ParseMoney(s, decimalComma)
	return v, err
}

// ParseMoney is ParseAmount that also returns the ISO code the amount was
// written with ("EUR" for "61,56 €" or "EUR 61,56"), or "" when it names none.
func ParseMoney(s string, decimalComma bool) (int64, string, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	sign := func() {
		if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
			neg = true
			s = strings.TrimSpace(s[1 : len(s)-1])
		}
		if s != "" && (s[0] == '-' || s[0] == '+') {
			neg = neg || s[0] == '-'
			s = strings.TrimSpace(s[1:])
		}
		if n := len(s); n > 1 && (s[n-1] == '-' || s[n-1] == '+') {
			neg = neg || s[n-1] == '-'
			s = strings.TrimSpace(s[:n-1])
		}
	}
	sign()
	code := ""
	var cut string
	if s, cut = cutCurrency(s); cut != "" {
		code = cut
		sign()
	}
	if code == "" || code == "?" {
		var c2 string
		if s, c2 = cutCurrency(s); c2 != "" {
			code = c2
			sign()
		}
	}
	if code == "?" {
		code = ""
	}
	if s == "" {
		return 0, "", fmt.Errorf("%w: %s is empty", ErrBadAmount, quoted(orig))
	}
	decSep, groupSeps := byte('.'), ",'"
	if decimalComma {
		decSep, groupSeps = ',', ". '\u00a0\u202f"
	}
	intPart, fracPart := s, ""
	if i := strings.IndexByte(s, decSep); i >= 0 {
		intPart, fracPart = s[:i], s[i+1:]
		if strings.IndexByte(fracPart, decSep) >= 0 {
			return 0, "", fmt.Errorf("%w: %s has two decimal separators", ErrBadAmount, quoted(orig))
		}
	}
	digits, err := ungroup(intPart, groupSeps)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s: %v%s", ErrBadAmount, quoted(orig), err, commaHint(s, decimalComma))
	}
	if digits == "" && fracPart == "" {
		return 0, "", fmt.Errorf("%w: %s has no digits", ErrBadAmount, quoted(orig))
	}
	if len(fracPart) > AmountScale {
		return 0, "", fmt.Errorf("%w: %s has more than %d decimals", ErrBadAmount, quoted(orig), AmountScale)
	}
	var v int64
	for i := 0; i < len(digits); i++ {
		if v > (math.MaxInt64/AmountUnit-9)/10 {
			return 0, "", fmt.Errorf("%w: %s is too large", ErrBadAmount, quoted(orig))
		}
		v = v*10 + int64(digits[i]-'0')
	}
	v *= AmountUnit
	scale := int64(AmountUnit / 10)
	for i := 0; i < len(fracPart); i++ {
		c := fracPart[i]
		if c < '0' || c > '9' {
			return 0, "", fmt.Errorf("%w: %s has a stray %q%s", ErrBadAmount, quoted(orig), c, commaHint(s, decimalComma))
		}
		v += int64(c-'0') * scale
		scale /= 10
	}
	if neg {
		v = -v
	}
	return v, code, nil
}

// cutCurrency removes a currency symbol or a three-letter ISO code from
// either end of s. The code is the ISO code it names, "?" for a symbol of
// several currencies ($, ¥, kr), or "" when s has none.
func cutCurrency(s string) (string, string) {
	for _, c := range currencySymbols {
		if strings.HasPrefix(s, c.sym) {
			return strings.TrimSpace(s[len(c.sym):]), cmp.Or(c.code, "?")
		}
		if strings.HasSuffix(s, c.sym) {
			return strings.TrimSpace(s[:len(s)-len(c.sym)]), cmp.Or(c.code, "?")
		}
	}
	isCode := func(t string) bool {
		return len(t) == 3 && t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z' && t[2] >= 'A' && t[2] <= 'Z'
	}
	if len(s) > 3 && isCode(s[:3]) {
		return strings.TrimSpace(s[3:]), s[:3]
	}
	if n := len(s); n > 3 && isCode(s[n-3:]) {
		return strings.TrimSpace(s[:n-3]), s[n-3:]
	}
	return s, ""
}

// commaHint suggests --decimal-comma for an amount that reads as one.
func commaHint(s string, decimalComma bool) string {
	if decimalComma {
		return ""
	}
	if i := strings.LastIndexByte(s, ','); i >= 0 && len(s)-i-1 >= 1 && len(s)-i-1 <= 2 {
		return " (pass --decimal-comma for amounts written 1.234,56)"
	}
	return ""
}

// quoted is %q of an amount as written, shortened when it is long.
func quoted(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q… (%d bytes)", s[:64], len(s))
	}
	return strconv.Quote(s)
}

// ParsePlainAmount reads the common case, an optional '-' and at most 12
// digits with an optional decimal separator and at most AmountScale
// decimals, without the general path's trimming and symbol search. Anything
// else (ok false) goes the general way, which also words the errors.
func ParsePlainAmount(s string, decimalComma bool) (v int64, ok bool) {
	decSep := byte('.')
	if decimalComma {
		decSep = ','
	}
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 12+1+AmountScale {
		return 0, false
	}
	i, intDigits := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + int64(s[i]-'0')
		intDigits++
	}
	if intDigits > 12 {
		return 0, false
	}
	v *= AmountUnit
	if i < len(s) {
		if s[i] != decSep {
			return 0, false
		}
		frac := s[i+1:]
		if len(frac) > AmountScale || (intDigits == 0 && len(frac) == 0) {
			return 0, false
		}
		scale := int64(AmountUnit / 10)
		for j := 0; j < len(frac); j++ {
			c := frac[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v += int64(c-'0') * scale
			scale /= 10
		}
	} else if intDigits == 0 {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// ungroup checks the integer part of an amount and removes its thousands
// separators, which must group digits by three ("1,234,567").
func ungroup(s, seps string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("invalid text")
	}
	sepAt := strings.IndexAny(s, seps)
	if sepAt < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return "", fmt.Errorf("stray %q", s[i])
			}
		}
		return s, nil
	}
	sep, _ := utf8.DecodeRuneInString(s[sepAt:])
	groups := strings.Split(s, string(sep))
	var b strings.Builder
	for i, g := range groups {
		if (i == 0 && (len(g) < 1 || len(g) > 3)) || (i > 0 && len(g) != 3) {
			return "", fmt.Errorf("thousands separator %q does not group by three", sep)
		}
		for j := 0; j < len(g); j++ {
			if g[j] < '0' || g[j] > '9' {
				return "", fmt.Errorf("stray %q", g[j])
			}
		}
		b.WriteString(g)
	}
	return b.String(), nil
}

// FormatAmount renders millionths of a currency unit with the given number
// of decimals (2 for most currencies), rounding half away from zero.
func FormatAmount(micros int64, decimals int) string {
	return string(AppendAmount(nil, micros, decimals))
}

// AppendAmount appends FormatAmount's text to dst.
func AppendAmount(dst []byte, micros int64, decimals int) []byte {
	neg := micros < 0
	u := uint64(micros)
	if neg {
		u = uint64(-micros)
	}
	div := uint64(1)
	for i := decimals; i < AmountScale; i++ {
		div *= 10
	}
	q := (u + div/2) / div
	if neg && q != 0 {
		dst = append(dst, '-')
	}
	return AppendScaled(dst, q, decimals)
}

// AppendScaled appends q / 10^decimals with exactly decimals decimals
// (q ≥ 0; the caller writes any sign).
func AppendScaled(dst []byte, q uint64, decimals int) []byte {
	pow := uint64(1)
	for i := 0; i < decimals; i++ {
		pow *= 10
	}
	dst = strconv.AppendUint(dst, q/pow, 10)
	if decimals > 0 {
		dst = append(dst, '.')
		frac := q % pow
		for p := pow / 10; p > 0; p /= 10 {
			dst = append(dst, byte('0'+frac/p%10))
		}
	}
	return dst
}

// CurrencyDecimals returns the number of minor-unit digits of an ISO 4217
// currency code: 0 for JPY, KRW and the other currencies Stripe treats as
// zero-decimal, 3 for the dinars, else 2.
func CurrencyDecimals(code string) int {
	switch strings.ToUpper(code) {
	case "JPY", "KRW", "CLP", "ISK", "VND", "XAF", "XOF", "XPF", "PYG", "UGX", "BIF", "DJF", "GNF", "KMF", "MGA", "RWF", "VUV":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD":
		return 3
	}
	return 2
}
