package pipeline_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// learnSynthCampaign generates a shop of 40,000 customers with the
// campaign, ingests it and learns the uplift from its history at the end
// of the observation (every window over). It returns the uplift and the
// directory with the generator's files.
func learnSynthCampaign(t *testing.T, seed uint64, co datasets.CampaignOptions) (*perkplan.Uplift, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: 40_000, Seed: seed, Weeks: 80, Campaign: &co}); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, filepath.Join(dir, "transactions.csv")); err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "perks.csv")
	if err := os.WriteFile(catalog, datasets.PerksCSV, 0o644); err != nil {
		t.Fatal(err)
	}
	perks, err := perkplan.ReadCatalog(catalog, features.DefaultSegments().Names())
	if err != nil {
		t.Fatal(err)
	}
	history, err := perkplan.ReadCampaigns(filepath.Join(dir, datasets.SynthCampaigns), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2025, 7, 6, 0, 0, 0, 0, time.UTC)
	up, err := perkplan.EstimateUplift(context.Background(), &warehouse.Warehouse{Dir: data}, night.FeaturesOptions{AsOf: asOf}, history, perks, perkplan.UpliftOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return up, dir
}

// TestUpliftRecoversSyntheticCampaign: the synthetic generator sends three
// perks (and a control) with known true uplift per perk and RFM segment;
// the estimates from the warehouse recover it.
func TestUpliftRecoversSyntheticCampaign(t *testing.T) {
	up, dir := learnSynthCampaign(t, 5, datasets.CampaignOptions{SentAt: time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)})
	if len(up.Skipped) != 0 {
		t.Errorf("skipped history rows: %v", up.Skipped)
	}

	rows := ingesttest.ReadCSVFile(t, filepath.Join(dir, datasets.SynthCampaignTruth))
	truth := map[[2]string]float64{}
	for _, r := range rows[1:] {
		v, _ := strconv.ParseFloat(r[4], 64)
		truth[[2]string{r[0], r[1]}] = v
	}
	checked, covered, shrunkCovered := 0, 0, 0
	for _, e := range up.Estimates {
		if e.Group == "all" || e.Treated < 300 {
			continue
		}
		want, ok := truth[[2]string{e.PerkID, e.Group}]
		if !ok {
			t.Errorf("%s/%s: no truth", e.PerkID, e.Group)
			continue
		}
		checked++
		if math.Abs(e.Raw-want) > 3*e.StdErr {
			t.Errorf("%s/%s: raw uplift %.4f ± %.4f, true %.4f (beyond 3 standard errors)", e.PerkID, e.Group, e.Raw, e.StdErr, want)
		}
		if math.Abs(e.Raw-want) <= 1.96*e.StdErr {
			covered++
		}
		if e.CILow <= want && want <= e.CIHigh {
			shrunkCovered++
		}
	}
	t.Logf("%d perk×segment groups checked; raw 95 %% intervals cover the truth in %d, shrunk intervals in %d", checked, covered, shrunkCovered)
	if checked < 20 {
		t.Fatalf("only %d groups large enough to check", checked)
	}
	if float64(shrunkCovered) < 0.8*float64(checked) {
		t.Errorf("shrunk 95 %% intervals cover the truth in %d of %d groups", shrunkCovered, checked)
	}
	for _, p := range up.Perks {
		t.Logf("%s: learned %v from %d sends, uplift %.4f ± %.4f, τ %.4f, Qini %.4f, AUUC %.4f on %d held-out sends",
			p.PerkID, p.Learned, p.Sends, p.Overall, p.OverallSE, p.Tau, p.Qini, p.AUUC, p.HeldOut)
	}
	// disc15's effect differs most across segments: ranking by its
	// estimates beats a random ranking on the held-out customers.
	for _, p := range up.Perks {
		if p.PerkID == "disc15" && !(p.Qini > 0) {
			t.Errorf("disc15: Qini %.4f on held-out customers, want > 0", p.Qini)
		}
	}
}

// TestOwnControls: a perk limited to customers with two or more orders,
// whose customers buy more anyway. Measured against controls pooled from
// every customer, its uplift is biased upward; against the customers held
// out of it (the arm column, as campaign.csv writes it), it is within
// three standard errors of the truth.
func TestOwnControls(t *testing.T) {
	sent := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	perks := slices.Clone(datasets.DefaultCampaignPerks)
	perks[0].MinOrders = 2 // disc15
	measure := func(own bool) (est perkplan.PerkUplift, truth float64) {
		up, dir := learnSynthCampaign(t, 9, datasets.CampaignOptions{SentAt: sent, Perks: perks, OwnControls: own, Control: 0.3})
		var n, sum float64
		for _, r := range ingesttest.ReadCSVFile(t, filepath.Join(dir, datasets.SynthCampaignTruth))[1:] {
			if r[0] == "disc15" {
				c, _ := strconv.ParseFloat(r[2], 64)
				u, _ := strconv.ParseFloat(r[4], 64)
				n, sum = n+c, sum+c*u
			}
		}
		for _, p := range up.Perks {
			if p.PerkID == "disc15" {
				return p, sum / n
			}
		}
		t.Fatal("no estimate for disc15")
		return
	}
	pooled, truth := measure(false)
	own, ownTruth := measure(true)
	t.Logf("disc15 (2+ orders): true uplift %.4f; pooled controls %.4f ± %.4f; own controls (true %.4f) %.4f ± %.4f",
		truth, pooled.Overall, pooled.OverallSE, ownTruth, own.Overall, own.OverallSE)
	if !own.OwnControls || pooled.OwnControls {
		t.Errorf("own_controls: %v with the arm column, %v without", own.OwnControls, pooled.OwnControls)
	}
	if math.Abs(own.Overall-ownTruth) > 3*own.OverallSE {
		t.Errorf("against its own controls: %.4f ± %.4f, true %.4f", own.Overall, own.OverallSE, ownTruth)
	}
	if pooled.Overall-truth < 3*pooled.OverallSE {
		t.Errorf("against pooled controls: %.4f ± %.4f, true %.4f: the bias this test is about did not show", pooled.Overall, pooled.OverallSE, truth)
	}
}

