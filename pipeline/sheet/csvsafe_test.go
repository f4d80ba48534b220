package sheet

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"testing"
)

// TestSafeCSVMatchesEncodingCSV: SafeCSVWriter writes the bytes
// encoding/csv writes for the neutralised cells, on edge cases and random
// cells of the characters that matter.
func TestSafeCSVMatchesEncodingCSV(t *testing.T) {
	cells := []string{"", "a", "=1+1", "-3.50", "+1", "-", "@x", "\t1", "\rx", "a,b", `say "hi"`, "line\nbreak", "cr\rx",
		`\.`, " lead", "\u00a0nbsp", "é", "=a,b", "=\"q\"", "'", "1.2.3", "-1e5", "\u2028x"}
	rng := rand.New(rand.NewPCG(1, 1))
	alphabet := []string{"a", "1", ",", "\"", "\n", "\r", " ", "\t", "=", "-", "+", "@", ".", "\\", "é", "\u3000"}
	for range 5000 {
		var b []byte
		for range rng.IntN(6) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		cells = append(cells, string(b))
	}
	for i := 0; i+3 <= len(cells); i++ {
		rec := cells[i : i+3]
		var want, got bytes.Buffer
		cw := csv.NewWriter(&want)
		neutral := make([]string, len(rec))
		for j, c := range rec {
			neutral[j] = NeutraliseCell(c)
		}
		cw.Write(neutral)
		cw.Flush()
		sw := NewSafeCSVWriter(&got)
		sw.Write(rec)
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		if want.String() != got.String() {
			t.Fatalf("record %q: SafeCSVWriter wrote %q, encoding/csv %q", rec, got.String(), want.String())
		}
	}
}
