package perkplan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// PerkEvaluation is what a past plan's perk did: its treated customers
// against its own controls over its window from the send day.
type PerkEvaluation struct {
	PerkID     string `json:"perk_id"`
	WindowDays int    `json:"window_days"`
	WindowEnd  string `json:"window_end"`
	// Over is false while the window has not ended by the evaluation's
	// as-of date: nothing below is measured yet.
	Over             bool    `json:"window_over"`
	Treated, Control int     `json:"-"`
	TreatedN         int     `json:"treated"`
	ControlN         int     `json:"control"`
	TreatedRate      float64 `json:"treated_purchase_rate"`
	ControlRate      float64 `json:"control_purchase_rate"`
	Uplift           float64 `json:"uplift"` // on P(a purchase in the window)
	UpliftSE         float64 `json:"uplift_std_err"`
	PredictedUplift  float64 `json:"predicted_uplift"` // the plan's mean expected_uplift of its treated
	TreatedSpend     float64 `json:"treated_spend_per_customer"`
	ControlSpend     float64 `json:"control_spend_per_customer"`
	// Incremental revenue over the treated customers: (mean spend treated −
	// control) × treated, with its 95 % interval; margin is revenue × the
	// run's margin; net is margin − the plan's expected cost of the sends.
	Revenue     float64    `json:"incremental_revenue"`
	RevenueCI   [2]float64 `json:"incremental_revenue_ci95"`
	Margin      float64    `json:"incremental_margin"`
	MarginCI    [2]float64 `json:"incremental_margin_ci95"`
	Cost        float64    `json:"expected_cost"`
	Net         float64    `json:"net"`
	NetCI       [2]float64 `json:"net_ci95"`
	Explanation string     `json:"note,omitempty"`
}

// DecileCheck is one decile of the plan's customers by predicted uplift:
// was the prediction right?
type DecileCheck struct {
	Decile     int     `json:"decile"` // 1 = the highest predicted uplift
	Treated    int     `json:"treated"`
	Control    int     `json:"control"`
	Predicted  float64 `json:"predicted_uplift"`
	Measured   float64 `json:"measured_uplift"`
	MeasuredSE float64 `json:"measured_std_err"`
}

// Evaluation is evaluation.json: a past plan judged once its windows passed.
type Evaluation struct {
	Plan    string           `json:"plan_as_of"`
	SentAt  string           `json:"sent_at"`
	AsOf    string           `json:"evaluated_as_of"`
	Margin  float64          `json:"margin"`
	Perks   []PerkEvaluation `json:"perks"`
	Deciles []DecileCheck    `json:"deciles"`
}

// planLine is what the evaluation reads of a plan.csv row.
type planLine struct {
	id, perk  string
	control   bool
	cost, upl float64
	y         bool    // a purchase in the perk's window
	spend     float64 // in it
	measured  bool
}

