package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hadoop"
)

// icebergRows reads the warehouse's Iceberg table with iceberg-go's own
// scan, as another engine would: its rows and the sum of their amounts
// in millionths, and the ingest ids of its snapshots; rows is −1 when
// there is no table.
func icebergRows(t *testing.T, data string) (int64, int64, map[string]bool) {
	t.Helper()
	rows, micros, ingests, err := readIceberg(data)
	if err != nil {
		t.Fatal(err)
	}
	return rows, micros, ingests
}

// readIceberg is icebergRows returning its error.
func readIceberg(data string) (int64, int64, map[string]bool, error) {
	ctx := context.Background()
	cat, err := hadoop.NewCatalog("test", filepath.Join(data, warehouse.IcebergDir), iceberg.Properties{})
	if err != nil {
		return 0, 0, nil, err
	}
	tbl, err := cat.LoadTable(ctx, warehouse.IcebergTable)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return -1, 0, nil, nil // none (yet): a writer was killed while it rebuilt it
	}
	if err != nil {
		return 0, 0, nil, err
	}
	ingests := map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		ingests[s.Summary.Properties["churn.ingest-id"]] = true
	}
	_, batches, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return 0, 0, nil, err
	}
	var rows, micros int64
	for rec, err := range batches {
		if err != nil {
			return 0, 0, nil, err
		}
		rows += rec.NumRows()
		col := rec.Column(int(rec.Schema().FieldIndices("amount")[0])).(*array.Decimal128)
		for i := 0; i < col.Len(); i++ {
			micros += int64(col.Value(i).LowBits()) // DECIMAL(18,6): the value in millionths
		}
		rec.Release()
	}
	return rows, micros, ingests, nil
}

// TestIcebergTable: every ingest commit is an Iceberg snapshot of that
// ingest's part files, registered where they lie; the table read by
// iceberg-go has exactly the warehouse's rows and amounts; a warehouse
// without the table (from before it) gets it, whole, from the next
// writer's recovery.
func TestIcebergTable(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var ids []string
	for seed := uint64(1); seed <= 2; seed++ {
		src := filepath.Join(dir, "src", string(rune('a'+seed)))
		if _, err := datasets.WriteSynth(src, datasets.SynthOptions{Customers: 3000, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, filepath.Join(src, datasets.SynthTransactions))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sum.IngestID)
	}
	want := ingesttest.ReadAll(t, data)
	if len(want) == 0 {
		t.Fatal("the ingests wrote no rows")
	}
	var wantMicros int64
	for _, r := range want {
		wantMicros += r.AmountMicros
	}
	check := func(when string) {
		rows, micros, ingests := icebergRows(t, data)
		if rows != int64(len(want)) || micros != wantMicros {
			t.Errorf("%s: the Iceberg table has %d rows, %d µ; the warehouse %d rows, %d µ", when, rows, micros, len(want), wantMicros)
		}
		for _, id := range ids {
			if !ingests[id] {
				t.Errorf("%s: no snapshot of ingest %s (%v)", when, id, ingests)
			}
		}
	}
	check("after two ingests")
	// Upgrade: a warehouse from before the table.
	if err := os.RemoveAll(filepath.Join(data, warehouse.IcebergDir)); err != nil {
		t.Fatal(err)
	}
	w := &warehouse.Warehouse{Dir: data}
	if err := w.Recover(); err != nil {
		t.Fatal(err)
	}
	check("after the upgrade")
	// And nothing is registered twice.
	if err := w.SyncIceberg(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after a second sync")
}

// TestIcebergTableMoved: Iceberg keeps absolute paths, so a copied
// warehouse's table points at the original's files; the copy's next
// writer rebuilds it for its own files.
func TestIcebergTableMoved(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if _, err := datasets.WriteSynth(src, datasets.SynthOptions{Customers: 500, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	orig := filepath.Join(dir, "orig")
	if _, err := ingesttest.Ingest(t, orig, ingest.IngestOptions{}, filepath.Join(src, datasets.SynthTransactions)); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(orig, moved); err != nil {
		t.Fatal(err)
	}
	w := &warehouse.Warehouse{Dir: moved}
	if err := w.Recover(); err != nil {
		t.Fatal(err)
	}
	rows, _, _ := icebergRows(t, moved)
	if want := len(ingesttest.ReadAll(t, moved)); rows != int64(want) {
		t.Errorf("the moved warehouse's Iceberg table has %d rows, want %d", rows, want)
	}
}
