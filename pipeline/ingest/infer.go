package ingest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// What the ingest decides about a file from its first chunk (2 MB): the
// form its times are written in and whether its amounts have a decimal
// comma. A later row that contradicts the decision is quarantined with a
// detail that names the flag; it is never read the other way.

// sampleRows bounds the rows of the first chunk looked at.
const sampleRows = 20000

// sampleColumns returns the non-empty values of the given columns (index
// -1: none) in the first rows of the first chunk.
func sampleColumns(split splitter, first []byte, cols ...int) [][]string {
	out := make([][]string, len(cols))
	if split == nil || len(first) == 0 {
		return out
	}
	recs := split.split(first, 1, nil)
	if len(recs) > sampleRows {
		recs = recs[:sampleRows]
	}
	for _, rec := range recs {
		if rec.err != nil {
			continue
		}
		for j, c := range cols {
			if c >= 0 && c < len(rec.fields) {
				if v := strings.TrimSpace(rec.fields[c]); v != "" {
					out[j] = append(out[j], v)
				}
			}
		}
	}
	return out
}

// hasSlashed reports whether some of the values are d/m/y or m/d/y dates,
// the only case worth a second pass over the file.
func hasSlashed(values []string) bool {
	for _, v := range values {
		if looksSlashed(v) {
			return true
		}
	}
	return false
}

// inferDecimalComma says whether amounts are written with a decimal comma:
// some value can only be read so ("61,56", "1.234,5", "12,00 €") and none
// can only be read with a decimal point ("61.56", "1,234.5"). Values like
// "1,234" read both ways and decide nothing. example is a deciding value.
func inferDecimalComma(values []string) (comma bool, example string) {
	for _, v := range values {
		switch decimalMark(v) {
		case ',':
			if example == "" {
				example = v
			}
		case '.':
			return false, ""
		}
	}
	return example != "", example
}

// decimalMark is ',' or '.' when an amount can only be read with that
// decimal separator, or 0.
func decimalMark(v string) byte {
	// Keep the number: digits and separators.
	n := strings.TrimFunc(v, func(r rune) bool { return !(r >= '0' && r <= '9') })
	if n == "" || strings.ContainsAny(n, "eE") {
		return 0
	}
	lastComma, lastDot := strings.LastIndexByte(n, ','), strings.LastIndexByte(n, '.')
	switch {
	case lastComma >= 0 && lastDot >= 0:
		// Both: the one that comes last is the decimal separator.
		if lastComma > lastDot {
			return ','
		}
		return '.'
	case lastComma >= 0:
		if strings.Count(n, ",") > 1 || len(n)-lastComma-1 == 3 {
			return 0 // grouping ("1,234,567") or either ("1,234")
		}
		return ','
	case lastDot >= 0:
		if strings.Count(n, ".") > 1 || len(n)-lastDot-1 == 3 {
			return 0
		}
		return '.'
	}
	return 0
}

// utf8Sequences counts the multi-byte UTF-8 sequences of b and the bytes
// above 0x7F that are in none. A sequence cut at the end of b is neither.
func utf8Sequences(b []byte) (valid, broken int) {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r != utf8.RuneError || size > 1:
			valid++
		case !utf8.FullRune(b[i:]):
			return valid, broken
		default:
			broken++
		}
		i += size
	}
	return valid, broken
}

// mostLinesBroken reports whether most lines of b after the first (the
// header) have bytes that are in no UTF-8 sequence, and none has a
// multi-byte one.
func mostLinesBroken(b []byte) bool {
	if v, _ := utf8Sequences(b); v > 0 {
		return false
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	lines, broken := 0, 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		lines++
		if _, bad := utf8Sequences(line); bad > 0 {
			broken++
		}
	}
	return broken*2 > lines
}

// noUTF8Text reports whether a text file has no multi-byte UTF-8 sequence
// at all: its bytes above 0x7F are then characters of a one-byte encoding.
func noUTF8Text(src *sourceFile) (bool, error) {
	f, err := os.Open(src.path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, err := maybeGunzip(f, src.gz)
	if err != nil {
		return false, err
	}
	buf := make([]byte, 1<<20)
	var carry int
	for {
		n, err := io.ReadFull(r, buf[carry:])
		n += carry
		chunk := buf[:n]
		// Keep an incomplete sequence at the end for the next read.
		cut := n
		for k := 1; k <= 3 && k <= n; k++ {
			if c := chunk[n-k]; c >= 0xC0 {
				if !utf8.FullRune(chunk[n-k:]) {
					cut = n - k
				}
				break
			}
		}
		if valid, _ := utf8Sequences(chunk[:cut]); valid > 0 {
			return false, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		carry = copy(buf, chunk[cut:])
	}
}

// warnOverlaps warns when a file without order ids covers the same time as
// another one, in this ingest or committed before: two overlapping exports
// of one shop would count the common orders twice.
func (in *ingest) warnOverlaps(manifest []warehouse.ManifestEntry, files []FileSummary) {
	type span struct{ source, from, to string }
	var seen []span
	for _, e := range manifest {
		if e.DerivedIDs && e.MinTime != "" {
			seen = append(seen, span{e.Source, e.MinTime, e.MaxTime})
		}
	}
	for _, f := range files {
		if f.Skipped || !f.DerivedIDs || f.MinTime == "" {
			continue
		}
		if opt := in.opt.sourceFor(f.Source); opt.Dedupe == "content" {
			continue
		}
		for _, s := range seen {
			if f.MinTime <= s.to && s.from <= f.MaxTime {
				in.log.Warn("two files without order ids overlap in time: if they are overlapping exports, their common orders are counted twice (re-ingest with --dedupe content to key rows by customer, time and amount)",
					"file", f.Source, "other", s.source, "from", max(f.MinTime, s.from), "to", min(f.MaxTime, s.to))
				break
			}
		}
		seen = append(seen, span{f.Source, f.MinTime, f.MaxTime})
	}
}

// warnExcluded says once per reason how many rows were not purchases.
func (in *ingest) warnExcluded(files []FileSummary) {
	by := map[string]int64{}
	for _, f := range files {
		for k, v := range f.ExcludedBy {
			by[k] += v
		}
	}
	if n := by["guest_customer"]; n > 0 {
		in.log.Warn(fmt.Sprintf("%d orders of guest customers (a placeholder customer id such as 0, guest or an empty e-mail) are excluded; pass --guest-col to key them by another column", n))
	}
	if n := by["cancelled_order"]; n > 0 {
		in.log.Info(fmt.Sprintf("%d cancelled, voided or failed orders are excluded (not purchases)", n))
	}
}

// rfc3339 formats microseconds as an RFC 3339 UTC time.
func rfc3339(us int64) string { return time.UnixMicro(us).UTC().Format(time.RFC3339) }
