package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/night"

	"github.com/spf13/pflag"
)

const fitExamples = `  churn fit --data ./churn-data --as-of 1997-09-30
  churn fit --as-of 1997-09-30 --model pareto
  churn fit --as-of 2024-06-30 --unit day --penalizer 0.001
  churn fit --as-of 2024-06-30 --model auto --horizon 90d   # logit or BG/NBD, whichever backtests better
`

// modelFlags are the flags that choose and tune the models (fit, backtest).
type modelFlags struct {
	name, btyd string
	penalizer  float64
	logitL2    float64
}

func addModelFlags(fs *pflag.FlagSet, def, help string) *modelFlags {
	mf := &modelFlags{}
	fs.StringVar(&mf.name, "model", def, help)
	fs.StringVar(&mf.btyd, "btyd", "bgnbd", "logit and auto: the purchase model whose outputs the risk model uses")
	fs.Float64Var(&mf.penalizer, "penalizer", 0, "L2 penalty on the BTYD parameters (lifetimes' penalizer_coef)")
	fs.Float64Var(&mf.logitL2, "logit-l2", night.DefaultLogitL2, "logit: L2 penalty on the standardised inputs")
	return mf
}

// resolve merges the config's model: section (flags win) into a FitSpec.
func (mf *modelFlags) resolve(fs *pflag.FlagSet, cfg *pipeline.Config) (night.FitSpec, error) {
	c := cfg.Model
	if !fs.Changed("model") && c.Name != "" {
		mf.name = c.Name
	}
	if !fs.Changed("btyd") && c.BTYD != "" {
		mf.btyd = c.BTYD
	}
	if !fs.Changed("penalizer") {
		mf.penalizer = c.Penalizer
	}
	if !fs.Changed("logit-l2") && c.LogitL2 != 0 {
		mf.logitL2 = c.LogitL2
	}
	spec := night.FitSpec{Name: mf.name, Purchase: mf.btyd, LogitL2: mf.logitL2}
	spec.Fit.Penalizer = mf.penalizer
	if !slices.Contains(night.PurchaseModels, mf.btyd) {
		return spec, usagef("--btyd %q: want one of %s", mf.btyd, strings.Join(night.PurchaseModels, ", "))
	}
	if !(mf.logitL2 > 0) {
		return spec, usagef("--logit-l2 must be positive")
	}
	if mf.penalizer < 0 {
		return spec, usagef("--penalizer must be ≥ 0")
	}
	return spec, nil
}

func runFit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "fit", "[--data DIR] --as-of YYYY-MM-DD [--model bgnbd|pareto|mbgnbd|logit|auto] [--unit week|day]", fitExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "end of the calibration period (YYYY-MM-DD, in --timezone)")
	mflags := addModelFlags(fs, "bgnbd", "bgnbd, pareto or mbgnbd; logit adds the supervised risk model; auto keeps it only if it backtests better")
	horizon := fs.String("horizon", "90d", "logit and auto: the churn horizon the risk model predicts (use the score horizon)")
	cal := addCalendarFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	spec, err := mflags.resolve(fs, cfg)
	if err != nil {
		return err
	}
	if !slices.Contains(night.ModelChoices, spec.Name) {
		return usagef("--model %q: want one of %s", spec.Name, strings.Join(night.ModelChoices, ", "))
	}
	if !fs.Changed("horizon") && cfg.Score.Horizon != "" {
		*horizon = cfg.Score.Horizon
	}
	days, err := parseDays(*horizon)
	if err != nil || days != math.Trunc(days) {
		return usagef("--horizon %q: want whole days (90d) or weeks (13w)", *horizon)
	}
	spec.HorizonDays = int(days)
	runCalendar(e, fs, cfg, *data, *asOf, cal)
	fo, err := featuresOptions(fs, cfg, *asOf, "", cal)
	if err != nil {
		return err
	}
	w, release, err := lockWarehouse(*data, "churn fit")
	if err != nil {
		return err
	}
	defer release()
	res, why, err := night.ReuseOrComputeFeatures(ctx, w, w.RunDir(fo.AsOf.Format("2006-01-02")), fo, night.FitColumns...)
	e.log.Info("features", "as_of", fo.AsOf.Format("2006-01-02"), "source", why)
	if err != nil {
		return err
	}
	mf, _, err := night.FitSpecModels(ctx, w, fo, res, spec)
	if err != nil {
		return err
	}
	dir := w.RunDir(fo.AsOf.Format("2006-01-02"))
	if err := night.WriteModelFile(dir, mf); err != nil {
		return err
	}
	attrs := []any{"model", mf.Model}
	pm, err := mf.PurchaseModel()
	if err != nil {
		return err
	}
	for i, n := range pm.ParamNames() {
		attrs = append(attrs, n, pm.Params()[i])
	}
	attrs = append(attrs, "log_likelihood", mf.LogLik, "customers", mf.Customers, "patterns", mf.Patterns)
	if mf.Spend != nil {
		attrs = append(attrs, "p", mf.Spend.Params["p"], "q", mf.Spend.Params["q"], "gamma", mf.Spend.Params["gamma"])
	}
	if mf.Risk != nil {
		attrs = append(attrs, "risk_model", fmt.Sprintf("logit trained on %s, validation AUC %.4f", mf.Risk.LabelWindow, mf.Risk.ValidAUC))
	}
	if mf.ChurnRisk != nil {
		attrs = append(attrs, "churn_risk", mf.ChurnRisk.Source, "why", mf.ChurnRisk.Reason)
	}
	attrs = append(attrs, "path", filepath.Join(dir, "model.json"))
	e.log.Info("fit done", attrs...)
	return nil
}
