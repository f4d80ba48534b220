package pipeline_test

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
)

// scoredShop is n generated customers scored (without intervals) and the
// example catalog.
func scoredShop(t *testing.T, n int) (*features.Result, *night.ModelFile, []night.Score, night.ScoresMeta, []perkplan.Perk) {
	t.Helper()
	res, mf := customersN(n)
	opt := night.DefaultScoreOptions()
	opt.NoIntervals = true
	scores, meta, err := night.ScoreCustomers(res, mf, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "perks.csv")
	if err := os.WriteFile(path, datasets.PerksCSV, 0o644); err != nil {
		t.Fatal(err)
	}
	perks, err := perkplan.ReadCatalog(path, res.SegmentNames)
	if err != nil {
		t.Fatal(err)
	}
	return res, mf, scores, meta, perks
}

// TestPlanControlsAndContactCosts: on 100k customers with no binding
// budget, each perk's control group is 10 % of its customers within one
// percentage point, the same on a second run, and balanced on churn risk
// and CLV (the draw knows nothing of them); every line carries the
// contact cost in its cost, none is worth less than a cent, the controls'
// cost is not spent, and their feed entry names no perk.
func TestPlanControlsAndContactCosts(t *testing.T) {
	res, mf, scores, meta, perks := scoredShop(t, 100_000)
	for k := range perks {
		perks[k].Capacity = -1
	}
	po := perkplan.PlanOptions{Budget: 1e12, Tiers: []string{"high", "medium", "low"}, ContactCost: map[string]float64{"": 0.05}}
	plan, err := perkplan.MakePlan(res, scores, meta, mf, perks, po)
	if err != nil {
		t.Fatal(err)
	}
	again, err := perkplan.MakePlan(res, scores, meta, mf, perks, po)
	if err != nil {
		t.Fatal(err)
	}
	type stats struct{ n, risk, risk2, clv, clv2 float64 }
	add := func(s *stats, risk, clv float64) {
		s.n++
		s.risk, s.risk2, s.clv, s.clv2 = s.risk+risk, s.risk2+risk*risk, s.clv+clv, s.clv2+clv*clv
	}
	var treated, control stats
	byPerk := map[string][2]int{}
	spent := 0.0
	recs := plan.Recommendations(len(res.Customers))
	for j, r := range plan.Rows {
		if again.Rows[j].Customer != r.Customer || again.Rows[j].Arm != r.Arm {
			t.Fatalf("row %d: the second run differs (%d %s, %d %s)", j, r.Customer, r.Arm, again.Rows[j].Customer, again.Rows[j].Arm)
		}
		if r.Contact != 0.05 || r.Cost < 0.05 || r.Value < plan.MinValue || strings.Contains(r.Reason, "keep $0.00") || strings.Contains(r.Reason, "keep €0.00") {
			t.Fatalf("row %d: cost %.4f (contact %.2f), value %.4f: %s", j, r.Cost, r.Contact, r.Value, r.Reason)
		}
		s := &scores[r.Customer]
		c := byPerk[r.Perk.ID]
		switch r.Arm {
		case "control":
			c[1]++
			add(&control, s.ChurnRisk, s.CLV)
			if recs[r.Customer].PerkID != "" || recs[r.Customer].Arm != "control" {
				t.Fatalf("control %d: the feed gets perk %q arm %q", r.Customer, recs[r.Customer].PerkID, recs[r.Customer].Arm)
			}
		case "treated":
			c[0]++
			add(&treated, s.ChurnRisk, s.CLV)
			spent += r.Cost
		default:
			t.Fatalf("row %d: arm %q", j, r.Arm)
		}
		byPerk[r.Perk.ID] = c
	}
	if math.Abs(spent-plan.BudgetUsed) > 1e-6*spent {
		t.Errorf("budget used %.2f, the treated lines cost %.2f", plan.BudgetUsed, spent)
	}
	total := control.n / (control.n + treated.n)
	t.Logf("%d plan lines: %.2f %% controls; per perk (treated, control): %v", len(plan.Rows), 100*total, byPerk)
	if math.Abs(total-0.10) > 0.01 {
		t.Errorf("controls are %.2f %% of the plan's lines, want 10 ± 1", 100*total)
	}
	for id, c := range byPerk {
		if n := float64(c[0] + c[1]); n >= 10_000 && math.Abs(float64(c[1])/n-0.10) > 0.01 {
			t.Errorf("%s: %d of %d held out", id, c[1], c[0]+c[1])
		}
	}
	// Balance: the difference of the means within 3 standard errors.
	for name, m := range map[string][4]float64{
		"churn risk": {treated.risk, treated.risk2, control.risk, control.risk2},
		"clv":        {treated.clv, treated.clv2, control.clv, control.clv2},
	} {
		mt, mc := m[0]/treated.n, m[2]/control.n
		vt, vc := m[1]/treated.n-mt*mt, m[3]/control.n-mc*mc
		if se := math.Sqrt(vt/treated.n + vc/control.n); math.Abs(mt-mc) > 3*se {
			t.Errorf("%s: treated mean %.4f, controls %.4f (± %.4f): the draw is not independent of it", name, mt, mc, se)
		}
	}
}

