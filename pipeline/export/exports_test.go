package export

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
		er := &exportRow{res: res, scores: scores, recs: recs, loc: loc, dec: dec, scoredAt: "2024-06-30", model: "bgnbd+gamma-gamma",
			riskPct: make([]int16, len(scores)), clvPct: make([]int16, len(scores)), modelVersion: "=v1", horizonDays: 90, asOfDays: 19904}
		er.cmp, _ = er.compare("")
		for i := range er.riskPct {
			er.riskPct[i], er.clvPct[i] = int16(i%100), int16(99-i%100)
		}
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
	// The first run's delta is everyone: the feed's lines with deleted false.
	delta, _ := os.ReadFile(filepath.Join(dir, "exports", "crm_delta.csv"))
	feed, _ := os.ReadFile(filepath.Join(dir, "exports", "crm_scores.csv"))
	want := strings.Replace(strings.ReplaceAll(string(feed), "\n", ",false\n"), CRMHeader[len(CRMHeader)-1]+",false\n", CRMHeader[len(CRMHeader)-1]+",deleted\n", 1)
	if ex.DeltaRows != len(ids) || string(delta) != want {
		t.Errorf("first run: delta of %d rows, the feed's lines with deleted=false: %v", ex.DeltaRows, string(delta) == want)
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

// TestRankPercent: the threshold form equals counting, ties included.
func TestRankPercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 7, 100, 101, 999} {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(rng.IntN(n/3 + 1)) // many ties
		}
		got := RankPercent(v)
		for i, x := range v {
			below := 0
			for _, y := range v {
				if y < x {
					below++
				}
			}
			if int(got[i]) != 100*below/n {
				t.Fatalf("n %d: value %g: %d, want %d", n, x, got[i], 100*below/n)
			}
		}
	}
}

