package pipeline_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// TestCDNOWSummaryExact: frequency, recency and T of all 2,357 customers of
// the CDNOW sample at 1997-09-30 equal the published summary to its 2 decimals.
func TestCDNOWSummaryExact(t *testing.T) {
	res, err := night.ComputeFeatures(context.Background(), cdnowWarehouse(t), night.FeaturesOptions{AsOf: date("1997-09-30")})
	if err != nil {
		t.Fatal(err)
	}
	// sample id → master id, from the sample file itself.
	sample, _ := datasets.CDNOW(datasets.CDNOWSample)
	masterOf := map[string]string{}
	for _, line := range strings.Split(string(sample), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 {
			n, _ := strconv.Atoi(f[1])
			masterOf[strconv.Itoa(n)] = f[0]
		}
	}
	byID := map[string]features.Customer{}
	for _, c := range res.Customers {
		byID[c.CustomerID] = c
	}
	summary, _ := datasets.CDNOW(datasets.CDNOWSummary)
	recs, err := csv.NewReader(bytes.NewReader(summary)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Customers) != 2357 || len(recs)-1 != 2357 {
		t.Fatalf("%d customers, summary has %d", len(res.Customers), len(recs)-1)
	}
	for _, r := range recs[1:] {
		c, ok := byID[masterOf[r[0]]]
		if !ok {
			t.Fatalf("sample customer %s missing", r[0])
		}
		x, _ := strconv.ParseInt(r[1], 10, 64)
		tx, _ := strconv.ParseFloat(r[2], 64)
		T, _ := strconv.ParseFloat(r[3], 64)
		if int64(c.Frequency) != x || math.Abs(c.Recency-tx) > 0.005+1e-9 || math.Abs(c.T-T) > 0.005+1e-9 {
			t.Fatalf("customer %s: got x=%d t_x=%.4f T=%.4f; published %s", r[0], c.Frequency, c.Recency, c.T, strings.Join(r[1:], ","))
		}
	}
}

func date(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}

// naiveTx is a transaction as the independent computation reads it.
type naiveTx struct {
	cust   string
	at     time.Time
	amount *big.Rat
}

