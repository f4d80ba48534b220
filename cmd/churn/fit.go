package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline"
)

const fitExamples = `  churn fit --data ./churn-data --as-of 1997-09-30
  churn fit --as-of 1997-09-30 --model pareto
  churn fit --as-of 2024-06-30 --unit day --penalizer 0.001
`

func runFit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "fit", "[--data DIR] --as-of YYYY-MM-DD [--model bgnbd|pareto|mbgnbd] [--unit week|day]", fitExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "end of the calibration period (YYYY-MM-DD, in --timezone)")
	name := fs.String("model", "bgnbd", "purchase model: bgnbd, pareto or mbgnbd")
	cal := addCalendarFlags(fs)
	var opt model.FitOptions
	fs.Float64Var(&opt.Penalizer, "penalizer", 0, "L2 penalty on the parameters (lifetimes' penalizer_coef)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	if !fs.Changed("model") && cfg.Model.Name != "" {
		*name = cfg.Model.Name
	}
	if !slices.Contains(pipeline.PurchaseModels, *name) {
		return usagef("--model %q: want one of %s", *name, strings.Join(pipeline.PurchaseModels, ", "))
	}
	if !fs.Changed("penalizer") {
		opt.Penalizer = cfg.Model.Penalizer
	}
	fo, err := featuresOptions(fs, cfg, *asOf, "", cal)
	if err != nil {
		return err
	}
	w, release, err := lockWarehouse(*data, "churn fit")
	if err != nil {
		return err
	}
	defer release()
	mf, err := pipeline.FitRun(ctx, w, fo, *name, opt)
	if err != nil {
		return err
	}
	dir := w.RunDir(fo.AsOf.Format("2006-01-02"))
	if err := pipeline.WriteModelFile(dir, mf); err != nil {
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
	attrs = append(attrs, "path", filepath.Join(dir, "model.json"))
	e.log.Info("fit done", attrs...)
	return nil
}