// TestPerCustomerUplift: when a perk's effect varies within segments (by
// tenure, which RFM does not see), the per-customer model ranks the
// held-out customers better than the segment estimate and is used; when
// effects vary by segment only (the default campaign), it is not.
func TestPerCustomerUplift(t *testing.T) {
	sent := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	learn := func(perks []datasets.CampaignPerk) *perkplan.Uplift {
		up, _ := learnSynthCampaign(t, 13, datasets.CampaignOptions{SentAt: sent, Perks: perks})
		return up
	}
	varied := slices.Clone(datasets.DefaultCampaignPerks)
	varied[0] = datasets.CampaignPerk{ID: "disc15", WindowDays: 30, Default: 0.02, LongTenureDays: 357, LongTenureEffect: 0.45}
	for _, tc := range []struct {
		name  string
		perks []datasets.CampaignPerk
		want  map[string]bool
	}{
		{"within segments", varied, map[string]bool{"disc15": true}},
		{"by segment only", datasets.DefaultCampaignPerks, map[string]bool{}},
	} {
		up := learn(tc.perks)
		for _, p := range up.Perks {
			if p.PerCustomer == nil {
				continue
			}
			pc := p.PerCustomer
			t.Logf("%s, %s: per-customer Qini %.4f [%.4f, %.4f], segments %.4f [%.4f, %.4f], difference [%.4f, %.4f]: used %v",
				tc.name, p.PerkID, pc.Qini, pc.QiniCI[0], pc.QiniCI[1], pc.SegmentQini, pc.SegmentQiniCI[0], pc.SegmentQiniCI[1], pc.DifferenceCI[0], pc.DifferenceCI[1], pc.Used)
			if pc.Used != tc.want[p.PerkID] {
				t.Errorf("%s, %s: per-customer model used %v, want %v (%s)", tc.name, p.PerkID, pc.Used, tc.want[p.PerkID], pc.Reason)
			}
		}
	}
}

// BenchmarkUplift1M learns the uplift (segments and per customer) from a
// 100k-row campaign history over a warehouse of 1M customers
// (CHURN_UPLIFT_CUSTOMERS), then plans 1M customers with it.
func BenchmarkUplift1M(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("CHURN_UPLIFT_CUSTOMERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	sent := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	varied := slices.Clone(datasets.DefaultCampaignPerks)
	varied[0] = datasets.CampaignPerk{ID: "disc15", WindowDays: 30, Default: 0.02, LongTenureDays: 357, LongTenureEffect: 0.45}
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: n, Seed: 13, Weeks: 80,
		Campaign: &datasets.CampaignOptions{SentAt: sent, Perks: varied}}); err != nil {
		b.Fatal(err)
	}
	// The first 100k rows of the history.
	hist, err := os.ReadFile(filepath.Join(dir, datasets.SynthCampaigns))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.SplitAfterN(string(hist), "\n", 100_002)
	historyPath := filepath.Join(dir, "history.csv")
	os.WriteFile(historyPath, []byte(strings.Join(lines[:min(len(lines), 100_001)], "")), 0o644)
	data := filepath.Join(dir, "data")
	if _, err := ingesttest.Ingest(b, data, ingest.IngestOptions{}, filepath.Join(dir, "transactions.csv")); err != nil {
		b.Fatal(err)
	}
	catalog := filepath.Join(dir, "perks.csv")
	os.WriteFile(catalog, datasets.PerksCSV, 0o644)
	cat, err := perkplan.ReadCatalog(catalog, features.DefaultSegments().Names())
	if err != nil {
		b.Fatal(err)
	}
	w := &warehouse.Warehouse{Dir: data}
	res, mf := customers1M()
	scores, meta, err := night.ScoreCustomers(res, mf, night.ScoreOptions{HorizonDays: 90, CLVMonths: 12, DiscountRate: 0.1, Margin: 0.3, TierMedium: 0.5, TierHigh: 0.8, NoIntervals: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		history, err := perkplan.ReadCampaigns(historyPath, time.UTC)
		if err != nil {
			b.Fatal(err)
		}
		up, err := perkplan.EstimateUplift(context.Background(), w, night.FeaturesOptions{AsOf: time.Date(2025, 7, 6, 0, 0, 0, 0, time.UTC)}, history, cat, perkplan.UpliftOptions{})
		if err != nil {
			b.Fatal(err)
		}
		learned := time.Since(start)
		start = time.Now()
		if _, err := perkplan.MakePlan(res, scores, meta, mf, cat, perkplan.PlanOptions{Budget: 200_000, Uplift: up}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(learned.Seconds(), "learn-s")
		b.ReportMetric(time.Since(start).Seconds(), "plan-s")
		used := 0
		for _, p := range up.Perks {
			if p.PerCustomer != nil && p.PerCustomer.Used {
				used++
			}
		}
		b.ReportMetric(float64(used), "per-customer-perks")
	}
}
