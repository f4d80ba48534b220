package features

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// ScanFunc streams transaction batches to fn from up to workers goroutines,
// each call with its worker index (warehouse.Warehouse.Scan (pipeline/warehouse) has this shape).
type ScanFunc func(ctx context.Context, fn func(worker int, rec arrow.Record) error) error

// Accumulate aggregates every batch that scan yields into one Accumulator
// (sharded by customer, so the workers share it). The scan must deliver
// months in order (see the package comment), as warehouse.Warehouse.Scan (pipeline/warehouse) does.
func Accumulate(ctx context.Context, scan ScanFunc, opt Options) (*Accumulator, error) {
	acc := NewAccumulator(opt)
	if err := scan(ctx, func(_ int, rec arrow.Record) error { return acc.AddRecord(rec) }); err != nil {
		return nil, err
	}
	return acc, nil
}

// Compute accumulates and finishes: every row in memory. Memory grows with
// customers only.
func Compute(ctx context.Context, scan ScanFunc, opt Options) (*Result, error) {
	acc, err := Accumulate(ctx, scan, opt)
	if err != nil {
		return nil, err
	}
	return acc.Finish()
}

// AddRecord adds every row of an Arrow batch with columns customer_id
// (string), ts (timestamp µs), amount (int64 millionths), currency (string)
// and, if present, store and category (strings).
func (a *Accumulator) AddRecord(rec arrow.Record) error {
	if a.finished {
		return errFinished
	}
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
	// Hash every row, sort the rows by shard (counting sort), then take each
	// shard's lock once for all its rows.
	n := int(rec.NumRows())
	hashes := make([]uint64, n)
	var counts [numShards + 1]int
	for i := 0; i < n; i++ {
		hashes[i] = hashID(cust.Value(i))
		counts[shardOf(hashes[i])+1]++
	}
	for s := 1; s <= numShards; s++ {
		counts[s] += counts[s-1]
	}
	order := make([]int32, n)
	next := counts
	for i := 0; i < n; i++ {
		s := shardOf(hashes[i])
		order[next[s]] = int32(i)
		next[s]++
	}
	var mc monthCache
	for s := 0; s < numShards; s++ {
		if counts[s] == counts[s+1] {
			continue
		}
		sh := &a.shards[s]
		sh.mu.Lock()
		rows := order[counts[s]:counts[s+1]]
		sh.warm(rows, hashes)
		for _, i := range rows {
			t := Transaction{
				CustomerID:   cust.Value(int(i)),
				TimeMicros:   int64(ts.Value(int(i))),
				AmountMicros: amount.Value(int(i)),
				Currency:     cur.Value(int(i)),
			}
			if store != nil && store.IsValid(int(i)) {
				t.Store = store.Value(int(i))
			}
			if cat != nil && cat.IsValid(int(i)) {
				t.Category = cat.Value(int(i))
			}
			if err := a.add(sh, &t, hashes[i], &mc); err != nil {
				sh.mu.Unlock()
				return err
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// warm loads the hash slots, then the aggregates, of a shard's rows of a
// batch before they are added. The loads of one pass do not depend on each
// other, so the processor overlaps their cache misses, where the adding
// itself would wait for them one row at a time (scanning and adding ten
// million rows went from 3.5 s to 2.5 s).
func (sh *shard) warm(rows []int32, hashes []uint64) {
	slots := sh.ids.slots
	if len(slots) == 0 {
		return
	}
	mask := uint64(len(slots) - 1)
	var sink uint64
	for _, i := range rows {
		sink += slots[home(hashes[i], mask)]
	}
	for _, i := range rows {
		if v := slots[home(hashes[i], mask)]; v != 0 {
			c := sh.accs.at(int(uint32(v)) - 1)
			// One load in each 64 bytes of the 136: every cache line it spans.
			sink += uint64(c.idHead[0]) + uint64(c.spend30) + uint64(c.orders365) + uint64(c.days)
		}
	}
	sh.sink += sink
}
