package pipeline_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
)

// TestEvaluateClosesTheLoop: a night's plan (with its control groups) is
// sent; the generator simulates each perk's known effect on the treated
// customers (an extra purchase of 10.00 with probability e), the outcome
// is ingested, and evaluating the plan once its windows are over recovers
// each perk's incremental revenue per treated customer, 10·e, within three
// standard errors.
func TestEvaluateClosesTheLoop(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 30_000, 21)
	planDay := time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC)
	control := 0.3
	_, dir, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: planDay, Score: night.DefaultScoreOptions(),
		Perks: filepath.Join("..", "datasets", "perks.csv"), Plan: perkplan.PlanOptions{Budget: 1e9, Tiers: []string{"high", "medium", "low"}, ControlShare: &control}})
	if err != nil {
		t.Fatal(err)
	}
	effect := map[string]float64{"disc15": 0.30, "punch5": 0.15, "double_points": 0.05, "free_ship": 0.20, "gift10": 0.25, "early": 0.1, "vip_event": 0.4}
	windows := map[string]int{"disc15": 30, "punch5": 120, "double_points": 60, "free_ship": 90, "gift10": 180, "early": 30, "vip_event": 45}
	extra := filepath.Join(t.TempDir(), "outcomes.csv")
	f, err := os.Create(extra)
	if err != nil {
		t.Fatal(err)
	}
	n, err := datasets.PlanOutcomes{Effect: effect, WindowDays: windows, Amount: 10, Currency: "EUR", Seed: 3}.Write(filepath.Join(dir, "campaign.csv"), f)
	f.Close()
	if err != nil || n == 0 {
		t.Fatalf("%d outcomes: %v", n, err)
	}
	if _, err := ingesttest.Ingest(t, w.Dir, ingest.IngestOptions{}, extra); err != nil {
		t.Fatal(err)
	}
	ev, err := perkplan.EvaluatePlan(ctx, w, dir, time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), night.FeaturesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range ev.Perks {
		t.Logf("%s: %d treated, %d controls, window over %v: uplift %.4f ± %.4f (predicted %.4f), revenue %.2f [%.2f, %.2f], net %.2f %s",
			p.PerkID, p.TreatedN, p.ControlN, p.Over, p.Uplift, p.UpliftSE, p.PredictedUplift, p.Revenue, p.RevenueCI[0], p.RevenueCI[1], p.Net, p.Explanation)
		if !p.Over || p.TreatedN < 500 || p.ControlN < 100 {
			continue
		}
		checked++
		per, se := p.Revenue/float64(p.TreatedN), (p.RevenueCI[1]-p.Revenue)/1.96/float64(p.TreatedN)
		if want := 10 * effect[p.PerkID]; math.Abs(per-want) > 3*se {
			t.Errorf("%s: incremental revenue %.3f ± %.3f per treated customer, true %.3f", p.PerkID, per, se, want)
		}
		if math.Abs(p.Net-(p.Margin-p.Cost)) > 1e-6 {
			t.Errorf("%s: net %.2f is not margin %.2f − cost %.2f", p.PerkID, p.Net, p.Margin, p.Cost)
		}
	}
	if checked < 2 {
		t.Fatalf("only %d perks had enough customers to check", checked)
	}
	if len(ev.Deciles) != 10 {
		t.Errorf("%d deciles of predicted uplift", len(ev.Deciles))
	}
	// The loop's last leg: campaign.csv as the next night's history. Each
	// perk is learned against its own controls, and disc15's uplift on "a
	// purchase in the window" is e·(1 − p0), p0 the controls' rate.
	catalog, err := perkplan.ReadCatalog(filepath.Join("..", "datasets", "perks.csv"), features.DefaultSegments().Names())
	if err != nil {
		t.Fatal(err)
	}
	history, err := perkplan.ReadCampaigns(filepath.Join(dir, "campaign.csv"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	up, err := perkplan.EstimateUplift(ctx, w, night.FeaturesOptions{AsOf: time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)}, history, catalog, perkplan.UpliftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range up.Perks {
		if p.PerkID != "disc15" {
			continue
		}
		var p0 float64
		for _, e := range ev.Perks {
			if e.PerkID == "disc15" {
				p0 = e.ControlRate
			}
		}
		want := effect["disc15"] * (1 - p0)
		t.Logf("disc15 learned from the plan's own campaign: uplift %.4f ± %.4f, own controls %v; true %.4f", p.Overall, p.OverallSE, p.OwnControls, want)
		if !p.Learned || !p.OwnControls || math.Abs(p.Overall-want) > 3*p.OverallSE {
			t.Errorf("disc15 from campaign.csv: learned %v, own controls %v, uplift %.4f ± %.4f, true %.4f", p.Learned, p.OwnControls, p.Overall, p.OverallSE, want)
		}
	}
	// A window not over by the evaluation's date is not measured.
	early, err := perkplan.EvaluatePlan(ctx, w, dir, planDay.AddDate(0, 0, 40), night.FeaturesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range early.Perks {
		if over := p.WindowDays <= 40; p.Over != over || !over && p.Explanation == "" {
			t.Errorf("%s (window %d days), 40 days on: over %v, %q", p.PerkID, p.WindowDays, p.Over, p.Explanation)
		}
	}
}
