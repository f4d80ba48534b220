package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
)

// TransactionSchema is the Arrow schema of the record batches Scan yields.
// amount and quantity are int64 millionths (AmountScale), exactly as stored.
var TransactionSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.BinaryTypes.String},
	{Name: "order_id", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "amount", Type: arrow.PrimitiveTypes.Int64},
	{Name: "currency", Type: arrow.BinaryTypes.String},
	{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "channel", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "store", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "quantity", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// Column indices of TransactionSchema.
const (
	ColCustomer = iota
	ColOrder
	ColTime
	ColAmount
	ColCurrency
	ColCategory
	ColChannel
	ColStore
	ColQuantity
)

// ScanOptions tune Scan. The zero value reads with GOMAXPROCS workers in
// batches of 64Ki rows.
type ScanOptions struct {
	Workers   int
	BatchRows int
	// NoOrderID skips reading order_id, channel and quantity (left empty in
	// the batches): the features need none of them, and order_id is the
	// widest column.
	NoOrderID bool
}

// ScanStats counts what a scan read.
type ScanStats struct {
	Rows        int64
	Parts       int
	RowsByMonth map[string]int64
}

// Scan streams every committed transaction as Arrow record batches. fn is
// called concurrently from up to Workers goroutines, each with its worker
// index in [0, Workers) so that it can keep per-worker state; the record is
// released when fn returns and its buffers are reused, so a string taken
// from it must be copied (strings.Clone) to be kept. Memory is bounded by
// Workers × BatchRows rows.
func (w *Warehouse) Scan(ctx context.Context, opt ScanOptions, fn func(worker int, rec arrow.Record) error) (ScanStats, error) {
	parts, err := w.Parts()
	if err != nil {
		return ScanStats{}, err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	batch := opt.BatchRows
	if batch <= 0 {
		batch = 64 * 1024
	}
	mem := &poolAllocator{}
	stats := ScanStats{Parts: len(parts), RowsByMonth: map[string]int64{}}
	for _, p := range parts {
		stats.Rows += p.Rows
		stats.RowsByMonth[p.Month] += p.Rows
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan Part)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for p := range next {
				if err := w.scanPart(ctx, p, mem, batch, opt.NoOrderID, func(rec arrow.Record) error { return fn(worker, rec) }); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}(i)
	}
feed:
	for _, p := range parts {
		select {
		case next <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return stats, err
	}
	return stats, ctx.Err()
}

// readRows is how many rows are asked of the Parquet reader at a time:
// parquet-go's cost per Read grows with the request, so rows are read in
// small steps and gathered into Arrow batches of BatchRows.
const readRows = 1024

// narrowTransaction is Transaction without the columns NoOrderID skips.
type narrowTransaction struct {
	CustomerID   string `parquet:"customer_id"`
	TimeMicros   int64  `parquet:"ts,timestamp(microsecond)"`
	AmountMicros int64  `parquet:"amount,decimal(6:18)"`
	Currency     string `parquet:"currency,dict"`
	Category     string `parquet:"category,optional,dict"`
	Store        string `parquet:"store,optional,dict"`
}

func (w *Warehouse) scanPart(ctx context.Context, p Part, mem memory.Allocator, batch int, narrow bool, fn func(arrow.Record) error) error {
	f, err := os.Open(w.path(p.Path))
	if err != nil {
		return fmt.Errorf("committed part missing: %w", err)
	}
	defer f.Close()
	if narrow {
		return scanRows(ctx, p, f, mem, batch, fn, func(t *narrowTransaction) Transaction {
			return Transaction{CustomerID: t.CustomerID, TimeMicros: t.TimeMicros, AmountMicros: t.AmountMicros,
				Currency: t.Currency, Category: t.Category, Store: t.Store}
		})
	}
	return scanRows(ctx, p, f, mem, batch, fn, func(t *Transaction) Transaction { return *t })
}

// scanRows reads the rows of one part as T and gathers them into Arrow batches.
func scanRows[T any](ctx context.Context, p Part, f *os.File, mem memory.Allocator, batch int, fn func(arrow.Record) error, conv func(*T) Transaction) error {
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	b := array.NewRecordBuilder(mem, TransactionSchema)
	defer b.Release()
	buf := make([]T, readRows)
	rows := make([]Transaction, readRows)
	var read int64
	pending := 0
	emit := func() error {
		if pending == 0 {
			return nil
		}
		rec := b.NewRecord()
		pending = 0
		err := fn(rec)
		rec.Release()
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		if n > 0 {
			read += int64(n)
			for i := 0; i < n; i++ {
				rows[i] = conv(&buf[i])
			}
			appendRows(b, rows[:n])
			pending += n
			if pending >= batch {
				if ferr := emit(); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p.Path, err)
		}
	}
	if err := emit(); err != nil {
		return err
	}
	if read != p.Rows {
		return fmt.Errorf("read %s: %d rows, manifest says %d", p.Path, read, p.Rows)
	}
	return nil
}

func appendRows(b *array.RecordBuilder, rows []Transaction) {
	cust := b.Field(ColCustomer).(*array.StringBuilder)
	order := b.Field(ColOrder).(*array.StringBuilder)
	ts := b.Field(ColTime).(*array.TimestampBuilder)
	amount := b.Field(ColAmount).(*array.Int64Builder)
	cur := b.Field(ColCurrency).(*array.StringBuilder)
	cat := b.Field(ColCategory).(*array.StringBuilder)
	ch := b.Field(ColChannel).(*array.StringBuilder)
	store := b.Field(ColStore).(*array.StringBuilder)
	qty := b.Field(ColQuantity).(*array.Int64Builder)
	for _, sb := range []*array.StringBuilder{cust, order, cur, cat, ch, store} {
		sb.Reserve(len(rows))
	}
	ts.Reserve(len(rows))
	amount.Reserve(len(rows))
	qty.Reserve(len(rows))
	for i := range rows {
		t := &rows[i]
		cust.Append(t.CustomerID)
		order.Append(t.OrderID)
		ts.UnsafeAppend(arrow.Timestamp(t.TimeMicros))
		amount.UnsafeAppend(t.AmountMicros)
		cur.Append(t.Currency)
		appendOptional(cat, t.Category)
		appendOptional(ch, t.Channel)
		appendOptional(store, t.Store)
		qty.UnsafeAppend(t.QuantityMicros)
	}
}

func appendOptional(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}
