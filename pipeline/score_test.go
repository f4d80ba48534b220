package pipeline_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// cdnowWarehouse ingests the CDNOW sample into a new warehouse.
func cdnowWarehouse(t *testing.T) *warehouse.Warehouse {
	t.Helper()
	dir := t.TempDir()
	paths, err := datasets.WriteCDNOW(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := pipeline.LoadConfig(paths[1])
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{Source: cfg.SourceOptions}, paths[0]); err != nil {
		t.Fatal(err)
	}
	return &warehouse.Warehouse{Dir: data}
}

// TestScoresAgreeWithModel: every score is the model's prediction for the
// customer's (x, t_x, T) with the horizon converted from days to weeks; with
// no discounting, CLV is margin × expected spend × E[purchases in 365.25 days];
// tiers follow the thresholds.
func TestScoresAgreeWithModel(t *testing.T) {
	w := cdnowWarehouse(t)
	for _, name := range night.PurchaseModels {
		res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: date("1997-09-30")})
		if err != nil {
			t.Fatal(err)
		}
		mf, err := night.FitModels(res, name, model.FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		opt := night.DefaultScoreOptions()
		opt.DiscountRate = 0
		opt.HorizonDays = 91
		scores, meta, err := night.ScoreCustomers(res, mf, opt)
		if err != nil {
			t.Fatal(err)
		}
		pm, _ := mf.PurchaseModel()
		gg, _ := mf.SpendModel()
		tiers := map[string]int{}
		for i, c := range res.Customers {
			s := scores[i]
			x, tx, T := float64(c.Frequency), c.Recency, c.T
			spend := gg.P * gg.Gamma / (gg.Q - 1)
			if x > 0 {
				spend = gg.ExpectedSpend(x, c.MonetaryValue)
			}
			want := []float64{pm.PAlive(x, tx, T), pm.ProbNoPurchase(13, x, tx, T), pm.ExpectedPurchases(13, x, tx, T),
				spend, 0.3 * spend * pm.ExpectedPurchases(365.25/7, x, tx, T)}
			got := []float64{s.PAlive, s.ChurnRisk, s.ExpectedPurchases, s.ExpectedSpend, s.CLV}
			for k := range want {
				if math.Abs(got[k]-want[k]) > 1e-9*math.Max(1, math.Abs(want[k])) {
					t.Fatalf("%s customer %s: score %d = %v, model %v", name, c.CustomerID, k, got[k], want[k])
				}
			}
			// Each interval holds its score (the band is centred on it on
			// the logit or log scale), and the count quantiles are ordered.
			for _, iv := range [][3]float64{{s.PAliveP10, s.PAlive, s.PAliveP90}, {s.ChurnRiskP10, s.ChurnRisk, s.ChurnRiskP90}, {s.CLVP10, s.CLV, s.CLVP90}} {
				if !(iv[0] <= iv[1]+1e-12 && iv[1] <= iv[2]+1e-12) {
					t.Fatalf("%s customer %s: interval [%g, %g] does not hold its score %g", name, c.CustomerID, iv[0], iv[2], iv[1])
				}
			}
			if !(0 <= s.PurchasesP10 && s.PurchasesP10 <= s.PurchasesP90) {
				t.Fatalf("%s customer %s: purchases interval [%g, %g]", name, c.CustomerID, s.PurchasesP10, s.PurchasesP90)
			}
			if meta.IntervalDraws == 0 {
				t.Fatalf("%s: no parameter draws (%s)", name, meta.IntervalNote)
			}
			tier := "low"
			if s.ChurnRisk >= 0.8 {
				tier = "high"
			} else if s.ChurnRisk >= 0.5 {
				tier = "medium"
			}
			if s.Tier != tier {
				t.Fatalf("customer %s: risk %v tier %s", c.CustomerID, s.ChurnRisk, s.Tier)
			}
			tiers[tier]++
		}
		if meta.Tiers["high"] != tiers["high"] || meta.Customers != 2357 {
			t.Errorf("meta %+v", meta)
		}
		t.Logf("%s: tiers %v", name, meta.Tiers)
	}
}
