package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/night"

	"github.com/churnhq/churn/pipeline"
	"github.com/spf13/pflag"
)

const scoreExamples = `  churn score --data ./churn-data --as-of 1997-09-30
  churn score --as-of 2024-06-30 --horizon 26w --clv-months 24 --discount-rate 0.08 --margin 0.35
  churn score --as-of 2024-06-30 --risk-tiers 0.6,0.9 --excel
`

// scoreFlags are the flags of the scoring step, shared by score and run.
type scoreFlags struct {
	horizon, tiers string
	opt            night.ScoreOptions
	excel          bool
	exports        *exportFlags
}

// exportFlags is --export-formats, shared by score, recommend and run.
type exportFlags struct{ formats string }

func addExportFlags(fs *pflag.FlagSet) *exportFlags {
	ef := &exportFlags{}
	fs.StringVar(&ef.formats, "export-formats", strings.Join(export.DefaultExportFormats, ","),
		"forms of the CRM feed: csv (always), parquet, jsonl")
	return ef
}

// resolve merges the config's exports: section (the flag wins); the CSV
// feed is always among them (people read it, and the next run's delta).
func (ef *exportFlags) resolve(fs *pflag.FlagSet, cfg *pipeline.Config) ([]string, error) {
	s := ef.formats
	if !fs.Changed("export-formats") && len(cfg.Exports.Formats) > 0 {
		s = strings.Join(cfg.Exports.Formats, ",")
	}
	formats, err := export.ParseExportFormats("csv," + s)
	if err != nil {
		return nil, usagef("--export-formats: %v", err)
	}
	return formats, nil
}

func addScoreFlags(fs *pflag.FlagSet) *scoreFlags {
	sf := &scoreFlags{opt: night.DefaultScoreOptions()}
	fs.StringVar(&sf.horizon, "horizon", "90d", "horizon of churn_risk and expected_purchases: days (90d) or weeks (13w)")
	fs.IntVar(&sf.opt.CLVMonths, "clv-months", sf.opt.CLVMonths, "CLV horizon in months")
	fs.Float64Var(&sf.opt.DiscountRate, "discount-rate", sf.opt.DiscountRate, "annual discount rate of CLV (0.10 = 10 %)")
	fs.Float64Var(&sf.opt.Margin, "margin", sf.opt.Margin, "share of spend that is margin, for CLV")
	fs.StringVar(&sf.tiers, "risk-tiers", "0.5,0.8", "churn_risk thresholds of the medium and high tiers")
	fs.Float64Var(&sf.opt.TierHysteresis, "tier-hysteresis", sf.opt.TierHysteresis, "margin by which churn_risk must leave the previous run's tier before a customer changes tier (0 = none)")
	fs.BoolVar(&sf.excel, "excel", false, "start every CSV with a UTF-8 byte-order mark (for Excel)")
	sf.exports = addExportFlags(fs)
	return sf
}

// resolve merges the config's score: section (flags win) and parses.
func (sf *scoreFlags) resolve(fs *pflag.FlagSet, cfg *pipeline.Config) (night.ScoreOptions, error) {
	c := cfg.Score
	if !fs.Changed("horizon") && c.Horizon != "" {
		sf.horizon = c.Horizon
	}
	if !fs.Changed("clv-months") && c.CLVMonths != 0 {
		sf.opt.CLVMonths = c.CLVMonths
	}
	if !fs.Changed("discount-rate") && c.DiscountRate != nil {
		sf.opt.DiscountRate = *c.DiscountRate
	}
	if !fs.Changed("margin") && c.Margin != 0 {
		sf.opt.Margin = c.Margin
	}
	if !fs.Changed("risk-tiers") && c.RiskTiers != "" {
		sf.tiers = c.RiskTiers
	}
	if !fs.Changed("tier-hysteresis") && c.TierHysteresis != nil {
		sf.opt.TierHysteresis = *c.TierHysteresis
	}
	if !fs.Changed("excel") && c.Excel {
		sf.excel = true
	}
	days, err := parseDays(sf.horizon)
	if err != nil {
		return sf.opt, usagef("--horizon: %v", err)
	}
	sf.opt.HorizonDays = days
	parts := strings.Split(sf.tiers, ",")
	if len(parts) != 2 {
		return sf.opt, usagef("--risk-tiers %q: want two thresholds, e.g. 0.5,0.8", sf.tiers)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return sf.opt, usagef("--risk-tiers %q: %q is not a number", sf.tiers, p)
		}
		if i == 0 {
			sf.opt.TierMedium = v
		} else {
			sf.opt.TierHigh = v
		}
	}
	if err := sf.opt.Validate(); err != nil {
		return sf.opt, usagef("%v", err)
	}
	return sf.opt, nil
}

// parseDays reads a span as days: "90d", "13w", or a plain number of days.
func parseDays(s string) (float64, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(t, "d"):
		t = t[:len(t)-1]
	case strings.HasSuffix(t, "w"):
		t, mult = t[:len(t)-1], 7
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) {
		return 0, fmt.Errorf("%q: want a positive number of days (90d) or weeks (26w)", s)
	}
	return v * mult, nil
}

func runScore(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "score", "[--data DIR] --as-of YYYY-MM-DD [--horizon 90d] [flags]", scoreExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date of a run that has a model.json (churn fit)")
	cal := addCalendarFlags(fs)
	sf := addScoreFlags(fs)
	rewrite := addRewriteFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	runCalendar(e, fs, cfg, *data, *asOf, cal)
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
	w, release, dir, mf, err := lockFittedRun(*data, "churn score", fo.AsOf, "churn fit --as-of "+fo.AsOf.Format("2006-01-02"))
	if err != nil {
		return err
	}
	defer release()
	if err := checkRunCalendar(e, dir, fo, *rewrite); err != nil {
		return err
	}
	if so, err = adoptScoreOptions(e, fs, cfg, dir, so, *rewrite); err != nil {
		return err
	}
	res, why, err := night.ReuseOrComputeFeatures(ctx, w, dir, fo)
	e.log.Info("features", "as_of", fo.AsOf.Format("2006-01-02"), "source", why)
	if err != nil {
		return err
	}
	scores, meta, err := night.ScoreCustomersContext(ctx, res, mf, so)
	if err != nil {
		return err
	}
	if err := night.ApplyHysteresis(res, scores, w.PreviousRun(filepath.Base(dir)), so, &meta); err != nil {
		return err
	}
	if err := night.WriteScores(dir, res, scores, meta); err != nil {
		return err
	}
	ex, err := export.WriteExports(dir, w.PreviousRun(filepath.Base(dir)), res, scores, nil, mf,
		export.ExportOptions{Excel: sf.excel, Timezone: fo.Timezone, Formats: formats, HorizonDays: so.HorizonDays})
	if err != nil {
		return err
	}
	e.log.Info("score done", "model", mf.ModelLabel(), "customers", meta.Customers, "high", meta.Tiers["high"],
		"medium", meta.Tiers["medium"], "low", meta.Tiers["low"], "delta_rows", ex.DeltaRows,
		"scores", filepath.Join(dir, "scores.parquet"), "crm_feed", filepath.Join(dir, "exports", "crm_scores.csv"))
	return nil
}