// naiveFeatures computes the features the slow, obvious way: sort each
// customer's transactions by time, then scan, with exact rationals.
func naiveFeatures(txs []naiveTx, asOf, holdoutEnd time.Time, loc *time.Location) map[string]features.Customer {
	byCust := map[string][]naiveTx{}
	for _, t := range txs {
		byCust[t.cust] = append(byCust[t.cust], t)
	}
	dayOf := func(t time.Time) int {
		y, m, d := t.In(loc).Date()
		return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	}
	D := int(asOf.Unix() / 86400)
	E := int(holdoutEnd.Unix() / 86400)
	micros := func(r *big.Rat) int64 {
		v := new(big.Rat).Mul(r, big.NewRat(1_000_000, 1))
		return v.Num().Int64() / v.Denom().Int64()
	}
	out := map[string]features.Customer{}
	for id, list := range byCust {
		sort.SliceStable(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
		var c features.Customer
		c.CustomerID = id
		daySpend := map[int]*big.Rat{}
		var days []int
		spend, refundAmt := new(big.Rat), new(big.Rat)
		s30, s90, s365, sPrev := new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)
		hold := new(big.Rat)
		holdoutDays := map[int]bool{}
		for _, t := range list {
			d := dayOf(t.at)
			if d > E {
				continue
			}
			if t.amount.Sign() < 0 {
				if d <= D {
					c.Refunds++
					refundAmt.Sub(refundAmt, t.amount)
				}
				continue
			}
			if d > D {
				c.HoldoutOrders++
				hold.Add(hold, t.amount)
				if !holdoutDays[d] {
					holdoutDays[d] = true
					c.HoldoutDays++
					if c.HoldoutFirst == 0 {
						c.HoldoutFirst = int32(d - D) // the list is in time order
					}
				}
				continue
			}
			if c.Orders == 0 {
				c.FirstPurchaseMicros = t.at.UnixMicro()
			}
			c.LastPurchaseMicros = t.at.UnixMicro()
			c.Orders++
			spend.Add(spend, t.amount)
			if daySpend[d] == nil {
				daySpend[d] = new(big.Rat)
				days = append(days, d)
			}
			daySpend[d].Add(daySpend[d], t.amount)
			age := D - d
			if age < 30 {
				c.Orders30++
				s30.Add(s30, t.amount)
			}
			if age < 90 {
				c.Orders90++
				s90.Add(s90, t.amount)
			} else if age < 180 {
				sPrev.Add(sPrev, t.amount)
			}
			if age < 365 {
				c.Orders365++
				s365.Add(s365, t.amount)
			}
		}
		if c.Orders == 0 {
			continue
		}
		sort.Ints(days)
		c.Frequency = int32(len(days) - 1)
		c.Recency = float64(days[len(days)-1]-days[0]) / 7
		c.T = float64(D-days[0]) / 7
		c.TotalSpendMicros = micros(spend)
		c.RefundAmountMicros = micros(refundAmt)
		c.NetSpendMicros = c.TotalSpendMicros - c.RefundAmountMicros
		c.Spend30Micros, c.Spend90Micros, c.Spend365Micros = micros(s30), micros(s90), micros(s365)
		c.SpendTrendMicros = micros(s90) - micros(sPrev)
		c.HoldoutSpendMicros = micros(hold)
		c.DaysSinceLast = int32(D - days[len(days)-1])
		c.TenureDays = int32(D - days[0])
		avg, _ := new(big.Rat).Quo(spend, big.NewRat(int64(c.Orders), 1)).Float64()
		c.MonetaryAvg = avg
		if c.Frequency > 0 {
			repeat := new(big.Rat)
			for _, d := range days[1:] {
				repeat.Add(repeat, daySpend[d])
			}
			mv, _ := repeat.Quo(repeat, big.NewRat(int64(c.Frequency), 1)).Float64()
			c.MonetaryValue = mv
			var gaps []float64
			for i := 1; i < len(days); i++ {
				gaps = append(gaps, float64(days[i]-days[i-1]))
			}
			var m float64
			for _, g := range gaps {
				m += g
			}
			m /= float64(len(gaps))
			var v float64
			for _, g := range gaps {
				v += (g - m) * (g - m)
			}
			c.GapMeanDays, c.GapStdDays = m, math.Sqrt(v/float64(len(gaps)))
		}
		out[id] = c
	}
	return out
}

