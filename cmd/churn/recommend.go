package main

import (
	"context"
	"fmt"
	"github.com/spf13/pflag"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/warehouse"
)

const recommendExamples = `  churn recommend --data ./churn-data --as-of 1998-06-30 --perks perks.csv --budget 5000
  churn recommend --as-of 2024-06-30 --perks perks.csv --budget "€12,500" --tiers high
  churn recommend --as-of 2025-07-06 --perks perks.csv --budget 20000 --history campaigns.csv   # learned uplift
`

func runRecommend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "recommend", "[--data DIR] --as-of YYYY-MM-DD --perks perks.csv --budget AMOUNT [--tiers high,medium] [--history campaigns.csv]", recommendExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date of a scored run (churn score)")
	perksPath := fs.String("perks", "", "the perk catalog (CSV; columns in the README)")
	budget := fs.String("budget", "", "total expected cost allowed, in the reporting currency")
	tiers := fs.String("tiers", "high,medium", "risk tiers eligible for a perk")
	pflags := addPlanFlags(fs)
	history := fs.String("history", "", "campaign history (customer_id, perk_id|control, sent_at) to learn each perk's uplift from")
	cal := addCalendarFlags(fs)
	excel := fs.Bool("excel", false, "start every CSV with a UTF-8 byte-order mark (for Excel)")
	ef := addExportFlags(fs)
	rewrite := addRewriteFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	formats, err := ef.resolve(fs, cfg)
	if err != nil {
		return err
	}
	runCalendar(e, fs, cfg, *data, *asOf, cal)
	fo, err := featuresOptions(fs, cfg, *asOf, "", cal)
	if err != nil {
		return err
	}
	if *history == "" {
		*history = cfg.Recommend.History
	}
	po, perks, err := planOptions(fs, cfg, *perksPath, *budget, *tiers, pflags)
	if err != nil {
		return err
	}
	w, release, dir, mf, err := lockFittedRun(*data, "churn recommend", fo.AsOf, "churn fit and churn score")
	if err != nil {
		return err
	}
	defer release()
	prev, err := night.ReadScoresMeta(dir)
	if err != nil {
		return fmt.Errorf("no scores for %s: %w (run churn score --as-of %s first)", *asOf, err, *asOf)
	}
	if err := checkRunCalendar(e, dir, fo, *rewrite); err != nil {
		return err
	}
	res, why, err := night.ReuseOrComputeFeatures(ctx, w, dir, fo)
	e.log.Info("features", "as_of", fo.AsOf.Format("2006-01-02"), "source", why)
	if err != nil {
		return err
	}
	catalog, err := perkplan.ReadCatalog(perks, res.SegmentNames)
	if err != nil {
		return usagef("%v", err)
	}
	if po.Uplift, err = perkplan.LearnUplift(ctx, w, fo, *history, catalog); err != nil {
		return err
	}
	if po.Uplift != nil {
		if err := perkplan.WriteUplift(dir, po.Uplift); err != nil {
			return err
		}
		for _, why := range slices.Sorted(maps.Keys(po.Uplift.Skipped)) {
			e.log.Warn("campaign history rows not used", "rows", po.Uplift.Skipped[why], "why", why)
		}
	}
	// The same options as churn score used, so the plan matches the feed.
	scores, meta, err := night.ScoreCustomersContext(ctx, res, mf, prev.ScoreOptions)
	if err != nil {
		return err
	}
	if err := night.ApplyHysteresis(res, scores, w.PreviousRun(filepath.Base(dir)), prev.ScoreOptions, &meta); err != nil {
		return err
	}
	plan, err := perkplan.MakePlan(res, scores, meta, mf, catalog, po)
	if err != nil {
		return err
	}
	if err := perkplan.WritePlan(dir, res, plan, *excel); err != nil {
		return err
	}
	if _, err := export.WriteExports(dir, w.PreviousRun(filepath.Base(dir)), res, scores, plan.Recommendations(len(res.Customers)), mf,
		export.ExportOptions{Excel: *excel, Timezone: fo.Timezone, Formats: formats, HorizonDays: prev.HorizonDays}); err != nil {
		return err
	}
	printPlan(e, plan)
	e.log.Info("recommend done", "customers_with_perk", plan.Recommended, "budget_used", fmt.Sprintf("%.2f", plan.BudgetUsed),
		"gap_pct", fmt.Sprintf("%.3f", plan.GapPct), "plan", filepath.Join(dir, "plan.csv"))
	return nil
}

