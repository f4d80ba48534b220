package pipeline_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
)

// BenchmarkScore1M scores one million customers (BG/NBD + Gamma-Gamma, 90-day
// horizon, 12-month CLV) whose summaries are spread like a real customer
// base: 26–78 weeks of history, days as the time grain.
func BenchmarkScore1M(b *testing.B) {
	res, mf := customers1M()
	for _, intervals := range []bool{false, true} {
		opt := night.DefaultScoreOptions()
		opt.NoIntervals = !intervals
		b.Run(fmt.Sprintf("intervals=%v", intervals), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, meta, err := night.ScoreCustomers(res, mf, opt); err != nil || intervals && meta.IntervalDraws == 0 {
					b.Fatal(err, meta.IntervalNote)
				}
			}
		})
	}
}

// BenchmarkRecommend1M plans the example catalog plus one perk (8 perks)
// for the same million scored customers: eligibility, expected costs by
// kind, the allocation and the reasons.
func BenchmarkRecommend1M(b *testing.B) {
	res, mf := customers1M()
	scores, meta, err := night.ScoreCustomers(res, mf, night.DefaultScoreOptions())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "perks.csv")
	catalog := append(append([]byte(nil), datasets.PerksCSV...), []byte("coffee,Free coffee,free_item,1.5,,,1,,0.01,,,,,,,30\n")...)
	if err := os.WriteFile(path, catalog, 0o644); err != nil {
		b.Fatal(err)
	}
	perks, err := perkplan.ReadCatalog(path, res.SegmentNames)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan, err := perkplan.MakePlan(res, scores, meta, mf, perks, perkplan.PlanOptions{Budget: 200_000, ContactCost: map[string]float64{"": 0.02}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(plan.Recommended), "customers_with_perk")
		b.ReportMetric(plan.GapPct, "gap%")
	}
}

// customers1M is one million customers and a BG/NBD + Gamma-Gamma model.
func customers1M() (*features.Result, *night.ModelFile) { return customersN(1_000_000) }

// customersN is n customers spread like customers1M's.
func customersN(n int) (*features.Result, *night.ModelFile) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := features.DefaultSegments().Names()
	res := &features.Result{AsOf: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), Unit: features.Weeks, Currencies: []string{"EUR"}, SegmentNames: names}
	res.Customers = make([]features.Customer, n)
	for i := range res.Customers {
		T := math.Round((26+rng.Float64()*52)*7) / 7
		x := int32(rng.ExpFloat64() * 2)
		tx := 0.0
		if x > 0 {
			tx = math.Round(rng.Float64()*T*7) / 7
		}
		res.Customers[i] = features.Customer{CustomerID: fmt.Sprintf("c%07d", i), Frequency: x, Recency: tx, T: T,
			MonetaryValue: 20 + rng.Float64()*40, MonetaryAvg: 20 + rng.Float64()*40, Orders: x + 1,
			Segment: names[rng.IntN(len(names))], DaysSinceLast: int32((T - tx) * 7)}
	}
	mf := &night.ModelFile{FittedModel: night.FittedModel{Model: "bgnbd", Params: map[string]float64{"r": 0.25, "alpha": 4, "a": 0.8, "b": 2.5}}, Unit: "week"}
	mf.Spend = &night.FittedModel{Model: "gamma-gamma", Params: map[string]float64{"p": 6.25, "q": 3.74, "gamma": 15.44}}
	// Standard errors of a few per cent, as a fit on a million customers
	// has, so the intervals' draws are part of the benchmark.
	for _, fm := range []*night.FittedModel{&mf.FittedModel, mf.Spend} {
		fm.Covariance = map[string]map[string]float64{}
		for n, v := range fm.Params {
			fm.Covariance[n] = map[string]float64{}
			for m := range fm.Params {
				fm.Covariance[n][m] = 0
			}
			fm.Covariance[n][n] = (0.03 * v) * (0.03 * v)
		}
	}
	return res, mf
}
