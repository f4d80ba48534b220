package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/spf13/pflag"
)

// A run's settings belong to the run. churn score and churn recommend on
// an existing run take its time zone and unit (runCalendar) and, for
// churn score, its score options, unless told otherwise; told otherwise,
// they would rewrite the run's outputs with other settings than the rest
// of the run (its run.json, report, features.json), so they refuse, and
// --rewrite says the rewrite is meant.

// addRewriteFlag adds --rewrite.
func addRewriteFlag(fs *pflag.FlagSet) *bool {
	return fs.Bool("rewrite", false, "rewrite an existing run's outputs with settings other than the run's (time zone, unit, score options)")
}

// settingConflict is the refusal: which settings differ, and how to go on.
func settingConflict(dir string, diffs []string) error {
	return fmt.Errorf("%w: the run of %s was made with %s: this would rewrite its outputs with other settings; give the run's settings (or leave them out), or add --rewrite to replace them",
		warehouse.ErrOption, filepath.Base(dir), strings.Join(diffs, ", "))
}

// checkRunCalendar refuses a time zone or unit other than the run's
// features.json, unless rewrite.
func checkRunCalendar(e *env, dir string, fo night.FeaturesOptions, rewrite bool) error {
	meta, err := warehouse.ReadJSONFile[night.FeaturesMeta](filepath.Join(dir, "features.json"))
	if err != nil || meta == nil {
		return nil // no features yet: nothing to disagree with
	}
	var diffs []string
	zone := func(z string) string { return cmp.Or(z, "UTC") } // no --timezone is UTC
	if meta.Timezone != "" && zone(meta.Timezone) != zone(fo.Timezone) {
		diffs = append(diffs, fmt.Sprintf("--timezone %s (now %s)", meta.Timezone, zone(fo.Timezone)))
	}
	if meta.Unit != "" && meta.Unit != fo.Unit.String() {
		diffs = append(diffs, fmt.Sprintf("--unit %s (now %s)", meta.Unit, fo.Unit))
	}
	if len(diffs) == 0 {
		return nil
	}
	if !rewrite {
		return settingConflict(dir, diffs)
	}
	e.log.Warn("rewriting the run with other settings", "run", filepath.Base(dir), "was", strings.Join(diffs, ", "))
	return nil
}

// adoptScoreOptions is so with every option the user did not give (by
// flag or in the config) taken from the run's scores.json; a given one
// that differs from the run's is refused unless rewrite.
func adoptScoreOptions(e *env, fs *pflag.FlagSet, cfg *pipeline.Config, dir string, so night.ScoreOptions, rewrite bool) (night.ScoreOptions, error) {
	prev, err := night.ReadScoresMeta(dir)
	if err != nil {
		return so, nil // not scored yet
	}
	p, c := prev.ScoreOptions, cfg.Score
	var diffs []string
	take := func(flag string, inConfig bool, same bool, show string, adopt func()) {
		switch {
		case same:
		case fs.Changed(flag) || inConfig:
			diffs = append(diffs, show)
		default:
			adopt()
		}
	}
	take("horizon", c.Horizon != "", so.HorizonDays == p.HorizonDays, fmt.Sprintf("--horizon %gd", p.HorizonDays), func() { so.HorizonDays = p.HorizonDays })
	take("clv-months", c.CLVMonths != 0, so.CLVMonths == p.CLVMonths, fmt.Sprintf("--clv-months %d", p.CLVMonths), func() { so.CLVMonths = p.CLVMonths })
	take("discount-rate", c.DiscountRate != nil, so.DiscountRate == p.DiscountRate, fmt.Sprintf("--discount-rate %g", p.DiscountRate), func() { so.DiscountRate = p.DiscountRate })
	take("margin", c.Margin != 0, so.Margin == p.Margin, fmt.Sprintf("--margin %g", p.Margin), func() { so.Margin = p.Margin })
	take("risk-tiers", c.RiskTiers != "", so.TierMedium == p.TierMedium && so.TierHigh == p.TierHigh,
		fmt.Sprintf("--risk-tiers %g,%g", p.TierMedium, p.TierHigh), func() { so.TierMedium, so.TierHigh = p.TierMedium, p.TierHigh })
	take("tier-hysteresis", c.TierHysteresis != nil, so.TierHysteresis == p.TierHysteresis, fmt.Sprintf("--tier-hysteresis %g", p.TierHysteresis),
		func() { so.TierHysteresis = p.TierHysteresis })
	if len(diffs) > 0 {
		if !rewrite {
			return so, settingConflict(dir, diffs)
		}
		e.log.Warn("rewriting the run's scores with other options", "run", filepath.Base(dir), "was", strings.Join(diffs, ", "))
	}
	return so, so.Validate()
}
