package features

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// ScanFunc streams transaction batches to fn from up to workers goroutines,
// each call with its worker index (pipeline.Warehouse.Scan has this shape).
type ScanFunc func(ctx context.Context, fn func(worker int, rec arrow.Record) error) error

// Compute aggregates every batch that scan yields with one Accumulator per
// worker, merges them, and finishes. Memory grows with customers only.
func Compute(ctx context.Context, workers int, scan ScanFunc, opt Options) (*Result, error) {
	accs := make([]*Accumulator, workers)
	for i := range accs {
		accs[i] = NewAccumulator(opt)
	}
	err := scan(ctx, func(worker int, rec arrow.Record) error {
		return accs[worker].AddRecord(rec)
	})
	if err != nil {
		return nil, err
	}
	// Merge the smaller into the larger, pairwise.
	for len(accs) > 1 {
		a, b := accs[0], accs[1]
		if b.accs.len() > a.accs.len() {
			a, b = b, a
		}
		a.Merge(b)
		accs = append([]*Accumulator{a}, accs[2:]...)
	}
	return accs[0].Finish()
}

// AddRecord adds every row of an Arrow batch with columns customer_id
// (string), ts (timestamp µs), amount (int64 millionths), currency (string)
// and, if present, store and category (strings).
func (a *Accumulator) AddRecord(rec arrow.Record) error {
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		return rec.Column(idx[0])
	}
	cust, ok1 := col("customer_id").(*array.String)
	ts, ok2 := col("ts").(*array.Timestamp)
	amount, ok3 := col("amount").(*array.Int64)
	cur, ok4 := col("currency").(*array.String)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("features: batch lacks customer_id, ts, amount or currency: %s", rec.Schema())
	}
	store, _ := col("store").(*array.String)
	cat, _ := col("category").(*array.String)
	n := int(rec.NumRows())
	for i := 0; i < n; i++ {
		t := Transaction{
			CustomerID:   cust.Value(i),
			TimeMicros:   int64(ts.Value(i)),
			AmountMicros: amount.Value(i),
			Currency:     cur.Value(i),
		}
		if store != nil && store.IsValid(i) {
			t.Store = store.Value(i)
		}
		if cat != nil && cat.IsValid(i) {
			t.Category = cat.Value(i)
		}
		a.Add(t)
	}
	return nil
}
