package pipeline

import (
	"math"
	"time"
	"unsafe"

	"github.com/churnhq/churn/features"
)

// rowBatch is the accepted rows of one chunk that fall in one UTC month
// (in source order), on their way to the month's part: the unit the
// consumer routes and an encoder writes, so no row is copied between
// parsing and Parquet.
type rowBatch struct {
	month   int // year*12 + month-1; lineOrder for the rows of a line-item chunk
	rows    []Transaction
	lines   []int64  // the source line of each row
	raws    []string // the raw text of each row, for a late rejection
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
		b.rows[n], b.lines[n], b.raws[n] = b.rows[i], b.lines[i], b.raws[i]
		if b.rows[n].AmountMicros < 0 {
			b.refunds++
		}
		n++
	}
	clear(b.rows[n:])
	clear(b.raws[n:])
	b.rows, b.lines, b.raws = b.rows[:n], b.lines[:n], b.raws[:n]
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
	*b = rowBatch{rows: b.rows[:0], lines: b.lines[:0], raws: b.raws[:0], text: b.text[:0]}
	freeList[*rowBatch](p).put(b)
}

// batcher sorts the rows of a chunk into batches by UTC month, and keeps
// their order keys in row order (the order claims must be made in).
type batcher struct {
	pool    batches
	inOrder bool // one batch in line order (line items)
	out     []*rowBatch
	keys    []uint64  // the order key of each row, in row order
	at      []int32   // the index in out of each row's batch
	last    *rowBatch // the batch of the last row: rows often come in runs
	lastAt  int32
}

// add puts a copy of t, whose order key is key, in the batch of its
// month, its strings in the batch's text.
func (bt *batcher) add(t *Transaction, key uint64, line int64, raw string) {
	b := bt.last
	if b == nil || t.TimeMicros < b.from || t.TimeMicros >= b.to {
		b = bt.batchOf(t.TimeMicros)
	}
	if len(b.rows) == cap(b.rows) {
		b.grow()
	}
	b.rows = append(b.rows, *t)
	r := &b.rows[len(b.rows)-1]
	r.CustomerID = b.keep(r.CustomerID)
	r.OrderID = b.keep(r.OrderID)
	r.Currency = b.keepRepeated(r.Currency, &b.cur)
	r.Category = b.keepRepeated(r.Category, &b.cat)
	r.Channel = b.keepRepeated(r.Channel, &b.chn)
	r.Store = b.keepRepeated(r.Store, &b.store)
	b.lines = append(b.lines, line)
	b.raws = append(b.raws, raw)
	if r.AmountMicros < 0 {
		b.refunds++
	}
	bt.keys = append(bt.keys, key)
	bt.at = append(bt.at, bt.lastAt)
}

// grow doubles the room of a full batch. append grows large slices by a
// quarter, which copies a batch that ends up with a whole chunk's rows
// several times over.
func (b *rowBatch) grow() {
	n := 2*cap(b.rows) + 256
	b.rows = append(make([]Transaction, 0, n), b.rows...)
	b.lines = append(make([]int64, 0, n), b.lines...)
	b.raws = append(make([]string, 0, n), b.raws...)
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
	out := bt.out
	bt.out, bt.last = nil, nil
	bt.keys, bt.at = bt.keys[:0], bt.at[:0]
	return out
}

const microsPerDay = 86_400_000_000
