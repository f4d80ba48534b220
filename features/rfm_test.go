package features

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
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
	vals := []int64{5, 1, 1, 1, 3, 9, 9, 2, 7, 8}
	q := quintilesOf(slices.Clone(vals))
	got := make([]int, len(vals))
	for i, v := range vals {
		got[i] = q.score(v)
	}
	// Sorted: 1 1 1 2 3 5 7 8 9 9 → below counts 0 0 0 3 4 5 6 7 8 8.
	want := []int{3, 1, 1, 1, 3, 5, 5, 2, 4, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("scores = %v, want %v", got, want)
		}
	}
}

// TestMergeEqualsOnePass: aggregates of disjoint customers built apart and
// merged give the rows of one aggregate over everything (the property
// sharding relies on); a customer in both is refused.
func TestMergeEqualsOnePass(t *testing.T) {
	opt := Options{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), HoldoutEnd: time.Date(2024, 9, 30, 0, 0, 0, 0, time.UTC), Tracking: true}
	txs := randomTransactions(20000, 3000)
	one := NewAccumulator(opt)
	a, b := NewAccumulator(opt), NewAccumulator(opt)
	for _, tx := range txs {
		part := b
		if hashID(tx.CustomerID)%3 == 0 {
			part = a
		}
		if err := one.Add(tx); err != nil {
			t.Fatal(err)
		}
		if err := part.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	r1, err1 := one.Finish()
	r2, err2 := a.Finish()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !reflect.DeepEqual(r1.Customers, r2.Customers) || r1.RowsAfterWindow != r2.RowsAfterWindow || !reflect.DeepEqual(r1.Tracking, r2.Tracking) {
		t.Fatal("merged aggregate differs from the one-pass aggregate")
	}
	if len(r1.Customers) < 2900 {
		t.Fatalf("only %d customers", len(r1.Customers))
	}
	c, d := NewAccumulator(opt), NewAccumulator(opt)
	c.Add(txs[0])
	d.Add(txs[0])
	if err := c.Merge(d); !errors.Is(err, ErrOrder) || !strings.Contains(err.Error(), txs[0].CustomerID) {
		t.Fatalf("merging a shared customer: err = %v", err)
	}
}

// randomTransactions are n purchases and refunds of the given number of
// customers over 640 days from 2023-01-01, sorted by time (as the warehouse
// scan delivers them month by month), with stores and categories.
func randomTransactions(n, customers int) []Transaction {
	rng := rand.New(rand.NewPCG(1, 2))
	var txs []Transaction
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := 0; i < n; i++ {
		amt := int64(rng.IntN(10000)) * 10_000
		if rng.IntN(20) == 0 {
			amt = -amt
		}
		txs = append(txs, Transaction{
			CustomerID: fmt.Sprintf("c%d", rng.IntN(customers)), TimeMicros: start + rng.Int64N(640*86_400_000_000),
			AmountMicros: amt, Currency: "EUR", Store: fmt.Sprintf("s%d", rng.IntN(4)), Category: fmt.Sprintf("k%d", rng.IntN(6)),
		})
	}
	slices.SortFunc(txs, func(a, b Transaction) int { return cmp.Compare(a.TimeMicros, b.TimeMicros) })
	return txs
}

