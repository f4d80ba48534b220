package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/report"
	"github.com/churnhq/churn/pipeline/warehouse"
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
	cal := addCalendarFlags(fs)
	mflags := addModelFlags(fs, "bgnbd", "bgnbd, pareto or mbgnbd; logit adds the supervised risk model; auto keeps it only if it backtests better")
	perks := fs.String("perks", "", "perk catalog; with --budget, the run makes a perk plan")
	budget := fs.String("budget", "", "perk budget in the reporting currency")
	tiers := fs.String("tiers", "high,medium", "risk tiers eligible for a perk")
	pflags := addPlanFlags(fs)
	history := fs.String("history", "", "campaign history (customer_id, perk_id|control, sent_at) to learn each perk's uplift from")
	holdout := fs.String("backtest-holdout", "", "holdout of the nightly backtest (default: the horizon)")
	maxBad := fs.Float64("max-bad-fraction", 0.01, "share of rejected rows above which the ingest commits nothing (exit 3)")
	profile := fs.String("profile", "", "write pprof profiles of the run (cpu.pprof, heap.pprof) into this directory")
	sf := addScoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *profile != "" {
		stop, err := startProfile(*profile)
		if err != nil {
			return err
		}
		defer stop()
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
		z := *cal.tz
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
	fo, err := featuresOptions(fs, cfg, *asOf, "", cal)
	if err != nil {
		return err
	}
	so, err := sf.resolve(fs, cfg)
	if err != nil {
		return err
	}
	formats, err := sf.exports.resolve(fs, cfg)
	if err != nil {
		return err
	}
	opt := pipeline.RunOptions{ExportFormats: formats, Progress: terminal(e.stderr), AsOf: fo.AsOf, Inbox: *inbox, Features: fo, Model: cfg.Model, Score: so, Excel: sf.excel,
		Version: version, Log: e.log, FailAfterStep: os.Getenv("CHURN_FAIL_AFTER")}
	spec, err := mflags.resolve(fs, cfg)
	if err != nil {
		return err
	}
	if !slices.Contains(night.ModelChoices, spec.Name) {
		return usagef("--model %q: want one of %s", spec.Name, strings.Join(night.ModelChoices, ", "))
	}
	opt.Model.Name, opt.Model.BTYD, opt.Model.LogitL2, opt.Model.Penalizer = spec.Name, spec.Purchase, spec.LogitL2, spec.Fit.Penalizer
	opt.Ingest.Source = cfg.SourceOptions
	opt.Ingest.Sources = cfg.Sources
	opt.Ingest.MaxBadFraction = *maxBad
	if !fs.Changed("max-bad-fraction") && cfg.MaxBadFraction != nil {
		opt.Ingest.MaxBadFraction = *cfg.MaxBadFraction
	}
	opt.Ingest.Command = "churn run"
	opt.Checks = cfg.Checks
	if *perks != "" || cfg.Recommend.Perks != "" {
		po, path, err := planOptions(fs, cfg, *perks, *budget, *tiers, pflags)
		if err != nil {
			return err
		}
		opt.Perks, opt.Plan = path, po
		opt.History = *history
		if opt.History == "" {
			opt.History = rel(cfg.Recommend.History)
		}
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
		Score  night.ScoreOptions   `json:"score"`
		Unit   string               `json:"unit"`
		TZ     string               `json:"timezone"`
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
	printRunSummary(e, rm, dir)
	if pc := cfg.Exports.Postgres; pc != nil {
		return exportRun(ctx, e, pc, dir)
	}
	return nil
}

// terminal returns w if it is a terminal (progress lines are for people,
// not for cron's mail or a log collector), else nil.
func terminal(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return w
		}
	}
	return nil
}

