// Package pipeline runs the nightly job, Run: ingest the inbox, one scan
// of the warehouse for every snapshot the night needs, fit, backtest,
// score, plan, exports and report, each step over the customer table of
// the one before, committed as one run directory. Config is the YAML file
// of every command. The rooms it calls, in the order data flows:
// warehouse, ingest, night, perkplan, export, report (sheet is the CSV
// reader and writer they share).
package pipeline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/report"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// RunOptions are the inputs of `churn run`.
type RunOptions struct {
	AsOf          time.Time
	Inbox         string // directory of new exports; "" = none
	Ingest        ingest.IngestOptions
	Features      night.FeaturesOptions // AsOf is set from RunOptions.AsOf
	Model         ModelConfig
	Score         night.ScoreOptions
	Perks         string // perk catalog; "" = no plan
	History       string // campaign history to learn uplift from; "" = the catalog's priors
	Plan          perkplan.PlanOptions
	BacktestDays  int // holdout of the backtest; 0 = the score horizon
	Excel         bool
	ExportFormats []string // forms of the CRM feed (ExportOptions.Formats)
	Version       string
	Config        any // recorded in run.json
	Log           *slog.Logger
	FailAfterStep string // testing aid: fail right after this step (CHURN_FAIL_AFTER)
	// Checks are the limits of the data warnings, and whether stale data fails the night.
	Checks DataChecks
	// Progress, when not nil (stderr is a terminal), gets a progress line
	// per step, redrawn in place.
	Progress io.Writer
}