// TestValueCurveAndBaselines: the value-by-budget curve rises with the
// budget and reaches, at λ = 0, every positive option; at the plan's own
// budget it is no better than the plan's bound; the plan beats the
// marketers' rule and a random allocation at the same budget; and every
// customer offered a perk who gets none says why.
func TestValueCurveAndBaselines(t *testing.T) {
	res, mf, scores, meta, perks := scoredShop(t, 50_000)
	zero := 0.0
	plan, err := perkplan.MakePlan(res, scores, meta, mf, perks, perkplan.PlanOptions{Budget: 2000, ControlShare: &zero, ContactCost: map[string]float64{"": 0.02}})
	if err != nil {
		t.Fatal(err)
	}
	c := plan.Curve
	for k := 1; k < len(c); k++ {
		if c[k].Budget < c[k-1].Budget-1e-9 || c[k].Value < c[k-1].Value-1e-9 || c[k].Lambda > c[k-1].Lambda {
			t.Fatalf("the curve is not monotone at %d: %+v then %+v", k, c[k-1], c[k])
		}
	}
	if last := c[len(c)-1]; last.Lambda != 0 || last.Budget != plan.Saturation {
		t.Errorf("the curve ends at %+v, saturation %g", last, plan.Saturation)
	}
	b := plan.Baselines
	t.Logf("budget %.0f of saturation %.0f: plan %.2f, riskiest-cheapest %.2f, random %.2f", b.Budget, plan.Saturation, b.Plan, b.RiskiestCheapest, b.Random)
	if !(b.Plan > b.RiskiestCheapest && b.Plan > b.Random) {
		t.Errorf("the plan (%.2f) does not beat the riskiest-cheapest rule (%.2f) and a random allocation (%.2f)", b.Plan, b.RiskiestCheapest, b.Random)
	}
	if b.Plan > plan.Bound+1e-6 {
		t.Errorf("plan value %.2f above its bound %.2f", b.Plan, plan.Bound)
	}
	recs := plan.Recommendations(len(res.Customers))
	reasons := map[string]int{}
	for i, r := range recs {
		if r.PerkID == "" && r.NoPerkReason == "" && slices.Contains([]string{"high", "medium"}, scores[i].Tier) {
			t.Fatalf("customer %d (%s) has neither a perk nor a reason", i, scores[i].Tier)
		}
		if r.NoPerkReason != "" {
			reasons[strings.SplitN(r.NoPerkReason, " at ", 2)[0]]++
		}
	}
	t.Logf("no-perk reasons: %v", reasons)
	if reasons["budget exhausted"] == 0 || reasons["value below cost: no perk keeps"] == 0 {
		t.Errorf("reasons %v: with a binding budget, want customers priced out by λ and customers whose perks are worth less than their cost", reasons)
	}
}