// TestFeaturesMatchNaive: every column equals the sort-then-scan computation
// for every customer, with refunds, zero amounts, timestamps in several
// offsets around midnight, a holdout window, and a non-UTC reporting zone.
func TestFeaturesMatchNaive(t *testing.T) {
	dir := t.TempDir()
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: 4000, Seed: 11, RefundRate: 0.08, ZeroRate: 0.03}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, datasets.SynthTransactions)
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, src); err != nil {
		t.Fatal(err)
	}
	recs := ingesttest.ReadCSVFile(t, src)
	var txs []naiveTx
	for _, r := range recs[1:] {
		at, err := time.Parse(time.RFC3339, r[2])
		if err != nil {
			t.Fatal(err)
		}
		amt, _ := new(big.Rat).SetString(r[3])
		txs = append(txs, naiveTx{r[0], at, amt})
	}
	for _, zone := range []string{"UTC", "America/New_York", "Asia/Kolkata"} {
		loc, _ := time.LoadLocation(zone)
		asOf, end := date("2024-09-30"), date("2025-03-31")
		res, err := night.ComputeFeatures(context.Background(), &warehouse.Warehouse{Dir: data},
			night.FeaturesOptions{AsOf: asOf, HoldoutEnd: end, Timezone: zone})
		if err != nil {
			t.Fatal(err)
		}
		want := naiveFeatures(txs, asOf, end, loc)
		if len(res.Customers) != len(want) {
			t.Fatalf("%s: %d customers, naive %d", zone, len(res.Customers), len(want))
		}
		// RFM scores: 1 + 5·(customers with a strictly smaller value)/n, counted one by one.
		n := len(res.Customers)
		segments := features.DefaultSegments()
		naiveScore := func(v func(features.Customer) int64, c features.Customer) int {
			below := 0
			for _, o := range res.Customers {
				if v(o) < v(c) {
					below++
				}
			}
			return 1 + 5*below/n
		}
		for _, c := range res.Customers {
			r := naiveScore(func(o features.Customer) int64 { return -int64(o.DaysSinceLast) }, c)
			f := naiveScore(func(o features.Customer) int64 { return int64(o.Orders) }, c)
			m := naiveScore(func(o features.Customer) int64 { return o.TotalSpendMicros }, c)
			if int(c.RScore) != r || int(c.FScore) != f || int(c.MScore) != m || c.Segment != segments.Segment(r, f, m) {
				t.Fatalf("%s: customer %s: scores %d%d%d %s, naive %d%d%d", zone, c.CustomerID, c.RScore, c.FScore, c.MScore, c.Segment, r, f, m)
			}
		}
		checked := map[string]bool{}
		for _, got := range res.Customers {
			w, ok := want[got.CustomerID]
			if !ok {
				t.Fatalf("%s: unexpected customer %s", zone, got.CustomerID)
			}
			g := got
			g.RScore, g.FScore, g.MScore, g.Segment = 0, 0, 0, ""
			if d := diffCustomer(g, w); d != "" {
				t.Fatalf("%s: customer %s: %s", zone, got.CustomerID, d)
			}
			if got.Refunds > 0 {
				checked["refund"] = true
			}
			if got.Frequency > 0 && got.Orders > got.Frequency+1 {
				checked["same-day"] = true
			}
			if got.HoldoutDays > 1 {
				checked["holdout"] = true
			}
		}
		if !checked["refund"] || !checked["same-day"] || !checked["holdout"] {
			t.Fatalf("%s: the data did not exercise refunds and same-day purchases: %v", zone, checked)
		}
	}
}

func diffCustomer(a, b features.Customer) string {
	close := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) }
	type pair struct {
		name string
		ok   bool
	}
	checks := []pair{
		{"first_purchase", a.FirstPurchaseMicros == b.FirstPurchaseMicros}, {"last_purchase", a.LastPurchaseMicros == b.LastPurchaseMicros},
		{"orders", a.Orders == b.Orders}, {"frequency", a.Frequency == b.Frequency},
		{"recency", close(a.Recency, b.Recency)}, {"T", close(a.T, b.T)},
		{"monetary_value", close(a.MonetaryValue, b.MonetaryValue)}, {"monetary_avg", close(a.MonetaryAvg, b.MonetaryAvg)},
		{"total_spend", a.TotalSpendMicros == b.TotalSpendMicros}, {"net_spend", a.NetSpendMicros == b.NetSpendMicros},
		{"refunds", a.Refunds == b.Refunds}, {"refund_amount", a.RefundAmountMicros == b.RefundAmountMicros},
		{"orders_30d", a.Orders30 == b.Orders30}, {"orders_90d", a.Orders90 == b.Orders90}, {"orders_365d", a.Orders365 == b.Orders365},
		{"spend_30d", a.Spend30Micros == b.Spend30Micros}, {"spend_90d", a.Spend90Micros == b.Spend90Micros},
		{"spend_365d", a.Spend365Micros == b.Spend365Micros}, {"spend_trend", a.SpendTrendMicros == b.SpendTrendMicros},
		{"days_since_last", a.DaysSinceLast == b.DaysSinceLast}, {"tenure_days", a.TenureDays == b.TenureDays},
		{"gap_mean_days", close(a.GapMeanDays, b.GapMeanDays)}, {"gap_std_days", close(a.GapStdDays, b.GapStdDays)},
		{"holdout_orders", a.HoldoutOrders == b.HoldoutOrders}, {"holdout_spend", a.HoldoutSpendMicros == b.HoldoutSpendMicros},
		{"holdout_days", a.HoldoutDays == b.HoldoutDays}, {"holdout_first", a.HoldoutFirst == b.HoldoutFirst},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Sprintf("%s differs:\n got %+v\nwant %+v", c.name, a, b)
		}
	}
	return ""
}