// planOptions merges the flags with the config's recommend: section and
// parses the budget as an amount ("5000", "€12,500.00").
// planFlags are the plan's economics flags of churn recommend and run.
type planFlags struct {
	contact *string
	control *float64
}

func addPlanFlags(fs *pflag.FlagSet) planFlags {
	return planFlags{
		contact: fs.String("contact-cost", "", "cost of one send for perks without a catalog contact_cost: an amount, or per channel (email=0.01,sms=0.08,mail=0.9)"),
		control: fs.Float64("control-share", perkplan.DefaultControlShare, "share of each perk's customers held out as its control group (0 = none)"),
	}
}

func planOptions(fs interface{ Changed(string) bool }, cfg *pipeline.Config, perks, budget, tiers string, pf planFlags) (perkplan.PlanOptions, string, error) {
	var po perkplan.PlanOptions
	rc := cfg.Recommend
	po.ContactCost = rc.ContactCost
	if *pf.contact != "" {
		po.ContactCost = map[string]float64{}
		for _, part := range strings.Split(*pf.contact, ",") {
			ch, amount, ok := strings.Cut(part, "=")
			if !ok {
				ch, amount = "", part
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(amount), 64)
			ch = strings.ToLower(strings.TrimSpace(ch))
			if err != nil || v < 0 || ch != "" && !slices.Contains(perkplan.Channels, ch) {
				return po, "", usagef("--contact-cost %q: want an amount ≥ 0, or channel=amount pairs (channels %s)", *pf.contact, strings.Join(perkplan.Channels, ", "))
			}
			po.ContactCost[ch] = v
		}
	}
	share := *pf.control
	if !fs.Changed("control-share") && rc.ControlShare != nil {
		share = *rc.ControlShare
	}
	if !(share >= 0 && share <= 0.9) {
		return po, "", usagef("--control-share %g: want a share in [0, 0.9] (0.10 = 10 %%)", share)
	}
	po.ControlShare = &share
	if perks == "" {
		perks = rc.Perks
	}
	if budget == "" {
		budget = rc.Budget
	}
	if !fs.Changed("tiers") && rc.Tiers != "" {
		tiers = rc.Tiers
	}
	if perks == "" {
		return po, "", usagef("--perks is required (a perk catalog CSV; churn datasets cdnow writes an example)")
	}
	if budget == "" {
		return po, "", usagef("--budget is required")
	}
	micros, err := warehouse.ParseAmount(budget, false)
	if err != nil || micros < 0 {
		return po, "", usagef("--budget %q: want an amount ≥ 0", budget)
	}
	po.Budget = float64(micros) / 1e6
	for _, t := range strings.Split(tiers, ",") {
		t = strings.TrimSpace(t)
		if t != "low" && t != "medium" && t != "high" {
			return po, "", usagef("--tiers %q: want a list of low, medium, high", tiers)
		}
		po.Tiers = append(po.Tiers, t)
	}
	return po, perks, nil
}

func printPlan(e *env, p *perkplan.Plan) {
	fmt.Fprintf(e.stdout, "Perk plan for %s: %d of %d eligible customers get a perk; expected cost %.2f of %.2f %s; expected value %.2f (bound %.2f, gap %.3f %%)\n",
		p.AsOf, p.Recommended, p.Eligible, p.BudgetUsed, p.Budget, p.Currency, p.Objective, p.Bound, p.GapPct)
	for _, s := range p.Perks {
		fmt.Fprintf(e.stdout, "  %-14s %-13s %7d customers  cost %10.2f  value %10.2f  uplift: %s\n", s.PerkID, s.Kind, s.Customers, s.Cost, s.Value, s.UpliftSource)
	}
}
