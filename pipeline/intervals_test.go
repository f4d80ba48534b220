package pipeline_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/night"
)

// The generator's true BG/NBD parameters (datasets.SynthOptions defaults).
var synthTruth = model.BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}

// reference is the fixed customer whose interval the coverage test checks:
// three repeat purchases, the last 50 weeks after the first, 95 weeks
// after the first.
var reference = features.Customer{CustomerID: "~reference", Frequency: 3, Recency: 50, T: 95, MonetaryValue: 40, MonetaryAvg: 40}

// scoreReference fits BG/NBD on a synthetic shop of n customers at the end
// of its 104 weeks, and scores the shop with the reference customer added
// after the fit (so it does not inform the parameters). It returns the
// reference's score and its score under the generator's true parameters.
func scoreReference(t *testing.T, n int, seed uint64) (fitted, truth night.Score) {
	t.Helper()
	w := synthWarehouse(t, n, seed)
	res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: date("2025-12-29")})
	if err != nil {
		t.Fatal(err)
	}
	mf, err := night.FitModels(res, "bgnbd", model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res.Customers = append(res.Customers, reference)
	scores, meta, err := night.ScoreCustomers(res, mf, night.DefaultScoreOptions())
	if err != nil {
		t.Fatal(err)
	}
	if meta.IntervalDraws == 0 {
		t.Fatalf("seed %d: no parameter draws: %s", seed, meta.IntervalNote)
	}
	if mf.Spend == nil {
		t.Fatalf("seed %d: no spend model", seed)
	}
	true_ := &night.ModelFile{FittedModel: night.FittedModel{Model: "bgnbd",
		Params: map[string]float64{"r": synthTruth.R, "alpha": synthTruth.Alpha, "a": synthTruth.A, "b": synthTruth.B}},
		Unit: mf.Unit, Spend: &night.FittedModel{Model: mf.Spend.Model, Params: map[string]float64{"p": 6.25, "q": 3.74, "gamma": 15.44}}}
	opt := night.DefaultScoreOptions()
	opt.NoIntervals = true
	at, _, err := night.ScoreCustomers(res, true_, opt)
	if err != nil {
		t.Fatal(err)
	}
	return scores[len(scores)-1], at[len(at)-1]
}

// TestIntervalCoverage: over many shops simulated from known parameters,
// the 80 % interval of the reference customer's churn risk covers the
// churn risk under the true parameters in about 80 % of the shops.
// CHURN_COVERAGE_SHOPS sets the number of shops (default 120).
func TestIntervalCoverage(t *testing.T) {
	shops := 120
	if s := os.Getenv("CHURN_COVERAGE_SHOPS"); s != "" {
		shops, _ = strconv.Atoi(s)
	}
	if testing.Short() {
		shops = 30
	}
	// Independently of the scoring code: the model's closed forms at the
	// true parameters.
	horizon := float64(night.DefaultScoreOptions().HorizonDays) / 7
	truth := synthTruth.ProbNoPurchase(horizon, float64(reference.Frequency), reference.Recency, reference.T)
	truthAlive := synthTruth.PAlive(float64(reference.Frequency), reference.Recency, reference.T)
	covered := map[string]int{}
	var truthCLV float64
	for seed := range uint64(shops) {
		s, at := scoreReference(t, 800, 1000+seed)
		if math.Abs(at.ChurnRisk-truth) > 1e-9 || math.Abs(at.PAlive-truthAlive) > 1e-9 {
			t.Fatalf("scored at the true parameters: churn risk %g, p_alive %g; the closed forms give %g, %g", at.ChurnRisk, at.PAlive, truth, truthAlive)
		}
		truthCLV = at.CLV
		for name, in := range map[string]bool{
			"churn_risk": s.ChurnRiskP10 <= truth && truth <= s.ChurnRiskP90,
			"p_alive":    s.PAliveP10 <= truthAlive && truthAlive <= s.PAliveP90,
			"clv":        s.CLVP10 <= at.CLV && at.CLV <= s.CLVP90,
		} {
			if in {
				covered[name]++
			}
		}
	}
	t.Logf("80%% intervals over %d shops: churn risk (true %.4f) covered in %.1f%%, p_alive (true %.4f) in %.1f%%, clv (true %.2f) in %.1f%%",
		shops, truth, 100*float64(covered["churn_risk"])/float64(shops), truthAlive, 100*float64(covered["p_alive"])/float64(shops),
		truthCLV, 100*float64(covered["clv"])/float64(shops))
	// Binomial s.d. of the share at 80 % is 3.7 points for 120 shops, 7.3
	// for 30: the band is about 2.5 of them.
	lo, hi := 0.70, 0.90
	if testing.Short() {
		lo, hi = 0.6, 0.97
	}
	for _, name := range []string{"churn_risk", "p_alive", "clv"} {
		v := float64(covered[name]) / float64(shops)
		if v < lo || v > hi {
			t.Errorf("%s: the 80%% interval covered the true value in %.1f%% of %d shops, want %.0f–%.0f%%", name, 100*v, shops, 100*lo, 100*hi)
		}
	}
}

