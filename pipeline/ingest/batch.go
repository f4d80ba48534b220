package ingest

import (
	"math"
	"time"
	"unsafe"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// rowBatch is the accepted rows of one chunk that fall in one UTC month
// (in source order), on their way to the month's part: the unit the
// consumer routes and an encoder writes, so no row is copied between
// parsing and Parquet.
type rowBatch struct {
	month   int // year*12 + month-1; lineOrder for the rows of a line-item chunk
	rows    []warehouse.Transaction
	lines   []int64  // the source line of each row
	raws    []string // the raw text of each row, for a late rejection
	keys    []uint64 // the order key of each row
	refunds int64
	// from, to: the instants [from, to) in µs of the month, when it is in
	// the calendar's range; empty otherwise.
	from, to int64
	// text holds the rows' strings, copied out of the chunk while it is in
	// cache: the encoder then reads them from a few compact blocks, and the
	// chunk can be reused as soon as the chunk's rows are routed.
	text []byte
	// The last currency and dimension values kept, for rows that repeat them.
	cur, cat, chn, store string
}

// keep returns a copy of s in the batch's text.
func (b *rowBatch) keep(s string) string {
	if len(s) == 0 {
		return ""
	}
	if cap(b.text)-len(b.text) < len(s) {
		// A new block; the strings in the old one keep it alive.
		b.text = make([]byte, 0, max(2*cap(b.text), 16<<10, len(s)))
	}
	n := len(b.text)
	b.text = append(b.text, s...)
	return unsafe.String(&b.text[n], len(s))
}

// keepRepeated is keep for a value that is often the same as the last one.
func (b *rowBatch) keepRepeated(s string, last *string) string {
	if s != *last {
		*last = b.keep(s)
	}
	return *last
}

// lineOrder is the month of a batch that holds a chunk's rows in line order.
const lineOrder = -1

// filter drops the rows for which drop is true, keeping the order.
func (b *rowBatch) filter(drop func(i int) bool) {
	n := 0
	b.refunds = 0
	for i := range b.rows {
		if drop(i) {
			continue
		}
		b.rows[n], b.lines[n], b.raws[n], b.keys[n] = b.rows[i], b.lines[i], b.raws[i], b.keys[i]
		if b.rows[n].AmountMicros < 0 {
			b.refunds++
		}
		n++
	}
	clear(b.rows[n:])
	clear(b.raws[n:])
	b.rows, b.lines, b.raws, b.keys = b.rows[:n], b.lines[:n], b.raws[:n], b.keys[:n]
}

// batches hands out rowBatch memory and takes it back once the rows are
// written, cleared: the raw texts so that it keeps no chunk alive, the rows
// so that it keeps no text block it has replaced alive.
type batches freeList[*rowBatch]

func (p batches) get(month int) *rowBatch {
	b, ok := freeList[*rowBatch](p).get()
	if !ok {
		b = &rowBatch{}
	}
	b.month = month
	return b
}

func (p batches) put(b *rowBatch) {
	clear(b.rows)
	clear(b.raws)
	*b = rowBatch{rows: b.rows[:0], lines: b.lines[:0], raws: b.raws[:0], keys: b.keys[:0], text: b.text[:0]}
	freeList[*rowBatch](p).put(b)
}

// batcher sorts the rows of a chunk into batches by UTC month, and keeps
// their order keys in row order (the order claims must be made in).
//
// Rows are staged first and moved to their batches a few thousand at a
// time, batch by batch: a chunk's rows may fall in dozens of months, and
// appending each row straight to its month's batch wrote to as many places
// at once, more than the processor's prefetchers follow (it cost 0.9 CPU-s
// in 10M rows spread over 24 months).
type batcher struct {
	pool    batches
	inOrder bool // one batch in line order (line items)
	out     []*rowBatch
	keys    []uint64  // the order key of each row, in row order
	at      []int32   // the index in out of each row's batch
	last    *rowBatch // the batch of the last row: rows often come in runs
	lastAt  int32
	stage   *rowStage // rows not yet in their batches
}

// rowStage holds rows on their way to their batches, in row order. Its
// memory is reused from chunk to chunk.
type rowStage struct {
	rows  []stagedRow // their batches are the last len(rows) of batcher.at
	order []int32     // the rows grouped by batch (flush's scratch)
	count []int32     // rows per batch (flush's scratch)
}

type stagedRow struct {
	t    warehouse.Transaction // its strings still in the chunk
	line int64
	raw  string
	key  uint64
}

// stageRows is how many rows are staged before they move to their
// batches: few enough that they and the text they point to stay in the
// core's cache. (A variable so that tests can stage a few.)
var stageRows = 2048

// add stages a copy of t, whose order key is key, for the batch of its
// month.
func (bt *batcher) add(t *warehouse.Transaction, key uint64, line int64, raw string) {
	if b := bt.last; b == nil || t.TimeMicros < b.from || t.TimeMicros >= b.to {
		bt.batchOf(t.TimeMicros)
	}
	if bt.stage == nil {
		bt.stage = &rowStage{}
	}
	st := bt.stage
	st.rows = append(st.rows, stagedRow{t: *t, line: line, raw: raw, key: key})
	bt.keys = append(bt.keys, key)
	bt.at = append(bt.at, bt.lastAt)
	if len(st.rows) == stageRows {
		bt.flush()
	}
}

// flush moves the staged rows to their batches, batch by batch, each in
// row order, their strings copied into the batch's text.
func (bt *batcher) flush() {
	st := bt.stage
	if st == nil || len(st.rows) == 0 {
		return
	}
	// Group the staged rows by batch (a counting sort, stable).
	at := bt.at[len(bt.at)-len(st.rows):]
	count := resize(st.count, len(bt.out)+1)
	clear(count)
	for _, a := range at {
		count[a+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	order := resize(st.order, len(st.rows))
	for i, a := range at {
		order[count[a]] = int32(i)
		count[a]++
	}
	// count[k] is now the end of batch k's rows in order.
	from := int32(0)
	for k, b := range bt.out {
		to := count[k]
		if to == from {
			continue
		}
		b.reserve(int(to - from))
		for _, i := range order[from:to] {
			b.push(&st.rows[i])
		}
		from = to
	}
	clear(st.rows) // no chunk text stays reachable
	st.rows, st.order, st.count = st.rows[:0], order, count
}

// reserve makes room for n more rows.
func (b *rowBatch) reserve(n int) {
	if len(b.rows)+n > cap(b.rows) {
		b.grow(len(b.rows) + n)
	}
}

// push appends a staged row, its strings copied into the batch's text.
func (b *rowBatch) push(s *stagedRow) {
	b.rows = append(b.rows, s.t)
	r := &b.rows[len(b.rows)-1]
	r.CustomerID = b.keep(r.CustomerID)
	r.OrderID = b.keep(r.OrderID)
	r.Currency = b.keepRepeated(r.Currency, &b.cur)
	r.Category = b.keepRepeated(r.Category, &b.cat)
	r.Channel = b.keepRepeated(r.Channel, &b.chn)
	r.Store = b.keepRepeated(r.Store, &b.store)
	b.lines = append(b.lines, s.line)
	b.raws = append(b.raws, s.raw)
	b.keys = append(b.keys, s.key)
	if r.AmountMicros < 0 {
		b.refunds++
	}
}

// grow makes room for at least n rows, doubling the batch's room. append
// grows large slices by a quarter, which copies a batch that ends up with a
// whole chunk's rows several times over.
func (b *rowBatch) grow(n int) {
	n = max(n, 2*cap(b.rows)+256)
	b.rows = append(make([]warehouse.Transaction, 0, n), b.rows...)
	b.lines = append(make([]int64, 0, n), b.lines...)
	b.raws = append(make([]string, 0, n), b.raws...)
	b.keys = append(make([]uint64, 0, n), b.keys...)
}

// batchOf finds or starts the batch of the month of the instant us.
func (bt *batcher) batchOf(us int64) *rowBatch {
	for i, b := range bt.out {
		if us >= b.from && us < b.to {
			bt.last, bt.lastAt = b, int32(i)
			return b
		}
	}
	month, from, to := lineOrder, int64(math.MinInt64), int64(math.MaxInt64)
	if !bt.inOrder {
		day := features.DayOf(us, time.UTC)
		m := features.MonthOfDay(day)
		month, from, to = int(m), 0, 0 // no range for instants out of the calendar's
		if day > -1e7 && day < 1e7 {
			from = int64(features.MonthStart(m)) * microsPerDay
			to = int64(features.MonthStart(m+1)) * microsPerDay
		}
	}
	for i, b := range bt.out {
		if b.month == month {
			bt.last, bt.lastAt = b, int32(i)
			return b
		}
	}
	b := bt.pool.get(month)
	b.from, b.to = from, to
	bt.out = append(bt.out, b)
	bt.last, bt.lastAt = b, int32(len(bt.out)-1)
	return b
}

// take returns the batches made since the last take.
func (bt *batcher) take() []*rowBatch {
	bt.flush()
	out := bt.out
	bt.out, bt.last = nil, nil
	bt.keys, bt.at = bt.keys[:0], bt.at[:0]
	return out
}

const microsPerDay = 86_400_000_000