// EvaluatePlan judges the plan of the run in runDir against what happened
// after its send day (the day after its as-of date), as the warehouse
// knows it up to asOf: per perk, the treated customers against the ones
// held out of it, over the perk's window.
func EvaluatePlan(ctx context.Context, w *warehouse.Warehouse, runDir string, asOf time.Time, fo night.FeaturesOptions) (*Evaluation, error) {
	plan, err := warehouse.ReadJSONFile[Plan](filepath.Join(runDir, "plan.json"))
	if err != nil {
		return nil, err
	}
	if plan == nil {
		return nil, fmt.Errorf("%w: no plan.json in %s (churn recommend, or churn run with --perks, makes one)", warehouse.ErrOption, runDir)
	}
	planDay, err := time.Parse(time.DateOnly, plan.AsOf)
	if err != nil {
		return nil, fmt.Errorf("%w: plan.json as_of %q", sheet.ErrRunFile, plan.AsOf)
	}
	meta, err := night.ReadScoresMeta(runDir)
	if err != nil {
		return nil, err
	}
	var lines []planLine
	hasArm := false
	err = sheet.EachRow(filepath.Join(runDir, "plan.csv"), sheet.ErrRunFile, []string{"customer_id", "perk_id", "expected_cost", "expected_uplift"}, nil, func(r sheet.Row) error {
		cost, _ := strconv.ParseFloat(r.Get("expected_cost"), 64)
		upl, _ := strconv.ParseFloat(r.Get("expected_uplift"), 64)
		arm := r.Get("arm")
		hasArm = hasArm || arm != ""
		lines = append(lines, planLine{id: sheet.RestoreCell(r.Get("customer_id")), perk: sheet.RestoreCell(r.Get("perk_id")), control: arm == "control", cost: cost, upl: upl})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !hasArm {
		return nil, fmt.Errorf("%w: the plan of %s has no control groups (it predates them): its effect cannot be measured", warehouse.ErrOption, plan.AsOf)
	}
	ev := &Evaluation{Plan: plan.AsOf, SentAt: planDay.AddDate(0, 0, 1).Format(time.DateOnly), AsOf: asOf.Format(time.DateOnly), Margin: meta.Margin}
	windows := map[string]int{}
	for _, p := range plan.Perks {
		windows[p.PerkID] = cmp.Or(p.WindowDays, 90)
	}
	// One features pass per distinct window: the plan's as-of date, with
	// the holdout (D, D + W] that the window is.
	byWindow := map[int][]int{}
	for j := range lines {
		byWindow[windows[lines[j].perk]] = append(byWindow[windows[lines[j].perk]], j)
	}
	for _, wd := range slices.Sorted(maps.Keys(byWindow)) {
		end := planDay.AddDate(0, 0, wd)
		if end.After(asOf) {
			continue // not over yet
		}
		f := fo
		f.AsOf, f.HoldoutEnd = planDay, end
		res, err := night.ComputeFeatures(ctx, w, f)
		if err != nil {
			return nil, err
		}
		for _, j := range byWindow[wd] {
			l := &lines[j]
			k, ok := slices.BinarySearchFunc(res.Customers, l.id, func(c features.Customer, id string) int { return cmp.Compare(c.CustomerID, id) })
			if !ok {
				continue
			}
			c := &res.Customers[k]
			l.y, l.spend, l.measured = c.HoldoutFirst >= 1 && int(c.HoldoutFirst) <= wd, float64(c.HoldoutSpendMicros)/1e6, true
		}
	}
	for _, p := range plan.Perks {
		pe := PerkEvaluation{PerkID: p.PerkID, WindowDays: windows[p.PerkID], WindowEnd: planDay.AddDate(0, 0, windows[p.PerkID]).Format(time.DateOnly)}
		pe.Over = !planDay.AddDate(0, 0, pe.WindowDays).After(asOf)
		var t, c meanVar
		var yt, yc int
		for j := range lines {
			l := &lines[j]
			if l.perk != p.PerkID || !l.measured {
				continue
			}
			if l.control {
				c.add(l.spend)
				if l.y {
					yc++
				}
			} else {
				t.add(l.spend)
				pe.Cost += l.cost
				pe.PredictedUplift += l.upl
				if l.y {
					yt++
				}
			}
		}
		pe.TreatedN, pe.ControlN = t.n, c.n
		switch {
		case !pe.Over:
			pe.Explanation = "the window ends " + pe.WindowEnd + ", after the evaluation's as-of date"
		case t.n == 0 || c.n == 0:
			pe.Explanation = "no treated customers or no controls to compare"
		default:
			pe.PredictedUplift /= float64(t.n)
			pe.TreatedRate, pe.ControlRate = float64(yt)/float64(t.n), float64(yc)/float64(c.n)
			pe.Uplift, pe.UpliftSE = pe.TreatedRate-pe.ControlRate, rateDiffSE(yt, t.n, yc, c.n)
			pe.TreatedSpend, pe.ControlSpend = t.mean(), c.mean()
			n := float64(t.n)
			se := n * math.Sqrt(t.variance()/n+c.variance()/float64(c.n))
			pe.Revenue = n * (pe.TreatedSpend - pe.ControlSpend)
			pe.RevenueCI = [2]float64{pe.Revenue - 1.96*se, pe.Revenue + 1.96*se}
			pe.Margin = meta.Margin * pe.Revenue
			pe.MarginCI = [2]float64{meta.Margin * pe.RevenueCI[0], meta.Margin * pe.RevenueCI[1]}
			pe.Net = pe.Margin - pe.Cost
			pe.NetCI = [2]float64{pe.MarginCI[0] - pe.Cost, pe.MarginCI[1] - pe.Cost}
		}
		ev.Perks = append(ev.Perks, pe)
	}
	ev.Deciles = decileChecks(lines)
	return ev, nil
}

// decileChecks compares predicted and measured uplift by decile of the
// plan's predicted uplift, over the customers whose window is over.
func decileChecks(lines []planLine) []DecileCheck {
	var ms []*planLine
	for j := range lines {
		if lines[j].measured {
			ms = append(ms, &lines[j])
		}
	}
	slices.SortStableFunc(ms, func(a, b *planLine) int { return cmp.Compare(b.upl, a.upl) })
	var out []DecileCheck
	for d := 0; d < 10 && len(ms) >= 10; d++ {
		part := ms[d*len(ms)/10 : (d+1)*len(ms)/10]
		dc := DecileCheck{Decile: d + 1}
		var yt, yc int
		for _, l := range part {
			dc.Predicted += l.upl
			if l.control {
				dc.Control++
				if l.y {
					yc++
				}
			} else {
				dc.Treated++
				if l.y {
					yt++
				}
			}
		}
		dc.Predicted /= float64(len(part))
		if dc.Treated > 0 && dc.Control > 0 {
			dc.Measured = float64(yt)/float64(dc.Treated) - float64(yc)/float64(dc.Control)
			dc.MeasuredSE = rateDiffSE(yt, dc.Treated, yc, dc.Control)
		}
		out = append(out, dc)
	}
	return out
}

// rateDiffSE is the standard error of a difference of two rates, each
// rate's variance from (y+1)/(n+2) (as the uplift estimates).
func rateDiffSE(yt, nt, yc, nc int) float64 {
	v := func(y, n int) float64 { p := (float64(y) + 1) / (float64(n) + 2); return p * (1 - p) / float64(n) }
	return math.Sqrt(v(yt, nt) + v(yc, nc))
}

// meanVar accumulates a mean and a variance (Welford).
type meanVar struct {
	n      int
	mu, m2 float64
}

func (m *meanVar) add(x float64) {
	m.n++
	d := x - m.mu
	m.mu += d / float64(m.n)
	m.m2 += d * (x - m.mu)
}

func (m *meanVar) mean() float64 { return m.mu }

func (m *meanVar) variance() float64 {
	if m.n < 2 {
		return 0
	}
	return m.m2 / float64(m.n-1)
}

// WriteEvaluation writes evaluation.json into the plan's run directory.
func WriteEvaluation(runDir string, ev *Evaluation) error {
	if ev == nil {
		return errors.New("no evaluation")
	}
	return warehouse.WriteJSON(filepath.Join(runDir, "evaluation.json"), ev)
}
