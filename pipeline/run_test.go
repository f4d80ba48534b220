package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/warehouse"
	"github.com/parquet-go/parquet-go"
)

// TestRunScansOnce: a night reads the warehouse once, whatever the model
// (auto adds the auto backtest and the risk model's training snapshots),
// and the backtest it writes from that one scan is the one a backtest of
// its own, scanning again, computes.
func TestRunScansOnce(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 3000, 5)
	asOf := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 90*7)
	for _, name := range []string{"bgnbd", "auto"} {
		t.Run(name, func(t *testing.T) {
			before := w.Scans()
			opt := pipeline.RunOptions{AsOf: asOf, Model: pipeline.ModelConfig{Name: name}, Score: night.DefaultScoreOptions()}
			rm, dir, err := pipeline.Run(ctx, w, opt)
			if err != nil {
				t.Fatal(err)
			}
			if n := w.Scans() - before; n != 1 {
				t.Errorf("churn run with --model %s scanned the warehouse %d times, want 1", name, n)
			}
			models, purchase := []string{rm.Model.Model}, rm.Model.Model
			if name == "auto" { // every purchase model, and the logit on BG/NBD's outputs
				models, purchase = append(slices.Clone(night.PurchaseModels), "logit"), "bgnbd"
			}
			bt, err := night.RunBacktest(ctx, w, night.BacktestOptions{Features: night.FeaturesOptions{AsOf: asOf.AddDate(0, 0, -90)},
				HoldoutDays: 90, Models: models, Purchase: purchase})
			if err != nil {
				t.Fatal(err)
			}
			var written night.Backtest
			b, err := os.ReadFile(filepath.Join(dir, "backtest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &written); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(bt)
			var wantBT night.Backtest
			json.Unmarshal(want, &wantBT)
			if !reflect.DeepEqual(written, wantBT) {
				t.Errorf("the run's backtest.json differs from a backtest of its own:\nrun  %s\nself %s", b, want)
			}
		})
	}
}

// TestSmallAndStaleShops: a 300-customer shop with 26 weeks of history,
// whose backtest fit at D − 90 days runs to a boundary (a, b → ∞), and the
// same shop a year after its last order, whose holdout has no purchase:
// both nights finish, with warnings that say what happened instead of a
// NaN.
func TestSmallAndStaleShops(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: 300, Seed: 5, Weeks: 26}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, filepath.Join(dir, datasets.SynthTransactions)); err != nil {
		t.Fatal(err)
	}
	w := &warehouse.Warehouse{Dir: data}
	for _, tc := range []struct {
		asOf time.Time
		want string
	}{
		{time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), "ran to a boundary"},
		{time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), "small shop: 300 customers"},
		{time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC), "churn_auc, correlation undefined on this holdout (none: the churn AUC is undefined, no customer bought in the holdout"},
		{time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC), "stale data: the last purchase is"},
	} {
		rm, dir, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: tc.asOf, Score: night.DefaultScoreOptions()})
		if err != nil {
			t.Fatalf("as of %s: %v", tc.asOf.Format(time.DateOnly), err)
		}
		if !strings.Contains(strings.Join(rm.Warnings, "\n"), tc.want) {
			t.Errorf("as of %s: warnings %q, want one saying %q", tc.asOf.Format(time.DateOnly), rm.Warnings, tc.want)
		}
		// The report repeats them.
		html, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil || !strings.Contains(string(html), `<section id="warnings">`) || !strings.Contains(string(html), template.HTMLEscapeString(tc.want)) {
			t.Errorf("as of %s: report.html lacks the warning %q (%v)", tc.asOf.Format(time.DateOnly), tc.want, err)
		}
	}
}

