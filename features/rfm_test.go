package features

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDefaultSegmentTableGolden pins the segment of every (r, f, m).
func TestDefaultSegmentTableGolden(t *testing.T) {
	table := DefaultSegments()
	var b strings.Builder
	b.WriteString("r,f,m,segment\n")
	seen := map[string]bool{}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				s := table.Segment(r, f, m)
				seen[s] = true
				fmt.Fprintf(&b, "%d,%d,%d,%s\n", r, f, m, s)
			}
		}
	}
	golden := filepath.Join("testdata", "segments.golden.csv")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("segment table differs from %s; rerun with -update and review the diff", golden)
	}
	for _, name := range []string{Champions, LoyalCustomers, PotentialLoyalist, NewCustomers, Promising, NeedAttention, AboutToSleep, AtRisk, CantLoseThem, Hibernating, Lost} {
		if !seen[name] {
			t.Errorf("segment %q is unreachable", name)
		}
	}
}

func TestIncompleteSegmentTableIsAnError(t *testing.T) {
	_, err := NewSegmentTable([]SegmentRule{{Name: "Top", R: [2]int{4, 5}}})
	if err == nil || !strings.Contains(err.Error(), "no rule matches") {
		t.Fatalf("err = %v", err)
	}
}

func TestQuintileScoresTiesAndOrder(t *testing.T) {
	vals := []float64{5, 1, 1, 1, 3, 9, 9, 2, 7, 8}
	got := quintileScores(vals)
	// Sorted: 1 1 1 2 3 5 7 8 9 9 → below counts 0 0 0 3 4 5 6 7 8 8.
	want := []int{3, 1, 1, 1, 3, 5, 5, 2, 4, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("scores = %v, want %v", got, want)
		}
	}
}

// TestMergeEqualsOnePass: aggregates built apart and merged give the rows of
// one aggregate over everything (the property sharding relies on).
func TestMergeEqualsOnePass(t *testing.T) {
	opt := Options{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), HoldoutEnd: time.Date(2024, 9, 30, 0, 0, 0, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(1, 2))
	var txs []Transaction
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := 0; i < 20000; i++ {
		amt := int64(rng.IntN(10000)) * 10_000
		if rng.IntN(20) == 0 {
			amt = -amt
		}
		txs = append(txs, Transaction{
			CustomerID: fmt.Sprintf("c%d", rng.IntN(3000)), TimeMicros: start + rng.Int64N(640*86_400_000_000),
			AmountMicros: amt, Currency: "EUR", Store: fmt.Sprintf("s%d", rng.IntN(4)), Category: fmt.Sprintf("k%d", rng.IntN(6)),
		})
	}
	one := NewAccumulator(opt)
	a, b := NewAccumulator(opt), NewAccumulator(opt)
	for i, tx := range txs {
		one.Add(tx)
		if i%3 == 0 {
			a.Add(tx)
		} else {
			b.Add(tx)
		}
	}
	a.Merge(b)
	r1, err1 := one.Finish()
	r2, err2 := a.Finish()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !reflect.DeepEqual(r1.Customers, r2.Customers) || r1.RowsAfterWindow != r2.RowsAfterWindow {
		t.Fatal("merged aggregate differs from the one-pass aggregate")
	}
	if len(r1.Customers) < 2900 {
		t.Fatalf("only %d customers", len(r1.Customers))
	}
}

func TestConvertExact(t *testing.T) {
	for _, c := range []struct{ amount, rate, want int64 }{
		{10_000_000, 900_000, 9_000_000},
		{-10_000_000, 900_000, -9_000_000},
		{9_000_000_000_000_123, 1_000_000, 9_000_000_000_000_123}, // beyond float64's 2^53: exact
		{1, 500_000, 1}, // 0.5 micro rounds away from zero
		{-1, 500_000, -1},
	} {
		if got, ok := convert(c.amount, c.rate); !ok || got != c.want {
			t.Errorf("convert(%d, %d) = %d, %v; want %d", c.amount, c.rate, got, ok, c.want)
		}
	}
	if _, ok := convert(9_000_000_000_000_000_000, 2_000_000); ok {
		t.Error("an overflowing conversion was accepted")
	}
}

// TestSortByID: rows come out in strings.Compare order of their ids,
// including ids that share their first 16 bytes, differ only in length,
// hold bytes above 0x7f or a zero byte.
func TestSortByID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 'A', 'B', 'z', 0xc3, 0xff}
	rows := make([]Customer, 20_001)
	for i := range rows {
		id := []byte("customer-0000000")[:rng.IntN(17)]
		for k := rng.IntN(6); k > 0; k-- {
			id = append(id, alphabet[rng.IntN(len(alphabet))])
		}
		rows[i].CustomerID = string(id)
		rows[i].Orders = int64(i)
	}
	want := make([]string, len(rows))
	for i, r := range rows {
		want[i] = r.CustomerID
	}
	slices.Sort(want)
	sortByID(rows)
	seen := map[int64]bool{}
	for i, r := range rows {
		if r.CustomerID != want[i] {
			t.Fatalf("row %d: id %q, want %q", i, r.CustomerID, want[i])
		}
		seen[r.Orders] = true
	}
	if len(seen) != len(rows) {
		t.Errorf("%d distinct rows after the sort, want %d", len(seen), len(rows))
	}
}
