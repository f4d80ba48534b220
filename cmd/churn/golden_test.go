package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenRuns: the nightly job on CDNOW (as `make demo` runs it) and on a
// synthetic export with refunds in a reporting time zone writes the files
// people and tools read — the CRM feed and delta, the plan, the features,
// the backtest tables, the report, the segment files — with the same bytes
// as the job did before it became one pass (testdata/golden/*.sha256).
func TestGoldenRuns(t *testing.T) {
	for _, tc := range []struct {
		name, asOf string
		setup      [][]string
		run        []string
	}{
		{"cdnow_run", "1998-06-30",
			[][]string{{"datasets", "cdnow", "--out", "input"}},
			[]string{"--config", "input/churn.yaml", "--perks", "input/perks.csv", "--budget", "5000"}},
		{"synth_run", "2025-12-28",
			[][]string{{"datasets", "synth", "--customers", "5000", "--seed", "9", "--refunds", "0.05", "--out", "input"}, {"datasets", "cdnow", "--out", "cdnow"}},
			[]string{"--perks", "cdnow/perks.csv", "--budget", "3000", "--timezone", "Europe/Berlin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			for _, args := range tc.setup {
				if code := run(args, io.Discard, io.Discard); code != 0 {
					t.Fatalf("churn %v: exit %d", args, code)
				}
			}
			os.Mkdir("inbox", 0o755)
			matches, _ := filepath.Glob("input/*.txt")
			matches = append(matches, "input/transactions.csv")
			for _, m := range matches {
				if _, err := os.Stat(m); err == nil && !strings.Contains(m, "sample") {
					os.Rename(m, filepath.Join("inbox", filepath.Base(m)))
				}
			}
			var stderr strings.Builder
			args := append([]string{"--log-level", "warn", "run", "--data", "data", "--inbox", "inbox", "--as-of", tc.asOf}, tc.run...)
			if code := run(args, io.Discard, &stderr); code != 0 {
				t.Fatalf("churn %v: exit %d\n%s", args, code, stderr.String())
			}
			golden, err := os.Open(filepath.Join(wd0, "testdata", "golden", tc.name+".sha256"))
			if err != nil {
				t.Fatal(err)
			}
			defer golden.Close()
			sc := bufio.NewScanner(golden)
			files := 0
			var updated []string
			for sc.Scan() {
				want, path, ok := strings.Cut(sc.Text(), "  ")
				if !ok || strings.HasPrefix(want, "#") {
					updated = append(updated, sc.Text())
					continue
				}
				b, err := os.ReadFile(filepath.Join("data", "runs", tc.asOf, path))
				if err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				files++
				sum := sha256.Sum256(b)
				got := hex.EncodeToString(sum[:])
				updated = append(updated, got+"  "+path)
				if got != want && !*updateGolden {
					t.Errorf("%s differs from its golden copy (go test ./cmd/churn -run TestGoldenRuns -update-golden rewrites them; review the diff)", path)
				}
			}
			if files < 10 {
				t.Fatalf("only %d golden files compared", files)
			}
			if *updateGolden {
				if err := os.WriteFile(golden.Name(), []byte(strings.Join(updated, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// updateGolden rewrites testdata/golden/*.sha256 from this run.
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden/*.sha256")

// wd0 is the package directory, where the tests start.
var wd0, _ = os.Getwd()
