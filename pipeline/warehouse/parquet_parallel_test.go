package warehouse_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/parquet-go/parquet-go"
)

// TestParallelParquetRoundTrip writes rows through row groups encoded side
// by side and reads them back with parquet-go's own reader: every value, in
// order, across many row groups and a last short one.
func TestParallelParquetRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	rows := make([]night.FeatureRow, 70_001)
	segments := []string{"Champions", "Lost", "At Risk"}
	for i := range rows {
		rows[i] = night.FeatureRow{
			CustomerID: fmt.Sprintf("C%08d", i), FirstPurchase: rng.Int64(), LastPurchase: rng.Int64(),
			Orders: rng.Int64N(50), Frequency: rng.Int64N(49), Recency: rng.Float64() * 100, T: rng.NormFloat64(),
			MonetaryValue: rng.Float64(), TotalSpend: rng.Int64() - 1<<62, RScore: rng.Int32N(5) + 1,
			Segment: segments[rng.IntN(3)], GapStdDays: rng.ExpFloat64(), HoldoutSpend: -rng.Int64N(1e12),
		}
	}
	var buf bytes.Buffer
	p := warehouse.NewParallelParquet[night.FeatureRow](&buf, 4096, 2, parquet.Compression(&warehouse.FastSnappy{}))
	for _, r := range rows {
		if err := p.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.RowGroups()); n != 18 {
		t.Errorf("%d row groups, want 18", n)
	}
	back, err := parquet.Read[night.FeatureRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rows) {
		t.Fatalf("read %d rows, wrote %d", len(back), len(rows))
	}
	for i := range rows {
		if !reflect.DeepEqual(back[i], rows[i]) {
			t.Fatalf("row %d reads back as %+v, wrote %+v", i, back[i], rows[i])
		}
	}
}