func TestSeveralCurrenciesNeedRates(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "x.csv")
	os.WriteFile(src, []byte("customer_id,order_id,ordered_at,amount,currency\na,1,2024-01-01,10,EUR\nb,2,2024-01-02,10,USD\n"), 0o644)
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, src); err != nil {
		t.Fatal(err)
	}
	w := &warehouse.Warehouse{Dir: data}
	_, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: date("2024-01-31")})
	if err == nil || !strings.Contains(err.Error(), "EUR, USD") {
		t.Fatalf("err = %v; want an error naming EUR, USD", err)
	}
	fx := filepath.Join(dir, "fx.csv")
	os.WriteFile(fx, []byte("currency,rate\nEUR,1\nUSD,0.9\n"), 0o644)
	res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: date("2024-01-31"), FXFile: fx})
	if err != nil {
		t.Fatal(err)
	}
	if res.Customers[1].TotalSpendMicros != 9_000_000 {
		t.Fatalf("USD 10 at 0.9 = %d micros", res.Customers[1].TotalSpendMicros)
	}
}

// TestFeaturesReused: features written with their provenance are read back
// equal to a fresh computation, and are recomputed when the warehouse or
// the settings change.
func TestFeaturesReused(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 2000, 8)
	fo := night.FeaturesOptions{AsOf: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Timezone: "America/New_York"}
	dir := w.RunDir("2025-03-31")
	want, err := night.ComputeFeatures(ctx, w, fo)
	if err != nil {
		t.Fatal(err)
	}
	if _, why, _ := night.ReuseOrComputeFeatures(ctx, w, dir, fo); !strings.HasPrefix(why, "recomputed: no features.json") {
		t.Errorf("without features.json: %s", why)
	}
	prov, err := night.ProvenanceOf(w, fo)
	if err != nil {
		t.Fatal(err)
	}
	if err := night.WriteFeatures(dir, want, prov); err != nil {
		t.Fatal(err)
	}
	got, why, err := night.ReuseOrComputeFeatures(ctx, w, dir, fo)
	if err != nil || !strings.HasPrefix(why, "reused") {
		t.Fatalf("%s, %v", why, err)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range want.Customers {
			if !reflect.DeepEqual(got.Customers[i], want.Customers[i]) {
				t.Fatalf("customer %d read back\n%+v\nwant\n%+v", i, got.Customers[i], want.Customers[i])
			}
		}
		t.Fatalf("result read back differs:\n%+v\nwant\n%+v", *got, *want)
	}
	other := fo
	other.Timezone = "UTC"
	if _, why, _ := night.ReuseOrComputeFeatures(ctx, w, dir, other); !strings.Contains(why, "other settings") {
		t.Errorf("another time zone: %s", why)
	}
	src := filepath.Join(t.TempDir(), "more.csv")
	os.WriteFile(src, []byte("customer_id,order_id,ordered_at,amount\nnew1,x1,2025-01-02T10:00:00Z,5.00\n"), 0o644)
	if _, err := ingesttest.Ingest(t, w.Dir, ingest.IngestOptions{}, src); err != nil {
		t.Fatal(err)
	}
	if _, why, _ := night.ReuseOrComputeFeatures(ctx, w, dir, fo); !strings.Contains(why, "warehouse changed") {
		t.Errorf("after an ingest: %s", why)
	}
}
