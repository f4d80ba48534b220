package export

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/parquet-go/parquet-go"
)

// TestCRMLineIsTheRecord: the feed's encoded line is what SafeCSVWriter
// writes for the customer's record, for awkward ids, segments and perks,
// zero and missing dates, negative and non-finite numbers.
func TestCRMLineIsTheRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := []string{"c1", "=HYPERLINK(1)", "-5", "+1+1", "@SUM(1)", "a,b", `q"x`, " lead", "é"}
	loc, _ := time.LoadLocation("America/New_York")
	res := &features.Result{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)}
	var scores []night.Score
	var recs []perkplan.Recommendation
	for i := range 500 {
		first := time.Unix(1.6e9+rng.Int64N(1e8), 0).UTC()
		c := features.Customer{CustomerID: ids[i%len(ids)] + strconv.Itoa(i), Segment: []string{"Lost", "=evil", "Can't Lose Them", "a,b"}[i%4],
			RScore: int8(1 + i%5), FScore: 2, MScore: 3, FirstPurchaseMicros: first.UnixMicro(), LastPurchaseMicros: first.Add(time.Duration(rng.IntN(1000)) * time.Hour).UnixMicro(),
			Orders: int32(i % 7), Frequency: int32(i % 5), Recency: rng.Float64() * 50, TenureDays: int32(i), MonetaryAvg: rng.Float64() * 100,
			TotalSpendMicros: rng.Int64N(1e9) - 1e8}
		s := night.Score{PAlive: rng.Float64(), ChurnRisk: rng.Float64(), Tier: "high", ExpectedPurchases: rng.Float64(), ExpectedSpend: rng.Float64() * 30, CLV: rng.Float64()*200 - 20}
		switch i % 9 {
		case 0:
			s.CLV = math.Inf(-1)
		case 1:
			s.ExpectedSpend = math.NaN()
		case 2:
			s.NextPurchase = time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
		case 3:
			c.FirstPurchaseMicros = -1 // before the epoch
		}
		res.Customers = append(res.Customers, c)
		scores = append(scores, s)
		recs = append(recs, perkplan.Recommendation{PerkID: []string{"", "-x", "punch5"}[i%3], Reason: []string{"", "=risk, high", "keeps 12.00"}[i%3]})
	}
	for _, dec := range []int{0, 2, 3} {
		er := &exportRow{res: res, scores: scores, recs: recs, loc: loc, dec: dec, scoredAt: "2024-06-30", model: "bgnbd+gamma-gamma"}
		var f crmFields
		for i := range res.Customers {
			var want bytes.Buffer
			w := sheet.NewSafeCSVWriter(&want)
			rec := er.record(i)
			w.Write(rec)
			w.Flush()
			got := er.appendCRMLine(nil, i, &f)
			if string(got) != want.String() {
				t.Fatalf("customer %d: line %q, record %q", i, got, want.String())
			}
			if r := string(got[f.risk[0]:f.risk[1]]); r != rec[crmCol("churn_risk")] {
				t.Fatalf("customer %d: churn risk field %q, record %q", i, r, rec[crmCol("churn_risk")])
			}
			if v := string(got[f.clv[0]:f.clv[1]]); v != sheet.NeutraliseCell(rec[crmCol("clv")]) {
				t.Fatalf("customer %d: clv field %q, record %q", i, v, rec[crmCol("clv")])
			}
			// The segment files' line: its columns as the feed formats them.
			c := &res.Customers[i]
			seg := []string{c.CustomerID, c.Segment, rec[crmCol("last_purchase")], rec[crmCol("orders")], rec[crmCol("total_spend")],
				rec[crmCol("churn_risk")], rec[crmCol("risk_tier")], rec[crmCol("clv")], rec[crmCol("recommended_perk")], recs[i].Reason}
			want.Reset()
			w.Write(seg)
			w.Flush()
			if got := er.appendSegmentLine(nil, i); string(got) != want.String() {
				t.Fatalf("customer %d: segment line %q, want %q", i, got, want.String())
			}
		}
	}
}

