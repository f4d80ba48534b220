package pipeline_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// TestBacktestAUCOnSynth: on data drawn from a known BG/NBD, the backtest's
// churn AUC for the fitted model is close to the AUC the true parameters
// give on the same customers and holdout.
func TestBacktestAUCOnSynth(t *testing.T) {
	w := synthWarehouse(t, 20_000, 11)
	cutoff := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 78*7)
	const holdout = 26 * 7
	bt, err := night.RunBacktest(context.Background(), w, night.BacktestOptions{
		Features: night.FeaturesOptions{AsOf: cutoff}, HoldoutDays: holdout, Models: []string{"bgnbd"}})
	if err != nil {
		t.Fatal(err)
	}
	fitted := bt.Models[0]
	if fitted.Error != "" {
		t.Fatal(fitted.Error)
	}
	trueAUC, n := trueChurnAUC(t, w, cutoff, holdout)
	t.Logf("churn AUC: fitted %.4f, true parameters %.4f; customers %d, churn rate %.3f", fitted.ChurnAUC, trueAUC, bt.Customers, bt.ChurnRate)
	if math.Abs(fitted.ChurnAUC-trueAUC) > 0.01 {
		t.Errorf("fitted AUC %.4f, true-parameter AUC %.4f", fitted.ChurnAUC, trueAUC)
	}
	if bt.Customers != n {
		t.Errorf("backtest cohort %d, features %d", bt.Customers, n)
	}
}

// synthWarehouse ingests the synthetic generator's 104 weeks from
// 2024-01-01 (BG/NBD with r 0.25, α 4, a 0.8, b 2.5) into a new warehouse.
func synthWarehouse(t *testing.T, customers int, seed uint64) *warehouse.Warehouse {
	t.Helper()
	dir := t.TempDir()
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: customers, Seed: seed, Weeks: 104}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, filepath.Join(dir, "transactions.csv")); err != nil {
		t.Fatal(err)
	}
	return &warehouse.Warehouse{Dir: data}
}

// trueChurnAUC is the churn AUC on the holdout after cutoff that the
// generator's true BG/NBD parameters give, and the cohort's size.
func trueChurnAUC(t *testing.T, w *warehouse.Warehouse, cutoff time.Time, holdoutDays int) (float64, int) {
	t.Helper()
	res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: cutoff, HoldoutEnd: cutoff.AddDate(0, 0, holdoutDays)})
	if err != nil {
		t.Fatal(err)
	}
	truth := model.BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5} // the generator's defaults
	risk := make([]float64, len(res.Customers))
	churned := make([]bool, len(res.Customers))
	for i, c := range res.Customers {
		risk[i] = truth.ProbNoPurchase(float64(holdoutDays)/7, float64(c.Frequency), c.Recency, c.T)
		churned[i] = c.HoldoutDays == 0
	}
	return model.AUC(risk, churned), len(res.Customers)
}

// TestAUCAgainstPairs: the rank formula equals counting pairs.
func TestAUCAgainstPairs(t *testing.T) {
	s := []float64{0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2}
	y := []bool{false, true, false, true, false, true, true}
	var wins, pairs float64
	for i := range s {
		for j := range s {
			if y[i] && !y[j] {
				pairs++
				switch {
				case s[i] > s[j]:
					wins++
				case s[i] == s[j]:
					wins += 0.5
				}
			}
		}
	}
	if got := model.AUC(s, y); math.Abs(got-wins/pairs) > 1e-15 {
		t.Errorf("AUC %v, pairs %v", got, wins/pairs)
	}
}
