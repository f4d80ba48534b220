package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/churnhq/churn/pipeline"
)

const runExamples = `  churn run --data ./churn-data --config churn.yaml --inbox ./inbox
  churn run --config churn.yaml --as-of 2024-06-30
  # cron, every night at 02:30, for the day before:
  30 2 * * * cd /srv/churn && churn --log-format json run --config churn.yaml >> /var/log/churn.log 2>&1
`

func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "run", "[--data DIR] [--config FILE] [--as-of D] [--inbox DIR] [flags]", runExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date (default: yesterday, the last complete day, in --timezone)")
	inbox := fs.String("inbox", "", "directory of new exports to ingest first (already-ingested files are skipped by hash)")
	tz := fs.String("timezone", "", "reporting time zone of days (default UTC)")
	unit := fs.String("unit", "week", "time unit of the fit: week or day")
	fx := fs.String("fx", "", "CSV of currency,rate into one reporting currency")
	name := fs.String("model", "bgnbd", "purchase model: bgnbd, pareto or mbgnbd")
	perks := fs.String("perks", "", "perk catalog; with --budget, the run makes a perk plan")
	budget := fs.String("budget", "", "perk budget in the reporting currency")
	tiers := fs.String("tiers", "high,medium", "risk tiers eligible for a perk")
	holdout := fs.String("backtest-holdout", "", "holdout of the nightly backtest (default: the horizon)")
	maxBad := fs.Float64("max-bad-fraction", 0.01, "share of rejected rows above which the ingest commits nothing (exit 3)")
	sf := addScoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	// Paths in the config file are relative to the config file.
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) || *config == "" {
			return p
		}
		return filepath.Join(filepath.Dir(*config), p)
	}
	if !fs.Changed("inbox") {
		*inbox = rel(cfg.Inbox)
	}
	if *perks == "" {
		cfg.Recommend.Perks = rel(cfg.Recommend.Perks)
	}
	if *asOf == "" {
		loc := time.UTC
		z := *tz
		if z == "" {
			z = cfg.Features.Timezone
		}
		if z != "" {
			if loc, err = time.LoadLocation(z); err != nil {
				return usagef("--timezone %q: %v", z, err)
			}
		}
		*asOf = time.Now().In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	}
	fo, err := featuresOptions(fs, cfg, *asOf, "", *tz, *unit, *fx)
	if err != nil {
		return err
	}
	so, err := sf.resolve(fs, cfg)
	if err != nil {
		return err
	}
	opt := pipeline.RunOptions{AsOf: fo.AsOf, Inbox: *inbox, Features: fo, Model: cfg.Model, Score: so, Excel: sf.excel,
		Version: version, Log: e.log, FailAfterStep: os.Getenv("CHURN_FAIL_AFTER")}
	if fs.Changed("model") || opt.Model.Name == "" {
		opt.Model.Name = *name
	}
	if !slices.Contains(pipeline.PurchaseModels, opt.Model.Name) {
		return usagef("--model %q: want one of %s", opt.Model.Name, strings.Join(pipeline.PurchaseModels, ", "))
	}
	opt.Ingest.Source = cfg.SourceOptions
	opt.Ingest.MaxBadFraction = *maxBad
	if !fs.Changed("max-bad-fraction") && cfg.MaxBadFraction != nil {
		opt.Ingest.MaxBadFraction = *cfg.MaxBadFraction
	}
	opt.Ingest.Command = "churn run"
	if *perks != "" || cfg.Recommend.Perks != "" {
		po, path, err := planOptions(fs, cfg, *perks, *budget, *tiers)
		if err != nil {
			return err
		}
		opt.Perks, opt.Plan = path, po
	}
	if *holdout != "" {
		d, err := parseDays(*holdout)
		if err != nil {
			return usagef("--backtest-holdout: %v", err)
		}
		opt.BacktestDays = int(d)
	}
	opt.Config = struct {
		Data   string               `json:"data"`
		Inbox  string               `json:"inbox"`
		Perks  string               `json:"perks"`
		Budget float64              `json:"budget"`
		Model  pipeline.ModelConfig `json:"model"`
		Score  pipeline.ScoreOptions
		Unit   string `json:"unit"`
		TZ     string `json:"timezone"`
	}{*data, *inbox, opt.Perks, opt.Plan.Budget, opt.Model, so, fo.Unit.String(), fo.Timezone}
	w, release, err := lockWarehouse(*data, "churn run")
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	rm, dir, err := pipeline.Run(ctx, w, opt)
	if err != nil {
		return err
	}
	for _, wmsg := range rm.Warnings {
		e.log.Warn(wmsg)
	}
	e.log.Info("run done", "as_of", rm.AsOf, "customers", rm.Model.Customers, "high", rm.Counts["tier_high"],
		"delta_rows", rm.Counts["delta_rows"], "dir", dir, "took", time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(e.stdout, dir)
	return nil
}

const reportExamples = `  churn report --data ./churn-data --as-of 1998-06-30
`

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", "[--data DIR] --as-of YYYY-MM-DD", reportExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date of a scored run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := loadConfig(fs, *config, data); err != nil {
		return usagef("%v", err)
	}
	if _, err := time.Parse(time.DateOnly, *asOf); err != nil {
		return usagef("--as-of %q: want YYYY-MM-DD", *asOf)
	}
	w, release, err := lockWarehouse(*data, "churn report")
	if err != nil {
		return err
	}
	defer release()
	dir := w.RunDir(*asOf)
	d, err := pipeline.LoadReportData(w, dir)
	if err != nil {
		return err
	}
	if err := pipeline.WriteReport(dir, d); err != nil {
		return err
	}
	e.log.Info("report done", "path", filepath.Join(dir, "report.html"))
	return nil
}