// RunStep is one step's record in run.json: its wall time, the CPU time
// the process spent in it (on all cores), and the process's peak resident
// memory at its end.
type RunStep struct {
	Name       string  `json:"name"`
	Rows       int64   `json:"rows"`
	DurationMS float64 `json:"duration_ms"`
	CPUMS      float64 `json:"cpu_ms"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Note       string  `json:"note,omitempty"`
}

// RunOutput is one written file.
type RunOutput struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// RunManifest is run.json.
type RunManifest struct {
	Version  string                 `json:"version"`
	AsOf     string                 `json:"as_of"`
	Config   any                    `json:"config"`
	Inputs   []ingest.FileSummary   `json:"inputs"`
	Steps    []RunStep              `json:"steps"`
	Model    *night.ModelFile       `json:"model"`
	Refit    string                 `json:"refit"`
	Backtest []night.ModelMetrics   `json:"backtest,omitempty"`
	Plan     *perkplan.Plan         `json:"plan,omitempty"`
	Outputs  []RunOutput            `json:"outputs"`
	Quality  *report.QualitySummary `json:"data_quality"` // the warehouse's totals after this run's ingest
	Warnings []string               `json:"warnings"`
	Counts   map[string]int64       `json:"counts"`
	// The whole run: wall and CPU time, and the process's peak resident memory.
	DurationMS float64 `json:"duration_ms"`
	CPUMS      float64 `json:"cpu_ms"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

func millis(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

func mebibytes(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }

// ErrRunFailed wraps the step that failed.
var ErrRunFailed = errors.New("run failed")

// Run does one night's work for an as-of date under the warehouse lock the
// caller holds: ingest the inbox, features (one scan for every snapshot),
// fit (or reuse), backtest, score, recommend, exports, report, run.json. The run directory is built under
// runs/.tmp-<as-of> and renamed into place only when complete, so a failure
// leaves the previous results as they were.
func Run(ctx context.Context, w *warehouse.Warehouse, opt RunOptions) (*RunManifest, string, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	asOf := opt.AsOf.Format(time.DateOnly)
	final := w.RunDir(asOf)
	tmp := w.Path("runs", ".tmp-"+asOf)
	old := w.Path("runs", ".old-"+asOf)
	if err := recoverRunDirs(final, tmp, old); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	rm := &RunManifest{Version: opt.Version, AsOf: asOf, Config: opt.Config, Warnings: []string{}, Counts: map[string]int64{}}
	total := 7
	if opt.Inbox != "" {
		total++
	}
	if opt.Perks != "" {
		total++
	}
	done := 0
	runStart := time.Now()
	runCPU, _ := processUsage()
	step := func(name string, fn func() (int64, string, error)) error {
		if err := ctx.Err(); err != nil { // SIGTERM between steps: stop here
			return fmt.Errorf("%w before step %s: interrupted: %w", ErrRunFailed, name, err)
		}
		start := time.Now()
		cpu0, _ := processUsage()
		done++
		if opt.Progress != nil {
			bar := strings.Repeat("█", done*20/total) + strings.Repeat("░", 20-done*20/total)
			fmt.Fprintf(opt.Progress, "\r\x1b[K%s [%d/%d] %s …", bar, done, total, name)
			defer fmt.Fprint(opt.Progress, "\r\x1b[K")
		}
		log.Info("step started", "step", name)
		// The step's name labels its CPU samples (and its goroutines'):
		// go tool pprof -tagfocus step=score bin/churn DIR/cpu.pprof.
		var rows int64
		var note string
		var err error
		pprof.Do(ctx, pprof.Labels("step", name), func(context.Context) { rows, note, err = fn() })
		if err != nil {
			return fmt.Errorf("%w at step %s: %w", ErrRunFailed, name, err)
		}
		d := time.Since(start)
		cpu, peak := processUsage()
		rm.Steps = append(rm.Steps, RunStep{Name: name, Rows: rows, DurationMS: millis(d), CPUMS: millis(cpu - cpu0), PeakRSSMiB: mebibytes(peak), Note: note})
		log.Info("step done", "step", name, "rows", rows, "took", d.Round(time.Millisecond), "cpu", (cpu - cpu0).Round(time.Millisecond), "peak_rss_mib", mebibytes(peak))
		if opt.FailAfterStep == name {
			return fmt.Errorf("%w at step %s: failure injected by CHURN_FAIL_AFTER", ErrRunFailed, name)
		}
		return nil
	}

	if opt.Inbox != "" {
		if err := step("ingest", func() (int64, string, error) {
			files, err := inboxFiles(opt.Inbox)
			if err != nil {
				return 0, "", err
			}
			if len(files) == 0 {
				rm.Warnings = append(rm.Warnings, "the inbox "+opt.Inbox+" has no files")
				return 0, "inbox empty", nil
			}
			io := opt.Ingest
			io.Log = log
			sum, err := ingest.IngestLocked(ctx, w, files, io)
			if sum != nil {
				rm.Inputs = sum.Files
			}
			if err != nil {
				return 0, "", err
			}
			if sum.Rejected > 0 {
				rm.Warnings = append(rm.Warnings, fmt.Sprintf("%d rows quarantined in %s", sum.Rejected, sum.Quarantine))
			}
			return sum.Accepted, "", nil
		}); err != nil {
			return nil, "", err
		}
	}

	fo := opt.Features
	fo.AsOf = opt.AsOf
	backtestDays := opt.BacktestDays
	if backtestDays == 0 {
		backtestDays = int(math.Round(opt.Score.HorizonDays))
	}
	spec := night.FitSpec{Name: cmp.Or(opt.Model.Name, "bgnbd"), Purchase: opt.Model.BTYD, LogitL2: opt.Model.LogitL2,
		HorizonDays: int(math.Round(opt.Score.HorizonDays)), Fit: model.FitOptions{Penalizer: opt.Model.Penalizer}}
	var res *features.Result
	if err := step("features", func() (int64, string, error) {
		// One scan for every snapshot the night uses; the later steps find
		// theirs in fo.Snapshots.
		snaps, err := night.ScanSnapshots(ctx, w, fo, nightSnapshots(opt.AsOf, backtestDays, spec))
		if err != nil {
			return 0, "", err
		}
		fo.Snapshots = snaps
		if res, err = night.ComputeFeatures(ctx, w, fo); err != nil {
			return 0, "", err
		}
		if len(res.Customers) == 0 {
			return 0, "", fmt.Errorf("%w on or before %s", model.ErrNoData, asOf)
		}
		warnings, stale := dataWarnings(res, opt.Score.HorizonDays, opt.Checks)
		rm.Warnings = append(rm.Warnings, warnings...)
		if stale && opt.Checks.FailOnStale {
			return 0, "", fmt.Errorf("%w: %s (checks.fail-on-stale is set; the previous run is kept)", ErrStale, warnings[len(warnings)-1])
		}
		prov, err := night.ProvenanceOf(w, fo)
		if err != nil {
			return 0, "", err
		}
		return int64(len(res.Customers)), "", night.WriteFeatures(tmp, res, prov)
	}); err != nil {
		return nil, "", err
	}

	var mf *night.ModelFile
	var autoBacktest *night.Backtest // the backtest --model auto chose with, when it ran one
	if err := step("fit", func() (int64, string, error) {
		if prev, why := reusableModel(w, asOf, res, opt.Model, spec.Name); prev != nil {
			mf, rm.Refit = prev, why
		} else {
			var err error
			if mf, autoBacktest, err = night.FitSpecModels(ctx, w, fo, res, spec); err != nil {
				return 0, "", err
			}
			rm.Refit = why
		}
		rm.Model = mf
		if w := mf.Warnings(); w != "" {
			rm.Warnings = append(rm.Warnings, "fit: "+w)
		}
		return int64(mf.Customers), rm.Refit, night.WriteModelFile(tmp, mf)
	}); err != nil {
		return nil, "", err
	}

	var backtest *night.Backtest
	if err := step("backtest", func() (int64, string, error) {
		days := backtestDays
		models := []string{mf.Model}
		if spec.Name == "logit" || spec.Name == "auto" {
			models = append(models, "logit")
		}
		bo := night.BacktestOptions{Features: fo, HoldoutDays: days, Models: models, Purchase: mf.Model, LogitL2: spec.LogitL2, Fit: spec.Fit}
		bo.Features.AsOf = opt.AsOf.AddDate(0, 0, -days)
		bt, err := autoBacktest, error(nil)
		if bt == nil || bt.HoldoutDays != days {
			bt, err = night.RunBacktest(ctx, w, bo)
		}
		if errors.Is(err, model.ErrNoData) {
			rm.Warnings = append(rm.Warnings, fmt.Sprintf("no backtest: no customers before %s", bo.Features.AsOf.Format(time.DateOnly)))
			return 0, "skipped", nil
		}
		if err != nil {
			return 0, "", err
		}
		for _, m := range bt.Models {
			if m.Error != "" {
				rm.Warnings = append(rm.Warnings, "backtest of "+m.Model+" failed: "+m.Error)
			}
			if len(m.Undefined) > 0 {
				rm.Warnings = append(rm.Warnings, fmt.Sprintf("backtest of %s: %s undefined on this holdout (%s)", m.Model, strings.Join(m.Undefined, ", "), bt.BestReason))
			}
			if m.Warning != "" {
				rm.Warnings = append(rm.Warnings, "backtest fit at the cutoff: "+m.Warning)
			}
		}
		bt.DropCohort() // the report keeps the metrics, not the cohort's rows
		rm.Backtest, backtest = bt.Models, bt
		return int64(bt.Customers), "", night.WriteBacktest(tmp, bt)
	}); err != nil {
		return nil, "", err
	}

	// Every snapshot but the as-of date's is done with: their rows go
	// before the scores and the plan are made.
	fo.Snapshots = nil

	var scores []night.Score
	var meta night.ScoresMeta
	if err := step("score", func() (int64, string, error) {
		var err error
		if scores, meta, err = night.ScoreCustomersContext(ctx, res, mf, opt.Score); err != nil {
			return 0, "", err
		}
		if err := night.ApplyHysteresis(res, scores, w.PreviousRun(asOf), opt.Score, &meta); err != nil {
			return 0, "", err
		}
		for t, n := range meta.Tiers {
			rm.Counts["tier_"+t] = int64(n)
		}
		rm.Counts["one_time_p_alive_1"] = int64(meta.OneTimeAlive)
		return int64(len(scores)), "", night.WriteScores(tmp, res, scores, meta)
	}); err != nil {
		return nil, "", err
	}

	var recs []perkplan.Recommendation
	if opt.Perks != "" {
		if err := step("recommend", func() (int64, string, error) {
			catalog, err := perkplan.ReadCatalog(opt.Perks, res.SegmentNames)
			if err != nil {
				return 0, "", err
			}
			po := opt.Plan
			if po.Uplift, err = perkplan.LearnUplift(ctx, w, fo, opt.History, catalog); err != nil {
				return 0, "", err
			}
			if po.Uplift != nil {
				if err := perkplan.WriteUplift(tmp, po.Uplift); err != nil {
					return 0, "", err
				}
				for _, why := range slices.Sorted(maps.Keys(po.Uplift.Skipped)) {
					rm.Warnings = append(rm.Warnings, fmt.Sprintf("uplift: %d campaign history rows not used: %s", po.Uplift.Skipped[why], why))
				}
			}
			plan, err := perkplan.MakePlan(res, scores, meta, mf, catalog, po)
			if err != nil {
				return 0, "", err
			}
			rm.Plan = plan
			rm.Warnings = append(rm.Warnings, planWarnings(plan, scores)...)
			recs = plan.Recommendations(len(res.Customers))
			return int64(plan.Recommended), "", perkplan.WritePlan(tmp, res, plan, opt.Excel)
		}); err != nil {
			return nil, "", err
		}
	}

	var tally *report.ReportTally
	if err := step("exports", func() (int64, string, error) {
		ex, err := export.WriteExports(tmp, w.PreviousRun(asOf), res, scores, recs, mf, export.ExportOptions{Excel: opt.Excel, Timezone: fo.Timezone, Formats: opt.ExportFormats, HorizonDays: opt.Score.HorizonDays})
		if err != nil {
			return 0, "", err
		}
		rm.Counts["delta_rows"] = int64(ex.DeltaRows)
		tally = ex.Tally
		note := "first run: the delta holds every customer"
		if ex.PreviousRun != "" {
			note = "delta against the run of " + ex.PreviousRun
		}
		return int64(len(res.Customers)), note, nil
	}); err != nil {
		return nil, "", err
	}

	if err := step("report", func() (int64, string, error) {
		q, err := report.WarehouseQuality(w)
		if err != nil {
			return 0, "", err
		}
		rm.Quality = q
		d, err := report.NewReportData(asOf, opt.Version, rm.Warnings, &meta, mf, backtest, rm.Plan, *q, tally)
		if err != nil {
			return 0, "", err
		}
		return 1, "", report.WriteReport(tmp, d)
	}); err != nil {
		return nil, "", err
	}

	outs, err := hashOutputs(tmp)
	if err != nil {
		return nil, "", err
	}
	rm.Outputs = outs
	cpu, peak := processUsage()
	rm.DurationMS, rm.CPUMS, rm.PeakRSSMiB = millis(time.Since(runStart)), millis(cpu-runCPU), mebibytes(peak)
	if err := warehouse.WriteJSON(filepath.Join(tmp, "run.json"), rm); err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("%w: interrupted: %w", ErrRunFailed, err)
	}
	// Swap: the old run aside, the new one in, the old one removed.
	if _, err := os.Stat(final); err == nil {
		if err := os.Rename(final, old); err != nil {
			return nil, "", err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Rename(old, final)
		return nil, "", err
	}
	warehouse.SyncDir(filepath.Dir(final))
	os.RemoveAll(old)
	ok = true
	return rm, final, nil
}

// ErrStale is the error of a night on stale data when the checks make it
// one (fail-on-stale); the CLI exits 4.
var ErrStale = errors.New("stale data")

// dataWarnings says what the features show the model cannot judge well: a
// small shop, few repeat buyers (below the checks' limits: the customers
// with a purchase up to the as-of date, those with a repeat purchase day),
// a history shorter than the horizon, data that stopped more than the
// checks' stale days before the as-of date. stale reports the last.
func dataWarnings(res *features.Result, horizonDays float64, checks DataChecks) (out []string, stale bool) {
	checks = checks.withDefaults()
	fewCustomers, fewRepeatBuyers, staleDays := checks.MinCustomers, checks.MinRepeatBuyers, checks.StaleDays
	repeat := 0
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range res.Customers {
		c := &res.Customers[i]
		if c.Frequency > 0 {
			repeat++
		}
		first, last = min(first, c.FirstPurchaseMicros), max(last, c.LastPurchaseMicros)
	}
	if n := len(res.Customers); n < fewCustomers || repeat < fewRepeatBuyers {
		out = append(out, fmt.Sprintf("small shop: %d customers, %d with a repeat purchase (below %d and %d the fits are weakly identified; read the scores with their warnings)",
			n, repeat, fewCustomers, fewRepeatBuyers))
	}
	end := res.AsOf.AddDate(0, 0, 1) // the as-of day is included
	if days := end.Sub(time.UnixMicro(first)).Hours() / 24; days < horizonDays {
		out = append(out, fmt.Sprintf("short history: %.0f days of purchases, less than the %.0f-day horizon", days, horizonDays))
	}
	if days := end.Sub(time.UnixMicro(last)).Hours() / 24; days > float64(staleDays)+1 {
		out = append(out, fmt.Sprintf("stale data: the last purchase is %.0f days before the end of the as-of date %s (is the export up to date?)",
			math.Floor(days), res.AsOf.Format(time.DateOnly)))
		stale = true
	}
	return out, stale
}

// planWarnings says when a plan's budget looks like a mistake: more than
// the scored customers' whole CLV, which no perk can earn back (a budget in
// cents, or a yearly budget for one night).
func planWarnings(plan *perkplan.Plan, scores []night.Score) []string {
	var clv float64
	for i := range scores {
		clv += max(scores[i].CLV, 0)
	}
	if plan.Budget > clv {
		return []string{fmt.Sprintf("the budget %.2f %s is more than the customers' total CLV %.2f: no plan can earn it back (is it in minor units, or meant for a longer period?)",
			plan.Budget, plan.Currency, clv)}
	}
	return nil
}

// nightSnapshots are the feature snapshots a night's steps use: the as-of
// date D; the backtest's cutoff D − B with its holdout to D (and tracking);
// with logit or auto, the auto backtest at D − H, and the risk model's
// training snapshots, one holdout before each cutoff it is trained for.
func nightSnapshots(asOf time.Time, backtestDays int, spec night.FitSpec) []night.Snapshot {
	back := func(t time.Time, days int) time.Time { return t.AddDate(0, 0, -days) }
	out := []night.Snapshot{{AsOf: asOf}, {AsOf: back(asOf, backtestDays), HoldoutEnd: asOf, Tracking: true}}
	if spec.Name != "logit" && spec.Name != "auto" {
		return out
	}
	h := spec.HorizonDays
	for _, c := range []struct {
		cutoff time.Time
		days   int
	}{{asOf, h}, {back(asOf, backtestDays), backtestDays}, {back(asOf, h), h}} {
		out = append(out, night.Snapshot{AsOf: back(c.cutoff, c.days), HoldoutEnd: c.cutoff})
	}
	if spec.Name == "auto" {
		out = append(out, night.Snapshot{AsOf: back(asOf, h), HoldoutEnd: asOf, Tracking: true})
	}
	return out
}

// recoverRunDirs undoes a swap a crash interrupted and removes a leftover
// temporary run.
func recoverRunDirs(final, tmp, old string) error {
	if _, err := os.Stat(old); err == nil {
		if _, err := os.Stat(final); errors.Is(err, os.ErrNotExist) {
			if err := os.Rename(old, final); err != nil {
				return err
			}
		} else {
			os.RemoveAll(old)
		}
	}
	return os.RemoveAll(tmp)
}

// inboxFiles lists the regular files of an inbox, sorted, skipping hidden ones.
func inboxFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "_") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// hashOutputs lists every file under dir with its size and sha256: those
// this process wrote were hashed as they were written; any other is read.
func hashOutputs(dir string) ([]RunOutput, error) {
	var out []RunOutput
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d, ok := warehouse.OutputDigest(p); ok {
			out = append(out, RunOutput{Path: filepath.ToSlash(rel), Bytes: d.Bytes, SHA256: d.SHA256})
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		out = append(out, RunOutput{Path: filepath.ToSlash(rel), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	return out, err
}

// reusableModel returns the latest earlier model when the refit policy is
// "auto" and that model is young enough and still fits: its log-likelihood
// per customer on today's data is within the drift limit of its own.
func reusableModel(w *warehouse.Warehouse, asOf string, res *features.Result, mc ModelConfig, name string) (*night.ModelFile, string) {
	if mc.Refit == "" || mc.Refit == "always" {
		return nil, "refit: policy always"
	}
	prevDir := w.PreviousRun(asOf)
	if prevDir == "" {
		return nil, "refit: no earlier model"
	}
	mf, err := night.ReadModelFile(prevDir)
	if err != nil || cmp.Or(mf.Requested, mf.Model) != name || mf.Unit != res.Unit.String() {
		return nil, "refit: the earlier model is missing or of another kind"
	}
	end, _ := time.Parse(time.DateOnly, mf.Calibration.End)
	maxAge := mc.MaxAgeDays
	if maxAge == 0 {
		maxAge = 30
	}
	if age := res.AsOf.Sub(end).Hours() / 24; age > float64(maxAge) {
		return nil, fmt.Sprintf("refit: the model of %s is %.0f days old (limit %d)", mf.Calibration.End, age, maxAge)
	}
	pm, err := mf.PurchaseModel()
	if err != nil {
		return nil, "refit: " + err.Error()
	}
	ps, _ := night.CustomerPatterns(res)
	llNow := pm.LogLik(ps) / float64(len(res.Customers))
	llThen := mf.LogLik / mf.Customers
	limit := mc.DriftLimit
	if limit == 0 {
		limit = 0.05
	}
	if d := math.Abs(llNow - llThen); d > limit || math.IsNaN(d) {
		return nil, fmt.Sprintf("refit: log-likelihood per customer drifted by %.4f (limit %.4f)", d, limit)
	}
	return mf, fmt.Sprintf("reused the model of %s (log-likelihood per customer %.4f then, %.4f now)", mf.Calibration.End, llThen, llNow)
}