// TestParquetFeedIsTheCSVFeed: crm_scores.parquet has the CSV feed's rows in
// its order with the exact ids (the CSV's are neutralised), the dates the
// CSV shows, total spend exact, and null for no perk or next purchase; the
// first run's delta is the feed, and the segment files hold every customer
// once (plus once per perk file).
func TestParquetFeedIsTheCSVFeed(t *testing.T) {
	ids := []string{"=HYPERLINK(1)", "@SUM(1)", "a,b", "c1", "c2", "c3"}
	res := &features.Result{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), Currencies: []string{"EUR"}, SegmentNames: []string{"Lost", "Champions"}}
	var scores []night.Score
	var recs []perkplan.Recommendation
	for i, id := range ids {
		first := time.Date(2024, 1, 1+i, 23, 30, 0, 0, time.UTC)
		res.Customers = append(res.Customers, features.Customer{CustomerID: id, Segment: []string{"Lost", "Champions"}[i%2], RScore: 1, FScore: 2, MScore: 3,
			FirstPurchaseMicros: first.UnixMicro(), LastPurchaseMicros: first.AddDate(0, 2, 0).UnixMicro(), Orders: int32(1 + i), Frequency: int32(i),
			Recency: float64(i), TenureDays: int32(100 + i), MonetaryAvg: 12.345, TotalSpendMicros: int64(1_234_567 * (i + 1))})
		s := night.Score{PAlive: 0.5, ChurnRisk: 0.25 * float64(i%4), Tier: "high", ExpectedPurchases: 1.5, ExpectedSpend: 20, CLV: 7.125}
		if i%2 == 0 {
			s.NextPurchase = time.Date(2024, 9, 1+i, 0, 0, 0, 0, time.UTC)
		}
		scores = append(scores, s)
		recs = append(recs, perkplan.Recommendation{PerkID: []string{"", "punch5", "=x"}[i%3], Reason: "r"})
	}
	dir := t.TempDir()
	mf := &night.ModelFile{FittedModel: night.FittedModel{Model: "bgnbd"}}
	ex, err := WriteExports(dir, "", res, scores, recs, mf, ExportOptions{Timezone: "America/New_York", Formats: []string{"csv", "parquet"}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.ReadFile[CRMRow](filepath.Join(dir, "exports", "crm_scores.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	csvRows := ingesttest.ReadCSVFile(t, filepath.Join(dir, "exports", "crm_scores.csv"))
	if len(rows) != len(ids) || len(csvRows) != len(ids)+1 {
		t.Fatalf("%d Parquet rows, %d CSV lines, want %d customers", len(rows), len(csvRows), len(ids))
	}
	day := func(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly) }
	for i, r := range rows {
		rec := csvRows[i+1]
		if r.CustomerID != ids[i] || rec[0] != sheet.NeutraliseCell(ids[i]) {
			t.Errorf("row %d: Parquet id %q, CSV id %q; want %q exactly and neutralised", i, r.CustomerID, rec[0], ids[i])
		}
		if day(r.FirstPurchase) != rec[crmCol("first_purchase")] || day(r.LastPurchase) != rec[crmCol("last_purchase")] {
			t.Errorf("row %d: dates %s %s, CSV %s %s", i, day(r.FirstPurchase), day(r.LastPurchase), rec[crmCol("first_purchase")], rec[crmCol("last_purchase")])
		}
		if r.TotalSpend != res.Customers[i].TotalSpendMicros || r.Orders != int64(res.Customers[i].Orders) {
			t.Errorf("row %d: total spend %d µ, orders %d", i, r.TotalSpend, r.Orders)
		}
		if (r.RecommendedPerk == nil) != (recs[i].PerkID == "") || r.RecommendedPerk != nil && *r.RecommendedPerk != recs[i].PerkID {
			t.Errorf("row %d: perk %v, want %q", i, r.RecommendedPerk, recs[i].PerkID)
		}
		if (r.ExpectedNextPurchase == nil) != scores[i].NextPurchase.IsZero() {
			t.Errorf("row %d: next purchase %v, want %v", i, r.ExpectedNextPurchase, scores[i].NextPurchase)
		}
	}
	delta, _ := os.ReadFile(filepath.Join(dir, "exports", "crm_delta.csv"))
	feed, _ := os.ReadFile(filepath.Join(dir, "exports", "crm_scores.csv"))
	if ex.DeltaRows != len(ids) || !bytes.Equal(delta, feed) {
		t.Errorf("first run: delta of %d rows, same bytes as the feed %v", ex.DeltaRows, bytes.Equal(delta, feed))
	}
	lines := 0
	for _, f := range ex.Files {
		if strings.HasPrefix(f, "segments/") && !strings.HasPrefix(f, "segments/perk_") {
			lines += len(ingesttest.ReadCSVFile(t, filepath.Join(dir, f))) - 1
		}
	}
	if lines != len(ids) {
		t.Errorf("the segment files hold %d rows, want %d", lines, len(ids))
	}
}
