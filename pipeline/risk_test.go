package pipeline_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/night"
)

// TestRiskModelOnSynth: on data drawn from a known BG/NBD, the supervised
// risk model (trained one horizon before the cutoff, as in production)
// ranks the holdout churners about as well as the true parameters do, and
// its probabilities are calibrated: their mean is the observed churn rate.
func TestRiskModelOnSynth(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 20_000, 12)
	cutoff := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 78*7)
	const holdout = 13 * 7
	bt, err := night.RunBacktest(ctx, w, night.BacktestOptions{
		Features: night.FeaturesOptions{AsOf: cutoff}, HoldoutDays: holdout, Models: []string{"bgnbd", "logit"}})
	if err != nil {
		t.Fatal(err)
	}
	var logit night.ModelMetrics
	for _, m := range bt.Models {
		if m.Error != "" {
			t.Fatalf("%s: %s", m.Model, m.Error)
		}
		if m.Model == "logit" {
			logit = m
		}
	}
	trueAUC, _ := trueChurnAUC(t, w, cutoff, holdout)
	var meanPred float64
	for _, b := range logit.Calibration {
		meanPred += b.Predicted * float64(b.N)
	}
	meanPred /= float64(bt.Customers)
	t.Logf("churn AUC: logit %.4f, bgnbd %.4f, true parameters %.4f; mean predicted churn %.4f, observed %.4f",
		logit.ChurnAUC, bt.Models[0].ChurnAUC, trueAUC, meanPred, bt.ChurnRate)
	if logit.ChurnAUC < trueAUC-0.015 {
		t.Errorf("logit AUC %.4f, more than 0.015 below the true-parameter AUC %.4f", logit.ChurnAUC, trueAUC)
	}
	if math.Abs(meanPred-bt.ChurnRate) > 0.02 {
		t.Errorf("mean predicted churn %.4f, observed %.4f", meanPred, bt.ChurnRate)
	}

	// auto on the day of the cutoff backtests one horizon back and keeps
	// whichever model ranked churn better, saying why; scores follow it.
	fo := night.FeaturesOptions{AsOf: cutoff}
	now, err := night.ComputeFeatures(ctx, w, fo)
	if err != nil {
		t.Fatal(err)
	}
	mf, abt, err := night.FitSpecModels(ctx, w, fo, now, night.FitSpec{Name: "auto", HorizonDays: holdout})
	if err != nil {
		t.Fatal(err)
	}
	if abt == nil || mf.ChurnRisk == nil || mf.Requested != "auto" {
		t.Fatalf("auto returned no backtest or no choice: %+v", mf.ChurnRisk)
	}
	want := "bgnbd"
	if abt.Models[1].ChurnAUC > abt.Models[0].ChurnAUC {
		want = "logit"
	}
	if mf.ChurnRisk.Source != want || !strings.Contains(mf.ChurnRisk.Reason, "AUC") {
		t.Errorf("auto chose %q (%s); the backtest says %s", mf.ChurnRisk.Source, mf.ChurnRisk.Reason, want)
	}
	if (mf.Risk != nil) != (want == "logit") {
		t.Errorf("risk model kept: %v, chosen %s", mf.Risk != nil, want)
	}
	so := night.DefaultScoreOptions()
	so.HorizonDays = holdout
	_, meta, err := night.ScoreCustomers(now, mf, so)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ChurnRiskModel != want {
		t.Errorf("scores.json churn_risk_model %q, want %q", meta.ChurnRiskModel, want)
	}
	// --model logit always keeps the risk model; trained for 91 days, it
	// refuses to score another horizon.
	lmf, _, err := night.FitSpecModels(ctx, w, fo, now, night.FitSpec{Name: "logit", HorizonDays: holdout})
	if err != nil {
		t.Fatal(err)
	}
	if lmf.Risk == nil || lmf.ChurnRisk.Source != "logit" || lmf.Risk.LabelWindow != "(2025-03-31, 2025-06-30]" {
		t.Fatalf("--model logit: risk model %+v, churn_risk %+v", lmf.Risk, lmf.ChurnRisk)
	}
	if _, meta, err := night.ScoreCustomers(now, lmf, so); err != nil || meta.ChurnRiskModel != "logit" {
		t.Errorf("score with the logit model: %v, churn_risk_model %q", err, meta.ChurnRiskModel)
	}
	so.HorizonDays = 90
	if _, _, err := night.ScoreCustomers(now, lmf, so); err == nil || !strings.Contains(err.Error(), "refit with --horizon 91d") {
		t.Errorf("a 90-day score with a 91-day risk model: %v, want an error that says how to fix it", err)
	}
}
