package export

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/sheet"
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
