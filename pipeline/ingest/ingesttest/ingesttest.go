// Package ingesttest has the helpers the tests of the ingest and of the
// whole pipeline share: ingest files quietly, read the warehouse back, read
// a whole CSV.
package ingesttest

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// ReadAll scans the warehouse into transactions sorted by order id.
func ReadAll(t testing.TB, dir string) []warehouse.Transaction {
	t.Helper()
	w := &warehouse.Warehouse{Dir: dir}
	var mu sync.Mutex
	var out []warehouse.Transaction
	_, err := w.Scan(context.Background(), warehouse.ScanOptions{BatchRows: 1000}, func(_ int, rec arrow.Record) error {
		cust := rec.Column(warehouse.ColCustomer).(*array.String)
		order := rec.Column(warehouse.ColOrder).(*array.String)
		ts := rec.Column(warehouse.ColTime).(*array.Timestamp)
		amount := rec.Column(warehouse.ColAmount).(*array.Int64)
		cur := rec.Column(warehouse.ColCurrency).(*array.String)
		qty := rec.Column(warehouse.ColQuantity).(*array.Int64)
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, warehouse.Transaction{
				// The batch's buffers are reused after fn returns: copy strings.
				CustomerID: strings.Clone(cust.Value(i)), OrderID: strings.Clone(order.Value(i)), TimeMicros: int64(ts.Value(i)),
				AmountMicros: amount.Value(i), Currency: strings.Clone(cur.Value(i)), QuantityMicros: qty.Value(i),
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderID < out[j].OrderID })
	return out
}

// ReadCSVFile reads every record of a CSV file, header included.
func ReadCSVFile(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// Ingest ingests files into the warehouse at data with opt, logging nowhere,
// with a bad-row limit of 1 % unless opt sets one.
func Ingest(t testing.TB, data string, opt ingest.IngestOptions, args ...string) (*ingest.IngestSummary, error) {
	t.Helper()
	if opt.MaxBadFraction == 0 {
		opt.MaxBadFraction = 0.01
	}
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return ingest.Ingest(context.Background(), data, args, opt)
}