// TestMonthOrder: within a month any order is fine; a purchase of an
// earlier month after a later one is an error naming the customer, never a
// wrong row.
func TestMonthOrder(t *testing.T) {
	opt := Options{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)}
	at := func(s string) int64 { v, _ := time.Parse(time.RFC3339, s); return v.UnixMicro() }
	a := NewAccumulator(opt)
	for _, ts := range []string{"2024-03-20T10:00:00Z", "2024-03-02T10:00:00Z", "2024-03-20T23:00:00Z", "2024-04-01T00:00:00Z"} {
		if err := a.Add(Transaction{CustomerID: "x", TimeMicros: at(ts), AmountMicros: 1_000_000, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	// A refund of any month is order-free: it has no purchase day.
	if err := a.Add(Transaction{CustomerID: "x", TimeMicros: at("2024-01-05T00:00:00Z"), AmountMicros: -1, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	err := a.Add(Transaction{CustomerID: "x", TimeMicros: at("2024-03-31T23:59:59Z"), AmountMicros: 1, Currency: "EUR"})
	if !errors.Is(err, ErrOrder) || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("out-of-order purchase: err = %v", err)
	}
	res, err := a.Finish()
	if err != nil {
		t.Fatal(err)
	}
	c := res.Customers[0]
	// Days 03-02, 03-20, 04-01: gaps 18 and 12.
	if c.Frequency != 2 || c.GapMeanDays != 15 || c.GapStdDays != 3 || c.Orders != 4 || c.Refunds != 1 {
		t.Fatalf("row = %+v", c)
	}
	// Finishing frees the id lookups: the accumulator takes nothing more.
	if err := a.Add(Transaction{CustomerID: "x", TimeMicros: at("2024-05-01T00:00:00Z"), AmountMicros: 1, Currency: "EUR"}); err == nil {
		t.Fatal("a transaction was added to a finished accumulator")
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

// TestDaySpanningTwoMonths: in New York, the local day of 31 January runs
// into UTC February, so its purchases come in two months of the scan; they
// are still one purchase day, before and after the as-of date.
func TestDaySpanningTwoMonths(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	opt := Options{AsOf: time.Date(2024, 1, 15, 0, 0, 0, 0, time.UTC), HoldoutEnd: time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC), Location: ny}
	at := func(s string) int64 { v, _ := time.Parse(time.RFC3339, s); return v.UnixMicro() }
	a := NewAccumulator(opt)
	for _, ts := range []string{
		"2023-12-31T10:00:00-05:00", "2023-12-31T22:00:00-05:00", // one day, in UTC December and January
		"2024-01-10T12:00:00-05:00",
		"2024-01-31T10:00:00-05:00", "2024-01-31T20:00:00-05:00", // one holdout day, UTC January and February
		"2024-02-29T23:30:00-05:00", "2024-03-01T00:30:00-05:00", // two holdout days, both in UTC March
	} {
		if err := a.Add(Transaction{CustomerID: "x", TimeMicros: at(ts), AmountMicros: 1_000_000, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.Finish()
	if err != nil {
		t.Fatal(err)
	}
	c := res.Customers[0]
	if c.Orders != 3 || c.Frequency != 1 || c.Recency != 10.0/7 || c.MonetaryValue != 1 || c.HoldoutOrders != 4 || c.HoldoutDays != 3 || c.HoldoutFirst != 16 {
		t.Fatalf("row = %+v", c)
	}
}

// TestRowsInIDOrder: rows come out in strings.Compare order of their ids,
// merged from the shards, including ids that share their first 16 bytes,
// differ only in length, hold bytes above 0x7f or a zero byte.
func TestRowsInIDOrder(t *testing.T) {
	// Small parts go to goroutines too, so that path is taken here.
	defer func(n int) { parallelSort = n }(parallelSort)
	parallelSort = 64
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 'A', 'B', 'z', 0xc3, 0xff}
	a := NewAccumulator(Options{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)})
	seen := map[string]bool{}
	var want []string
	for i := 0; i < 60_001; i++ {
		id := []byte("customer-0000000")[:rng.IntN(17)]
		for k := rng.IntN(6); k > 0; k-- {
			id = append(id, alphabet[rng.IntN(len(alphabet))])
		}
		if len(id) == 0 || seen[string(id)] {
			continue
		}
		seen[string(id)] = true
		want = append(want, string(id))
		if err := a.Add(Transaction{CustomerID: string(id), TimeMicros: 1_700_000_000_000_000, AmountMicros: 1, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	res, err := a.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Customers) != len(want) || res.Count != len(want) {
		t.Fatalf("%d rows (count %d), want %d", len(res.Customers), res.Count, len(want))
	}
	for i, r := range res.Customers {
		if r.CustomerID != want[i] {
			t.Fatalf("row %d: id %q, want %q", i, r.CustomerID, want[i])
		}
	}
}

// TestSortInt64s: the counting and radix sorts behind the quintiles give
// slices.Sort's order, for narrow and wide spans, negatives and extremes.
func TestSortInt64s(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := map[string]func() int64{
		"days":    func() int64 { return -rng.Int64N(700) },
		"orders":  func() int64 { return 1 + rng.Int64N(40) },
		"spend":   func() int64 { return rng.Int64N(5_000_000_000) / 10_000 * 10_000 },
		"signed":  func() int64 { return rng.Int64N(1<<40) - 1<<39 },
		"extreme": func() int64 { return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[rng.IntN(5)] },
		"any":     func() int64 { return int64(rng.Uint64()) },
	}
	for name, gen := range cases {
		for _, n := range []int{0, 1, 100, 5000, 100_000} {
			vals := make([]int64, n)
			for i := range vals {
				vals[i] = gen()
			}
			want := slices.Clone(vals)
			slices.Sort(want)
			sortInt64s(vals)
			if !slices.Equal(vals, want) {
				t.Fatalf("%s, %d values: not sorted", name, n)
			}
		}
	}
}

// TestExpectedCustomersIsOnlyAHint: tables sized for far too few or far too
// many customers give the same rows as tables grown from nothing.
func TestExpectedCustomersIsOnlyAHint(t *testing.T) {
	txs := randomTransactions(20000, 5000)
	var want []Customer
	for _, hint := range []int{0, 1, 64 * 200, 1 << 20} {
		acc := NewAccumulator(Options{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), ExpectedCustomers: hint})
		for _, tx := range txs {
			if err := acc.Add(tx); err != nil {
				t.Fatal(err)
			}
		}
		res, err := acc.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = res.Customers
			continue
		}
		if !reflect.DeepEqual(res.Customers, want) {
			t.Fatalf("ExpectedCustomers %d changes the rows", hint)
		}
	}
}

// TestMonthOfDayAndMonthStart checks the calendar arithmetic against the time
// package over ±100,000 years, month boundaries and leap days included.
func TestMonthOfDayAndMonthStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 200_000; i++ {
		day := int32(rng.Int64N(2*36_500_000) - 36_500_000)
		y, m, _ := time.Unix(int64(day)*86400, 0).UTC().Date()
		want := int32(y)*12 + int32(m) - 1
		if got := MonthOfDay(day); got != want {
			t.Fatalf("MonthOfDay(%d) = %d, want %d", day, got, want)
		}
		if start := MonthStart(want); start > day || MonthStart(want+1) <= day || MonthOfDay(start) != want || MonthOfDay(start-1) != want-1 {
			t.Fatalf("MonthStart(%d) = %d does not bound day %d", want, start, day)
		}
	}
}

// TestAggregateSize: the per-customer aggregate stays at 136 bytes (the
// features' memory is 136 bytes a customer plus the id table); the rarer
// parts live beside it.
func TestAggregateSize(t *testing.T) {
	if n := unsafe.Sizeof(customerAcc{}); n != 136 {
		t.Errorf("customerAcc is %d bytes, want 136", n)
	}
}
