package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCustomerSketchEstimates(t *testing.T) {
	for _, n := range []int{0, 10, 1000, 50_000, 400_000} {
		var s customerSketch
		for i := 0; i < n; i++ {
			s.add(fmt.Sprintf("C%09d", i))
			s.add(fmt.Sprintf("C%09d", i)) // repeats do not count
		}
		if got := s.estimate(); math.Abs(got-float64(n)) > 0.03*float64(n)+1 {
			t.Errorf("%d distinct ids: estimate %.0f", n, got)
		}
	}
	// The union of two overlapping sets.
	var a, b customerSketch
	for i := 0; i < 60_000; i++ {
		a.add(fmt.Sprint("x", i))
		b.add(fmt.Sprint("x", i+30_000))
	}
	a.merge(&b)
	if got := a.estimate(); math.Abs(got-90_000) > 0.03*90_000 {
		t.Errorf("union of 60k and 60k sharing 30k: estimate %.0f, want ≈ 90000", got)
	}
}

// TestEstimateCustomersAcrossIngests: two ingests sharing customers; the
// warehouse's estimate is that of their union.
func TestEstimateCustomersAcrossIngests(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	write := func(name string, from, to int) string {
		var b strings.Builder
		b.WriteString("customer_id,order_id,ordered_at,amount\n")
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "C%d,%s%d,2024-01-02T10:00:00Z,1.00\n", i, name, i)
		}
		path := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	opt := IngestOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range []string{write("a", 0, 20_000), write("b", 10_000, 30_000)} {
		if _, err := Ingest(context.Background(), data, []string{f}, opt); err != nil {
			t.Fatal(err)
		}
	}
	n, err := (&Warehouse{Dir: data}).EstimateCustomers()
	if err != nil || math.Abs(float64(n)-30_000) > 0.03*30_000 {
		t.Fatalf("estimate %d, %v; want ≈ 30000", n, err)
	}
	// A warehouse with an ingest from before sketches has no estimate.
	os.Remove((&Warehouse{Dir: data}).sketchPath(mustManifest(t, data)[0].IngestID))
	if n, err := (&Warehouse{Dir: data}).EstimateCustomers(); err != nil || n != 0 {
		t.Fatalf("without a sketch: %d, %v; want 0", n, err)
	}
}

func mustManifest(t *testing.T, data string) []ManifestEntry {
	t.Helper()
	m, err := (&Warehouse{Dir: data}).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