// TestFeedAcrossNights: the second night's feed keeps updated_at for the
// customers whose tracked values did not change (scores that moved by
// the calendar alone do not count), the delta holds the tier change, the
// new customer and a tombstone for the customer gone (deleted = true,
// the exact id in Parquet), and writing the second night again gives the
// same bytes. The percentiles are counted here by brute force.
func TestFeedAcrossNights(t *testing.T) {
	ids := []string{"=gone", "c1", "c2", "c3", "c4"}
	everyone := []string{"=gone", "c1", "c2", "c3", "c4", "c5"}
	makeNight := func(asOf time.Time, ids []string, tiers map[string]string) (*features.Result, []night.Score) {
		res := &features.Result{AsOf: asOf, Currencies: []string{"EUR"}, SegmentNames: []string{"Lost"}}
		var scores []night.Score
		for i, id := range ids {
			k := slices.Index(everyone, id) // the customer's own values, whatever the night
			first := time.Date(2024, 1, 1+k, 12, 0, 0, 0, time.UTC)
			res.Customers = append(res.Customers, features.Customer{CustomerID: id, Segment: "Lost", RScore: 1, FScore: 2, MScore: 3,
				FirstPurchaseMicros: first.UnixMicro(), LastPurchaseMicros: first.UnixMicro(), Orders: 1, TenureDays: int32(asOf.Sub(first).Hours() / 24),
				TotalSpendMicros: int64(1_000_000 * (k + 1))})
			tier := cmp.Or(tiers[id], "high")
			scores = append(scores, night.Score{PAlive: float64(asOf.Day()) / 100, ChurnRisk: 0.9 - 0.1*float64(i), Tier: tier, CLV: float64(i)})
		}
		return res, scores
	}
	mf := &night.ModelFile{FittedModel: night.FittedModel{Model: "bgnbd", Params: map[string]float64{"r": 1}}}
	root := t.TempDir()
	d1, d2 := filepath.Join(root, "2024-06-29"), filepath.Join(root, "2024-06-30")
	res1, s1 := makeNight(time.Date(2024, 6, 29, 0, 0, 0, 0, time.UTC), ids, nil)
	if _, err := WriteExports(d1, "", res1, s1, nil, mf, ExportOptions{HorizonDays: 90}); err != nil {
		t.Fatal(err)
	}
	ids2 := []string{"c1", "c2", "c3", "c4", "c5"}
	res2, s2 := makeNight(time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), ids2, map[string]string{"c2": "medium"})
	ex, err := WriteExports(d2, d1, res2, s2, nil, mf, ExportOptions{HorizonDays: 90})
	if err != nil {
		t.Fatal(err)
	}
	feed := ingesttest.ReadCSVFile(t, filepath.Join(d2, "exports", "crm_scores.csv"))
	wantUpdated := map[string]string{"c1": "2024-06-29", "c2": "2024-06-30", "c3": "2024-06-29", "c4": "2024-06-29", "c5": "2024-06-30"}
	for k, rec := range feed[1:] {
		id := rec[0]
		if rec[crmCol("updated_at")] != wantUpdated[id] || rec[crmCol("as_of")] != "2024-06-30" || rec[crmCol("horizon_days")] != "90" {
			t.Errorf("%s: updated_at %s as_of %s horizon_days %s; want updated_at %s", id, rec[crmCol("updated_at")], rec[crmCol("as_of")], rec[crmCol("horizon_days")], wantUpdated[id])
		}
		below := 0
		for _, s := range s2 {
			if s.ChurnRisk < s2[k].ChurnRisk {
				below++
			}
		}
		if rec[crmCol("churn_risk_pct")] != strconv.Itoa(100*below/len(s2)) || !strings.HasPrefix(rec[crmCol("model_version")], "bgnbd@") {
			t.Errorf("%s: churn_risk_pct %s, want %d; model_version %s", id, rec[crmCol("churn_risk_pct")], 100*below/len(s2), rec[crmCol("model_version")])
		}
	}
	delta := ingesttest.ReadCSVFile(t, filepath.Join(d2, "exports", "crm_delta.csv"))
	var got []string
	for _, rec := range delta[1:] {
		got = append(got, rec[0]+":"+rec[len(rec)-1])
	}
	if want := []string{"c2:false", "c5:false", "'=gone:true"}; !slices.Equal(got, want) || ex.DeltaRows != 3 {
		t.Errorf("delta %v (%d rows), want %v", got, ex.DeltaRows, want)
	}
	rows, err := parquet.ReadFile[DeltaRow](filepath.Join(d2, "exports", "crm_delta.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[2].CustomerID != "=gone" || !rows[2].Deleted || rows[0].Deleted || rows[0].CustomerID != "c2" {
		t.Errorf("crm_delta.parquet: %+v", rows)
	}
	// The same night again: the same bytes.
	before, _ := os.ReadFile(filepath.Join(d2, "exports", "crm_scores.parquet"))
	if _, err := WriteExports(d2, d1, res2, s2, nil, mf, ExportOptions{HorizonDays: 90}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(d2, "exports", "crm_scores.parquet"))
	if !bytes.Equal(before, after) {
		t.Error("writing the same night twice changed crm_scores.parquet")
	}
}

// TestAppendFixed: the fast fixed-point formatting gives strconv's bytes,
// ties, negative zeros, large and non-finite values included.
func TestAppendFixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	values := []float64{0, math.Copysign(0, -1), -0.00001, 0.00005, 0.00015, 1.00005, 2.675, 1.005, 0.125, 0.5, 1, 99999.995,
		123456789.125, 1e9, 1e20, -3.14159, math.NaN(), math.Inf(1), math.Inf(-1), 0.99995, 0.49995}
	for range 200_000 {
		values = append(values, rng.Float64(), rng.Float64()*1000-500, math.Round(rng.Float64()*1e6)/1e6, float64(rng.IntN(100000))/1e4+0.00005)
	}
	for _, v := range values {
		for _, dec := range []int{0, 2, 3, 4} {
			want := strconv.AppendFloat(nil, v, 'f', dec, 64)
			if got := appendFixed(nil, v, dec); string(got) != string(want) {
				t.Fatalf("appendFixed(%v, %d) = %s, strconv %s", v, dec, got, want)
			}
		}
	}
}
