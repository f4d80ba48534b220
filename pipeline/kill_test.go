package pipeline_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
)

// warehouseDigest summarises what a reader sees: row count and a hash of
// every row in order-id order.
func warehouseDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	rows := ingesttest.ReadAll(t, dir)
	for _, r := range rows {
		fmt.Fprintf(h, "%s|%s|%d|%d|%s\n", r.CustomerID, r.OrderID, r.TimeMicros, r.AmountMicros, r.Currency)
	}
	return fmt.Sprintf("%d rows %x", len(rows), h.Sum(nil)[:8])
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestKillDuringIngest kills `churn ingest` with SIGKILL at many points of a
// large ingest and checks that the warehouse reads back exactly as before
// the ingest or exactly as after it, and that a re-run completes it.
func TestKillDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and ingests ~1M rows many times")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "churn")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/churn").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A small first ingest, then a large second one that gets killed.
	small, large := filepath.Join(dir, "small"), filepath.Join(dir, "large")
	if _, err := datasets.WriteSynth(small, datasets.SynthOptions{Customers: 500, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.WriteSynth(large, datasets.SynthOptions{Customers: 150_000, Seed: 2, Start: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	ingest := func(data, src string) *exec.Cmd {
		return exec.Command(bin, "--log-level", "error", "ingest", "--data", data, filepath.Join(src, datasets.SynthTransactions))
	}
	base := filepath.Join(dir, "base")
	if out, err := ingest(base, small).CombinedOutput(); err != nil {
		t.Fatalf("base ingest: %v\n%s", err, out)
	}
	before := warehouseDigest(t, base)

	full := filepath.Join(dir, "full")
	copyDir(t, base, full)
	start := time.Now()
	if out, err := ingest(full, large).CombinedOutput(); err != nil {
		t.Fatalf("full ingest: %v\n%s", err, out)
	}
	took := time.Since(start)
	after := warehouseDigest(t, full)
	if before == after {
		t.Fatal("the large ingest changed nothing")
	}

	sawBefore, sawAfter := 0, 0
	const points = 12
	for i := 0; i < points; i++ {
		data := filepath.Join(dir, fmt.Sprintf("k%02d", i))
		copyDir(t, base, data)
		cmd := ingest(data, large)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(float64(took) * (0.05 + 1.1*float64(i)/points)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The dead writer's lock is stale; the reader ignores it.
		got := warehouseDigest(t, data)
		switch got {
		case before:
			sawBefore++
		case after:
			sawAfter++
		default:
			t.Fatalf("kill point %d: warehouse reads %s; before %s, after %s", i, got, before, after)
		}
		if out, err := ingest(data, large).CombinedOutput(); err != nil {
			t.Fatalf("kill point %d: re-run: %v\n%s", i, err, out)
		}
		if got := warehouseDigest(t, data); got != after {
			t.Fatalf("kill point %d: after re-run %s, want %s", i, got, after)
		}
		leftovers, _ := filepath.Glob(filepath.Join(data, "transactions", "*", "_*"))
		if len(leftovers) > 0 {
			t.Fatalf("kill point %d: temporary files left after re-run: %v", i, leftovers)
		}
		os.RemoveAll(data)
	}
	t.Logf("ingest took %v; of %d kills, %d left the warehouse as before, %d as after", took, points, sawBefore, sawAfter)
	if sawBefore == 0 {
		t.Error("no kill landed before the commit: the test did not exercise a crash")
	}
}
