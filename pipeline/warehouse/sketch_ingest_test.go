package warehouse_test

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

	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/warehouse"
)

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
	opt := ingest.IngestOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range []string{write("a", 0, 20_000), write("b", 10_000, 30_000)} {
		if _, err := ingest.Ingest(context.Background(), data, []string{f}, opt); err != nil {
			t.Fatal(err)
		}
	}
	n, err := (&warehouse.Warehouse{Dir: data}).EstimateCustomers()
	if err != nil || math.Abs(float64(n)-30_000) > 0.03*30_000 {
		t.Fatalf("estimate %d, %v; want ≈ 30000", n, err)
	}
	// A warehouse with an ingest from before sketches has no estimate.
	os.Remove(filepath.Join(data, "_ingest", "customers", mustManifest(t, data)[0].IngestID+".hll"))
	if n, err := (&warehouse.Warehouse{Dir: data}).EstimateCustomers(); err != nil || n != 0 {
		t.Fatalf("without a sketch: %d, %v; want 0", n, err)
	}
}

func mustManifest(t *testing.T, data string) []warehouse.ManifestEntry {
	t.Helper()
	m, err := (&warehouse.Warehouse{Dir: data}).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}