// TestFailOnStale: with checks.fail-on-stale a night on stale data fails
// with ErrStale and leaves the previous run as it was; the checks' limits
// move the warnings; a budget above the customers' whole CLV is named.
func TestFailOnStale(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 600, 5)
	fresh := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 104*7-1)
	rm, dir, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: fresh, Score: night.DefaultScoreOptions(),
		Perks: filepath.Join("..", "datasets", "perks.csv"), Plan: perkplan.PlanOptions{Budget: 1e9},
		Checks: pipeline.DataChecks{MinCustomers: 1000, FailOnStale: true}})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rm.Warnings, "\n")
	for _, want := range []string{"small shop: 600 customers", "below 1000", "the budget 1000000000.00", "is more than the customers' total CLV"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", rm.Warnings, want)
		}
	}
	before, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The same as-of date on a warehouse whose data stopped 40 days earlier is
	// not possible here; a later as-of date with a 10-day limit is stale.
	late := fresh.AddDate(0, 0, 20)
	_, _, err = pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: late, Score: night.DefaultScoreOptions(),
		Checks: pipeline.DataChecks{StaleDays: 10, FailOnStale: true}})
	if !errors.Is(err, pipeline.ErrStale) || !strings.Contains(err.Error(), "fail-on-stale") {
		t.Fatalf("stale night: err = %v, want ErrStale naming fail-on-stale", err)
	}
	if _, err := os.Stat(w.RunDir(late.Format(time.DateOnly))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed stale night left a run directory: %v", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil || string(after) != string(before) {
		t.Errorf("the previous run changed: %v", err)
	}
	// Without fail-on-stale the same night warns and finishes.
	rm, _, err = pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: late, Score: night.DefaultScoreOptions(), Checks: pipeline.DataChecks{StaleDays: 10}})
	if err != nil || !strings.Contains(strings.Join(rm.Warnings, "\n"), "stale data") {
		t.Errorf("stale night without fail-on-stale: %v, warnings %q", err, rm.Warnings)
	}
}

// TestInterrupted: a cancelled context (SIGTERM) stops the night before its
// next step and the scoring within its loop, leaving no run behind.
func TestInterrupted(t *testing.T) {
	w := synthWarehouse(t, 2000, 6)
	asOf := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 90*7)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: asOf, Score: night.DefaultScoreOptions()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := os.Stat(w.RunDir(asOf.Format(time.DateOnly))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled run left %s: %v", w.RunDir(asOf.Format(time.DateOnly)), err)
	}
	res, err := night.ComputeFeatures(context.Background(), w, night.FeaturesOptions{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	mf, err := night.FitModels(res, "bgnbd", model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := night.ScoreCustomersContext(ctx, res, mf, night.DefaultScoreOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("scoring with a cancelled context: %v", err)
	}
}

// TestTierHysteresis: on the second of two consecutive nights of a
// generated shop, the hysteresis keeps the tier of a customer whose churn
// risk moved across a threshold by less than the margin, and the CRM
// delta shrinks by them; without it they change tier. The figures go to
// the README ("Tier hysteresis").
func TestTierHysteresis(t *testing.T) {
	ctx := context.Background()
	w := synthWarehouse(t, 6000, 11)
	night1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 60*7)
	night2 := night1.AddDate(0, 0, 1)
	if _, _, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: night1, Score: night.DefaultScoreOptions()}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		CustomerID string  `parquet:"customer_id"`
		ChurnRisk  float64 `parquet:"churn_risk"`
		RiskTier   string  `parquet:"risk_tier"`
	}
	read := func(dir string) map[string]row {
		rows, err := parquet.ReadFile[row](filepath.Join(dir, "scores.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]row{}
		for _, r := range rows {
			out[r.CustomerID] = r
		}
		return out
	}
	prev := read(w.RunDir(night1.Format(time.DateOnly)))
	delta := map[float64]int64{}
	tiers := map[float64]map[string]row{}
	for _, h := range []float64{0, 0.02} {
		opt := night.DefaultScoreOptions()
		opt.TierHysteresis = h
		rm, dir, err := pipeline.Run(ctx, w, pipeline.RunOptions{AsOf: night2, Score: opt})
		if err != nil {
			t.Fatal(err)
		}
		delta[h], tiers[h] = rm.Counts["delta_rows"], read(dir)
	}
	held := 0
	for id, r := range tiers[0.02] {
		plain := tiers[0][id]
		if r.RiskTier == plain.RiskTier {
			continue
		}
		held++
		p, ok := prev[id]
		near := math.Abs(r.ChurnRisk-0.5) < 0.02 || math.Abs(r.ChurnRisk-0.8) < 0.02
		if !ok || p.RiskTier != r.RiskTier || !near {
			t.Errorf("%s: tier %s held (risk %.4f, without hysteresis %s, the night before %s)", id, r.RiskTier, r.ChurnRisk, plain.RiskTier, p.RiskTier)
		}
	}
	t.Logf("%d customers; CRM delta of the second night: %d rows without hysteresis, %d with 0.02 (%d tiers held)", len(tiers[0]), delta[0], delta[0.02], held)
	if held == 0 || delta[0.02] != delta[0]-int64(held) {
		t.Errorf("hysteresis held %d tiers; the delta went from %d to %d rows", held, delta[0], delta[0.02])
	}
}
