package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline"
	"github.com/spf13/pflag"
)

const featuresExamples = `  churn features --data ./churn-data --as-of 1997-09-30
  churn features --as-of 2024-06-30 --timezone Europe/Berlin --unit day --out features.csv
  churn features --as-of 1997-09-30 --holdout-end 1998-06-30     # adds holdout_orders, holdout_spend
`

func runFeatures(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "features", "[--data DIR] --as-of YYYY-MM-DD [flags]", featuresExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "last day included (YYYY-MM-DD, in --timezone)")
	holdout := fs.String("holdout-end", "", "last day of a holdout window (as-of, end] for backtests")
	cal := addCalendarFlags(fs)
	out := fs.String("out", "", "also write the features to FILE (.parquet or .csv)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	opt, err := featuresOptions(fs, cfg, *asOf, *holdout, cal)
	if err != nil {
		return err
	}
	// With --out the command can do with reading: on a warehouse it cannot
	// write (read-only, or another writer at work) it writes FILE only.
	w, release, err := lockWarehouse(*data, "churn features")
	readOnly := false
	switch {
	case err != nil && *out != "" && notWritable(err):
		if w, err = openReader(*data); err != nil {
			return err
		}
		readOnly = true
		e.log.Info("the warehouse cannot be written now: reading it only, the features go to --out alone", "why", err, "out", *out)
	case err != nil:
		return err
	default:
		defer release()
	}
	// The per-customer aggregates are most of the heap and stay live to the
	// end; with the CLI's 50 % slack over ~0.75 GB of them (ten million
	// transactions) the heap peaked at ~1 GB before a collection. 20 % costs
	// a few more collections, which are cheap here (the aggregates hold no
	// pointers), and kept ten million rows at 860-880 MiB. GOGC, when set,
	// still decides.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(20))
	}
	start := time.Now()
	prov, err := night.ProvenanceOf(w, opt)
	if err != nil {
		return err
	}
	res, rows, err := night.StreamFeatures(ctx, w, opt)
	if err != nil {
		return err
	}
	dir := w.RunDir(opt.AsOf.Format("2006-01-02"))
	if readOnly {
		if err := night.WriteFeaturesFile(*out, res, rows.Each); err != nil {
			return err
		}
		e.log.Info("features done", "as_of", opt.AsOf.Format("2006-01-02"), "customers", res.Count, "path", *out, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := night.WriteFeaturesStream(dir, res, rows.Each, prov, *out); err != nil {
		return err
	}
	e.log.Info("features done", "as_of", opt.AsOf.Format("2006-01-02"), "customers", res.Count,
		"without_purchases", res.ExcludedNoOrders, "path", filepath.Join(dir, "features.parquet"), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// calendarFlags are the flags every command that computes features takes.
type calendarFlags struct{ tz, unit, fx *string }

func addCalendarFlags(fs *pflag.FlagSet) calendarFlags {
	return calendarFlags{
		tz:   fs.String("timezone", "", "reporting time zone of days (default UTC)"),
		unit: fs.String("unit", "week", "time unit of recency, T and the models: week or day"),
		fx:   fs.String("fx", "", "CSV of currency,rate into one reporting currency"),
	}
}

// runCalendar makes a command on an existing run (score, recommend, fit)
// use the run's time zone and unit, from its features.json, unless the
// flags or the config name them: re-scoring a run of America/New_York in
// UTC would move customers between days and rewrite its feed with other
// numbers. It logs what it took.
func runCalendar(e *env, fs interface{ Changed(string) bool }, cfg *pipeline.Config, data, asOf string, cal calendarFlags) {
	if _, err := time.Parse(time.DateOnly, asOf); err != nil {
		return // featuresOptions says what is wrong
	}
	meta, err := warehouse.ReadJSONFile[night.FeaturesMeta](filepath.Join((&warehouse.Warehouse{Dir: data}).RunDir(asOf), "features.json"))
	if err != nil || meta == nil {
		return
	}
	if !fs.Changed("timezone") && cfg.Features.Timezone == "" && meta.Timezone != "" && meta.Timezone != *cal.tz {
		if meta.Timezone != "UTC" || *cal.tz != "" {
			*cal.tz = meta.Timezone
			e.log.Info("the run's time zone", "timezone", meta.Timezone, "from", "features.json", "override", "--timezone")
		}
	}
	if !fs.Changed("unit") && cfg.Features.Unit == "" && meta.Unit != "" && meta.Unit != *cal.unit {
		*cal.unit = meta.Unit
		e.log.Info("the run's time unit", "unit", meta.Unit, "from", "features.json", "override", "--unit")
	}
}

// featuresOptions merges flags and the config's features: section.
func featuresOptions(fs interface{ Changed(string) bool }, cfg *pipeline.Config, asOf, holdout string, cal calendarFlags) (night.FeaturesOptions, error) {
	tz, unit, fx := *cal.tz, *cal.unit, *cal.fx
	var opt night.FeaturesOptions
	if asOf == "" {
		return opt, usagef("--as-of is required")
	}
	d, err := time.Parse("2006-01-02", asOf)
	if err != nil {
		return opt, usagef("--as-of %q: want YYYY-MM-DD", asOf)
	}
	opt.AsOf = d
	if holdout != "" {
		h, err := time.Parse("2006-01-02", holdout)
		if err != nil || !h.After(d) {
			return opt, usagef("--holdout-end %q: want YYYY-MM-DD after --as-of", holdout)
		}
		opt.HoldoutEnd = h
	}
	if !fs.Changed("timezone") && cfg.Features.Timezone != "" {
		tz = cfg.Features.Timezone
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return opt, usagef("--timezone %q: %v", tz, err)
	}
	opt.Timezone = tz
	if !fs.Changed("unit") && cfg.Features.Unit != "" {
		unit = cfg.Features.Unit
	}
	if opt.Unit, err = features.ParseUnit(unit); err != nil {
		return opt, usagef("--unit: %v", err)
	}
	opt.FXFile = fx
	if len(cfg.Features.Segments) > 0 {
		var rules []features.SegmentRule
		for i, r := range cfg.Features.Segments {
			var rule features.SegmentRule
			rule.Name = r.Name
			for _, p := range []struct {
				dst *[2]int
				s   string
			}{{&rule.R, r.R}, {&rule.F, r.F}, {&rule.M, r.M}, {&rule.FM, r.FM}} {
				if *p.dst, err = features.ParseScoreRange(p.s); err != nil {
					return opt, usagef("config features.segments[%d] (%s): %v", i, r.Name, err)
				}
			}
			if rule.Name == "" {
				return opt, usagef("config features.segments[%d]: name is empty", i)
			}
			rules = append(rules, rule)
		}
		if opt.Segments, err = features.NewSegmentTable(rules); err != nil {
			return opt, usagef("config: %v", err)
		}
	}
	return opt, nil
}