// printRunSummary tells a person what the night produced and where.
func printRunSummary(e *env, rm *pipeline.RunManifest, dir string) {
	w := e.stdout
	fmt.Fprintf(w, "%s\n", dir)
	fmt.Fprintf(w, "Run of %s: %.0f customers, model %s\n", rm.AsOf, rm.Model.Customers, rm.Model.ModelLabel())
	var feats night.FeaturesMeta
	if b, err := os.ReadFile(filepath.Join(dir, "features.json")); err == nil && json.Unmarshal(b, &feats) == nil {
		fmt.Fprintln(w, "Customers per RFM segment:")
		names := make([]string, 0, len(feats.Segments))
		for n := range feats.Segments {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return feats.Segments[names[i]] > feats.Segments[names[j]] })
		for _, n := range names {
			fmt.Fprintf(w, "  %-20s %7d\n", n, feats.Segments[n])
		}
	}
	if c := rm.Model.ChurnRisk; c != nil {
		fmt.Fprintf(w, "churn_risk from %s (%s)\n", c.Source, c.Reason)
		if c.PurchaseReason != "" {
			fmt.Fprintf(w, "purchase model %s (%s)\n", rm.Model.Model, c.PurchaseReason)
		}
	}
	fmt.Fprintf(w, "Customers per risk tier: high %d, medium %d, low %d\n", rm.Counts["tier_high"], rm.Counts["tier_medium"], rm.Counts["tier_low"])
	if n := rm.Counts["one_time_p_alive_1"]; n > 0 {
		fmt.Fprintf(w, "%d one-time buyers have p_alive 1: %s's definition (no repeat purchase, no chance to drop out yet), not a sign they are active; act on their churn_risk\n", n, rm.Model.Model)
	}
	if p := rm.Plan; p != nil {
		fmt.Fprintf(w, "Perk plan: %d customers get a perk, %d held out as controls; expected cost %.2f of %.2f %s; expected value %.2f (optimality gap %.3f %%); past %.2f no perk has positive value\n",
			p.Recommended, p.Controls, p.BudgetUsed, p.Budget, p.Currency, p.Objective, p.GapPct, p.Saturation)
	}
	for _, m := range rm.Backtest {
		if m.Error == "" {
			fmt.Fprintf(w, "Backtest (%s): churn AUC %.3f, holdout purchases %.0f predicted vs %.0f actual\n", m.Model, m.ChurnAUC, m.PredRepeat, m.ActualRepeat)
		}
	}
	fmt.Fprintln(w, "Outputs:")
	fmt.Fprintf(w, "  CRM feed       %s\n", filepath.Join(dir, "exports", "crm_scores.csv"))
	for _, form := range []string{"parquet", "jsonl"} {
		if p := filepath.Join(dir, "exports", "crm_scores."+form); fileExists(p) {
			fmt.Fprintf(w, "  CRM feed       %s (for machines: exact ids)\n", p)
		}
	}
	fmt.Fprintf(w, "  CRM delta      %s (%d rows)\n", filepath.Join(dir, "exports", "crm_delta.csv"), rm.Counts["delta_rows"])
	fmt.Fprintf(w, "  segment files  %s\n", filepath.Join(dir, "segments")+string(filepath.Separator))
	if rm.Plan != nil {
		fmt.Fprintf(w, "  perk plan      %s\n", filepath.Join(dir, "plan.csv"))
		fmt.Fprintf(w, "  campaign       %s (append to the campaign history)\n", filepath.Join(dir, "campaign.csv"))
	}
	fmt.Fprintf(w, "  report         %s\n", filepath.Join(dir, "report.html"))
	fmt.Fprintf(w, "  run manifest   %s\n", filepath.Join(dir, "run.json"))
}

const reportExamples = `  churn report --data ./churn-data --as-of 1998-06-30
`

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", "[--data DIR] --as-of YYYY-MM-DD", reportExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date of a scored run")
	outDir := fs.String("out", "", "write report.html into this directory instead of the run's (reads the warehouse only: no lock)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := loadConfig(fs, *config, data); err != nil {
		return usagef("%v", err)
	}
	if _, err := time.Parse(time.DateOnly, *asOf); err != nil {
		return usagef("--as-of %q: want YYYY-MM-DD", *asOf)
	}
	var w *warehouse.Warehouse
	var err error
	if *outDir != "" {
		w, err = openReader(*data)
	} else {
		var release func()
		w, release, err = lockWarehouse(*data, "churn report")
		if release != nil {
			defer release()
		}
	}
	if err != nil {
		return err
	}
	dir := w.RunDir(*asOf)
	d, err := report.LoadReportData(w, dir)
	if err != nil {
		return err
	}
	target := cmp.Or(*outDir, dir)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := report.WriteReport(target, d); err != nil {
		return err
	}
	e.log.Info("report done", "path", filepath.Join(target, "report.html"))
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
