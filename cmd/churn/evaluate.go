package main

import (
	"context"
	"fmt"
	"time"

	"github.com/churnhq/churn/pipeline/perkplan"
)

const evaluateExamples = `  churn evaluate --data ./churn-data --plan 2025-03-31
  churn evaluate --plan 2025-03-31 --as-of 2025-07-01   # what the warehouse knows up to then
`

// runEvaluate judges a past plan once its perks' windows are over: per
// perk, its treated customers against its own controls (README, "Judging
// a past plan").
func runEvaluate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "evaluate", "[--data DIR] --plan YYYY-MM-DD [--as-of D]", evaluateExamples)
	data, config := dataFlags(fs)
	planDate := fs.String("plan", "", "as-of date of the run whose plan to judge")
	asOf := fs.String("as-of", "", "measure what the warehouse knows up to this date (default: yesterday)")
	cal := addCalendarFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	if _, err := time.Parse(time.DateOnly, *planDate); err != nil {
		return usagef("--plan %q: want the YYYY-MM-DD of a run with a plan", *planDate)
	}
	if *asOf == "" {
		*asOf = time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	}
	runCalendar(e, fs, cfg, *data, *planDate, cal)
	fo, err := featuresOptions(fs, cfg, *asOf, "", cal)
	if err != nil {
		return err
	}
	w, release, err := lockWarehouse(*data, "churn evaluate")
	if err != nil {
		return err
	}
	defer release()
	dir := w.RunDir(*planDate)
	ev, err := perkplan.EvaluatePlan(ctx, w, dir, fo.AsOf, fo)
	if err != nil {
		return err
	}
	if err := perkplan.WriteEvaluation(dir, ev); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Plan of %s (sent %s), measured up to %s:\n", ev.Plan, ev.SentAt, ev.AsOf)
	for _, p := range ev.Perks {
		if !p.Over || p.TreatedN == 0 || p.ControlN == 0 {
			fmt.Fprintf(e.stdout, "  %-14s %s\n", p.PerkID, p.Explanation)
			continue
		}
		fmt.Fprintf(e.stdout, "  %-14s %6d treated %6d control  purchase rate %.3f vs %.3f: uplift %+.4f ± %.4f (predicted %.4f); incremental revenue %.2f [%.2f, %.2f], margin %.2f, cost %.2f, net %.2f [%.2f, %.2f]\n",
			p.PerkID, p.TreatedN, p.ControlN, p.TreatedRate, p.ControlRate, p.Uplift, p.UpliftSE, p.PredictedUplift,
			p.Revenue, p.RevenueCI[0], p.RevenueCI[1], p.Margin, p.Cost, p.Net, p.NetCI[0], p.NetCI[1])
	}
	e.log.Info("evaluate done", "plan", ev.Plan, "evaluation", dir+"/evaluation.json")
	return nil
}
