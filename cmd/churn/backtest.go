package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"
)

const backtestExamples = `  churn backtest --data ./churn-data --cutoff 1997-09-30 --holdout 39w
  churn backtest --cutoff 2024-01-01 --holdout 26w --model all
  churn backtest --cutoff 2024-01-01 --holdout 90d --model pareto --out bt/
`

func runBacktest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "backtest", "[--data DIR] --cutoff YYYY-MM-DD --holdout 26w [--model bgnbd|pareto|mbgnbd|logit|all]", backtestExamples)
	data, config := dataFlags(fs)
	cutoff := fs.String("cutoff", "", "last day of the calibration period (YYYY-MM-DD)")
	holdout := fs.String("holdout", "26w", "length of the holdout after the cutoff: days (90d) or weeks (26w)")
	mflags := addModelFlags(fs, "all", "bgnbd, pareto, mbgnbd, logit, a comma-separated list, or all")
	cal := addCalendarFlags(fs)
	out := fs.String("out", "", "directory for backtest.json and the CSVs (default DATA/backtests/<cutoff>_<holdout>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	fo, err := featuresOptions(fs, cfg, *cutoff, "", cal)
	if err != nil {
		if *cutoff == "" {
			return usagef("--cutoff is required")
		}
		return err
	}
	days, err := parseDays(*holdout)
	if err != nil || days != math.Trunc(days) {
		return usagef("--holdout %q: want whole days (90d) or weeks (26w)", *holdout)
	}
	spec, err := mflags.resolve(fs, cfg)
	if err != nil {
		return err
	}
	if !fs.Changed("model") {
		spec.Name = "all" // the config's model: name is what fit and run use
	}
	choices := append(append([]string(nil), night.PurchaseModels...), "logit")
	models := choices
	if spec.Name != "all" {
		models = strings.Split(spec.Name, ",")
		for _, m := range models {
			if !slices.Contains(choices, m) {
				return usagef("--model %q: want %s or all", m, strings.Join(choices, ", "))
			}
		}
	}
	// With --out the backtest only reads the warehouse: no lock, nothing written in it.
	var w *warehouse.Warehouse
	if *out != "" {
		if w, err = openReader(*data); err != nil {
			return err
		}
	} else {
		var release func()
		if w, release, err = lockWarehouse(*data, "churn backtest"); err != nil {
			return err
		}
		defer release()
	}
	bt, err := night.RunBacktest(ctx, w, night.BacktestOptions{Features: fo, HoldoutDays: int(days), Models: models,
		Purchase: spec.Purchase, LogitL2: spec.LogitL2, Fit: spec.Fit})
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(*data, "backtests", bt.Cutoff+"_"+strings.TrimSpace(*holdout))
	}
	if err := night.WriteBacktest(dir, bt); err != nil {
		return err
	}
	printBacktest(e, bt)
	e.log.Info("backtest done", "best", bt.Best, "path", filepath.Join(dir, "backtest.json"))
	for _, m := range bt.Models {
		switch {
		case m.Error == "":
		case spec.Name == "all" && m.Model == "logit":
			// all includes logit where the history allows; it is not an error when it does not.
			e.log.Warn("backtest: no logit", "why", m.Error)
		default:
			return fmt.Errorf("backtest: model %s: %s", m.Model, m.Error)
		}
	}
	return nil
}

// printBacktest prints one column per model.
func printBacktest(e *env, bt *night.Backtest) {
	fmt.Fprintf(e.stdout, "Backtest: calibration to %s, holdout to %s (%d days); %d customers, %.1f %% without a holdout purchase\n\n",
		bt.Cutoff, bt.HoldoutEnd, bt.HoldoutDays, bt.Customers, 100*bt.ChurnRate)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "metric\t"
	for _, m := range bt.Models {
		head += m.Model + "\t"
	}
	fmt.Fprintln(tw, head)
	row := func(label, format string, get func(m night.ModelMetrics) float64) {
		line := label + "\t"
		for _, m := range bt.Models {
			if m.Error != "" {
				line += "failed\t"
				continue
			}
			if v := get(m); math.IsNaN(v) {
				line += "—\t"
			} else {
				line += fmt.Sprintf(format, v) + "\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	row("log-likelihood", "%.2f", func(m night.ModelMetrics) float64 {
		if m.Model == "logit" {
			return math.NaN() // a Bernoulli likelihood on other data: not comparable
		}
		return m.LogLik
	})
	row("holdout purchases, actual", "%.0f", func(m night.ModelMetrics) float64 { return m.ActualRepeat })
	row("holdout purchases, predicted", "%.1f", func(m night.ModelMetrics) float64 { return m.PredRepeat })
	row("total error %", "%+.1f", func(m night.ModelMetrics) float64 { return m.TotalErrorPct })
	row("MAE per customer", "%.4f", func(m night.ModelMetrics) float64 { return m.MAE })
	row("RMSE per customer", "%.4f", func(m night.ModelMetrics) float64 { return m.RMSE })
	row("correlation", "%.4f", func(m night.ModelMetrics) float64 { return m.Correlation })
	row("churn AUC", "%.4f", func(m night.ModelMetrics) float64 { return m.ChurnAUC })
	row("Brier score", "%.4f", func(m night.ModelMetrics) float64 { return m.Brier })
	row("lift, top decile", "%.3f", func(m night.ModelMetrics) float64 { return m.LiftTop10 })
	row("lift, top quintile", "%.3f", func(m night.ModelMetrics) float64 { return m.LiftTop20 })
	row("holdout spend, actual", "%.2f", func(m night.ModelMetrics) float64 { return m.SpendActual })
	row("holdout spend, predicted", "%.2f", func(m night.ModelMetrics) float64 { return m.SpendPred })
	tw.Flush()
	if bt.Best != "" {
		fmt.Fprintf(e.stdout, "\nBest on churn: %s (%s)\n", bt.Best, bt.BestReason)
	}
}
