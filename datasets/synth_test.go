package datasets

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
)

// TestSynthDeterministicAndTruthful: the same seed writes the same bytes, and
// the truth file's purchase counts add up to the purchase rows of the export.
func TestSynthDeterministicAndTruthful(t *testing.T) {
	opt := SynthOptions{Customers: 500, Seed: 3, RefundRate: 0.05, Dirty: 0.02}
	var tx1, tr1, d1, tx2, tr2, d2 bytes.Buffer
	if err := Synth(opt, &tx1, &tr1, &d1); err != nil {
		t.Fatal(err)
	}
	if err := Synth(opt, &tx2, &tr2, &d2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tx1.Bytes(), tx2.Bytes()) || !bytes.Equal(tr1.Bytes(), tr2.Bytes()) || !bytes.Equal(d1.Bytes(), d2.Bytes()) {
		t.Fatal("the same seed wrote different bytes")
	}
	truth, err := csv.NewReader(&tr1).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range truth[1:] {
		for _, v := range r[8:] {
			n, _ := strconv.Atoi(v)
			want += n
		}
	}
	dirty, _ := csv.NewReader(&d1).ReadAll()
	lines := strings.Split(strings.TrimSpace(tx1.String()), "\n")[1:]
	purchases, refunds := 0, 0
	for _, l := range lines {
		f := strings.Split(l, ",")
		if len(f) == 5 && strings.HasPrefix(f[1], "o") && strings.HasPrefix(f[0], "c") && !strings.ContainsAny(l, "\"\xff") && f[2] != "not-a-date" && f[3] != "12.3.4" {
			purchases++
		}
		if len(f) == 5 && strings.HasPrefix(f[1], "r") {
			refunds++
		}
	}
	// Duplicate-order dirty rows look like purchases: take them off.
	dups := 0
	for _, r := range dirty[1:] {
		if r[1] == "duplicate_order_id" {
			dups++
		}
	}
	if purchases-dups != want || refunds == 0 || len(dirty) < 8 {
		t.Fatalf("export has %d purchase rows (%d duplicates), truth counts %d; refunds %d; dirty %d", purchases, dups, want, refunds, len(dirty)-1)
	}
}