// TestIntervalWidthsShrink: the reference customer's intervals narrow as
// the shop grows, about as 1/√n.
func TestIntervalWidthsShrink(t *testing.T) {
	var prev float64
	for k, n := range []int{400, 1600, 6400} {
		s, _ := scoreReference(t, n, 77)
		width := s.ChurnRiskP90 - s.ChurnRiskP10
		t.Logf("%d customers: churn risk %.4f in [%.4f, %.4f], clv %.2f in [%.2f, %.2f]", n, s.ChurnRisk, s.ChurnRiskP10, s.ChurnRiskP90, s.CLV, s.CLVP10, s.CLVP90)
		if !(width > 0) {
			t.Fatalf("%d customers: churn risk interval [%g, %g] has no width", n, s.ChurnRiskP10, s.ChurnRiskP90)
		}
		// Four times the customers halve the width; allow up to 0.8 of it.
		if k > 0 && width > 0.8*prev {
			t.Errorf("%d customers: churn risk interval width %.4f, %d times the customers before had %.4f", n, width, 4, prev)
		}
		prev = width
	}
}

// TestPurchaseQuantilesCalibrated: fitted at a cutoff, the count quantiles
// of the purchases in the next 26 weeks hold on the holdout: no more than
// about 10 % of customers buy on more days than purchases_p90, or fewer
// than purchases_p10.
func TestPurchaseQuantilesCalibrated(t *testing.T) {
	w := synthWarehouse(t, 4000, 5)
	cutoff := date("2025-01-06")
	res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: cutoff, HoldoutEnd: cutoff.Add(182 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mf, err := night.FitModels(res, "bgnbd", model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt := night.DefaultScoreOptions()
	opt.HorizonDays = 182
	scores, _, err := night.ScoreCustomers(res, mf, opt)
	if err != nil {
		t.Fatal(err)
	}
	above, below, spread := 0, 0, 0
	for i, c := range res.Customers {
		s, got := scores[i], float64(c.HoldoutDays)
		if got > s.PurchasesP90 {
			above++
		}
		if got < s.PurchasesP10 {
			below++
		}
		if s.PurchasesP90 > s.PurchasesP10 {
			spread++
		}
		if s.PurchasesP10 > s.PurchasesP90 || s.PurchasesP10 < 0 {
			t.Fatalf("%s: purchases interval [%g, %g]", c.CustomerID, s.PurchasesP10, s.PurchasesP90)
		}
	}
	n := float64(len(res.Customers))
	t.Logf("%d customers: %.1f%% above purchases_p90, %.1f%% below purchases_p10, %.1f%% with p90 > p10",
		len(res.Customers), 100*float64(above)/n, 100*float64(below)/n, 100*float64(spread)/n)
	if float64(above)/n > 0.11 || float64(below)/n > 0.11 {
		t.Errorf("holdout purchase days outside the 80%% count interval: %.1f%% above, %.1f%% below; want ≤ 11%% each",
			100*float64(above)/n, 100*float64(below)/n)
	}
	// A quantile of 0 for everyone would pass the test above from the
	// bottom: the p90 must be above 0 for the customers who buy.
	if float64(above)/n < 0.02 {
		t.Errorf("only %.1f%% of customers above purchases_p90: the upper quantile is too high", 100*float64(above)/n)
	}
}
