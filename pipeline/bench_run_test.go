package pipeline_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/churnhq/churn/pipeline"
)

// BenchmarkRun10M: the whole `churn run` process as a user runs it — inbox
// ingest, features, fit, score, backtest, perk plan, exports, report — on a
// synthetic export of about ten million rows (BENCH_ROWS scales it:
// customers = rows × 0.3, 78 weeks), the 7-perk example catalog and a
// budget of 30,000, default model; beside the lifetimes pipeline of
// testdata/lifetimes/nightly.py on the same file in the same run (with the
// venv of `make bench`). Budget: ≤ 15 s and ≤ 1 GiB for 10M rows, ≥ 9 × the
// lifetimes pipeline. The step table is logged from run.json.
func BenchmarkRun10M(b *testing.B) {
	n := benchRows()
	bin := buildChurn(b)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("churn-bench-run-%d", n))
	export := filepath.Join(dir, "synth", "transactions.csv")
	if _, err := os.Stat(export); err != nil {
		os.RemoveAll(dir)
		runMeasured(b, bin, "datasets", "synth", "--customers", strconv.Itoa(n*3/10), "--weeks", "78", "--seed", "18", "--out", filepath.Join(dir, "synth"))
		runMeasured(b, bin, "datasets", "cdnow", "--out", filepath.Join(dir, "cdnow"))
	}
	// The synthetic observation starts 2024-01-01: 78 weeks end 2025-06-29.
	const asOf = "2025-06-29"
	python := filepath.Join("..", ".venv", "bin", "python")
	_, pyErr := os.Stat(python)
	var sum struct{ took, rss, py, pyRSS, ratio float64 }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := b.TempDir()
		inbox := filepath.Join(run, "inbox")
		os.MkdirAll(inbox, 0o755)
		if err := os.Link(export, filepath.Join(inbox, "transactions.csv")); err != nil {
			b.Fatal(err)
		}
		took, rss := runMeasured(b, bin, "--log-level", "warn", "run", "--data", filepath.Join(run, "data"), "--inbox", inbox,
			"--perks", filepath.Join(dir, "cdnow", "perks.csv"), "--budget", "30000", "--as-of", asOf)
		sum.took += took.Seconds()
		sum.rss = max(sum.rss, float64(rss)/(1<<20))
		line := fmt.Sprintf("run %d: churn run %.2f s, %.0f MiB", i+1, took.Seconds(), float64(rss)/(1<<20))
		if i == 0 {
			b.Log(stepTable(b, filepath.Join(run, "data", "runs", asOf, "run.json")))
		}
		if pyErr == nil {
			py, pyRSS := runMeasured(b, python, filepath.Join("testdata", "lifetimes", "nightly.py"), export, asOf)
			sum.py += py.Seconds()
			sum.pyRSS = max(sum.pyRSS, float64(pyRSS)/(1<<20))
			sum.ratio += py.Seconds() / took.Seconds()
			line += fmt.Sprintf("; lifetimes pipeline %.2f s, %.0f MiB; churn is %.1f × faster", py.Seconds(), float64(pyRSS)/(1<<20), py.Seconds()/took.Seconds())
		} else {
			b.Logf("no lifetimes reference (make bench installs the venv): %v", pyErr)
		}
		b.Log(line)
	}
	runs := float64(b.N)
	b.ReportMetric(sum.took/runs, "run-s")
	b.ReportMetric(sum.rss, "rss-MiB")
	if pyErr == nil {
		b.ReportMetric(sum.py/runs, "lifetimes-s")
		b.ReportMetric(sum.pyRSS, "lifetimes-rss-MiB")
		b.ReportMetric(sum.ratio/runs, "speedup")
	}
}

// stepTable is run.json's steps as a table.
func stepTable(b *testing.B, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var rm pipeline.RunManifest
	if err := json.Unmarshal(data, &rm); err != nil {
		b.Fatal(err)
	}
	out := "| step | wall | CPU | peak RSS |\n| --- | --- | --- | --- |\n"
	for _, s := range rm.Steps {
		out += fmt.Sprintf("| %s | %.2f s | %.2f s | %.0f MiB |\n", s.Name, s.DurationMS/1000, s.CPUMS/1000, s.PeakRSSMiB)
	}
	return out + fmt.Sprintf("| **whole run** | %.2f s | %.2f s | %.0f MiB |", rm.DurationMS/1000, rm.CPUMS/1000, rm.PeakRSSMiB)
}
