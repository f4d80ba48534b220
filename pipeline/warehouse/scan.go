package warehouse

import (
	"context"
	"fmt"
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
// Workers row groups (each is read whole, then passed on in batches of at
// most BatchRows rows).
//
// Months come in order: every batch of a month has been passed to fn, and fn
// has returned, before the first batch of a later month is read. Within a
// month the workers share the row groups of its parts. (The features rely on
// this order to keep a customer's purchase days in constant space.)
func (w *Warehouse) Scan(ctx context.Context, opt ScanOptions, fn func(worker int, rec arrow.Record) error) (ScanStats, error) {
	w.scans.Add(1)
	parts, err := w.Parts()
	if err != nil {
		return ScanStats{}, err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 64 * 1024
	}
	stats := ScanStats{Parts: len(parts), RowsByMonth: map[string]int64{}}
	for _, p := range parts {
		stats.Rows += p.Rows
		stats.RowsByMonth[p.Month] += p.Rows
	}
	readers := make([]*partReader, workers)
	mem := &poolAllocator{}
	for i := range readers {
		readers[i] = &partReader{w: w, mem: mem, opt: opt}
	}
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	// Parts are sorted by month; each month's parts are opened to count
	// their row groups, which the workers then take one at a time.
	for start := 0; start < len(parts); {
		end := start
		for end < len(parts) && parts[end].Month == parts[start].Month {
			end++
		}
		if err := scanMonth(ctx, parts[start:end], readers, fn); err != nil {
			return stats, err
		}
		start = end
	}
	return stats, nil
}

// rowGroup is one unit of a month's work: row group group of parts[part].
type rowGroup struct {
	part, group int
}

// scanMonth reads the row groups of one month's parts on all workers and
// returns when every batch has been handled.
func scanMonth(ctx context.Context, parts []Part, readers []*partReader, fn func(int, arrow.Record) error) error {
	var units []rowGroup
	var read []int64
	for _, p := range parts {
		n, err := readers[0].open(p)
		if err != nil {
			return err
		}
		for g := 0; g < n; g++ {
			units = append(units, rowGroup{len(read), g})
		}
		read = append(read, 0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func(worker int, r *partReader) {
			defer wg.Done()
			for u := range next {
				k := units[u].part
				n, err := r.readGroup(ctx, parts[k], units[u].group, func(rec arrow.Record) error { return fn(worker, rec) })
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				read[k] += n
				mu.Unlock()
			}
		}(i, r)
	}
feed:
	for u := range units {
		select {
		case next <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for k, p := range parts {
		if read[k] != p.Rows {
			return fmt.Errorf("read %s: %d rows, manifest says %d", p.Path, read[k], p.Rows)
		}
	}
	return nil
}

// partReader reads row groups of part files column by column, page by
// page, straight into Arrow arrays (parquet-go's page API: no row
// reassembly). It keeps its current file open, so consecutive row groups of
// one part share it.
type partReader struct {
	w     *Warehouse
	mem   memory.Allocator
	opt   ScanOptions
	path  string
	f     *os.File
	file  *parquet.File
	index [ColQuantity + 1]int // column index in the file; −1: not read
}

// open makes p the current part (if it is not already) and returns its
// number of row groups.
func (r *partReader) open(p Part) (int, error) {
	if r.file != nil && r.path == p.Path {
		return len(r.file.RowGroups()), nil
	}
	r.close()
	f, err := os.Open(r.w.Path(p.Path))
	if err != nil {
		return 0, fmt.Errorf("committed part missing: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		r.file, err = parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	}
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("committed part %s: %w", p.Path, err)
	}
	r.f, r.path = f, p.Path
	for c, field := range TransactionSchema.Fields() {
		r.index[c] = -1
		if r.opt.NoOrderID && (c == ColOrder || c == ColChannel || c == ColQuantity) {
			continue
		}
		if leaf, ok := r.file.Schema().Lookup(field.Name); ok {
			r.index[c] = leaf.ColumnIndex
		} // else an older part without this column: left empty
	}
	return len(r.file.RowGroups()), nil
}

func (r *partReader) close() {
	if r.f != nil {
		r.f.Close()
		r.f, r.file = nil, nil
	}
}

// readGroup reads one row group into Arrow arrays, passes it to fn in
// batches of at most BatchRows rows, and returns the number of rows read.
func (r *partReader) readGroup(ctx context.Context, part Part, group int, fn func(arrow.Record) error) (int64, error) {
	if _, err := r.open(part); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	rg := r.file.RowGroups()[group]
	n := rg.NumRows()
	fields := TransactionSchema.Fields()
	arrs := make([]arrow.Array, len(fields))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for c := range fields {
		var err error
		if r.index[c] < 0 {
			arrs[c] = emptyColumn(r.mem, fields[c].Type, int(n))
		} else if arrs[c], err = r.column(rg.ColumnChunks()[r.index[c]], fields[c], n); err != nil {
			return 0, fmt.Errorf("read %s column %s: %w", part.Path, fields[c].Name, err)
		}
	}
	rec := array.NewRecord(TransactionSchema, arrs, n)
	defer rec.Release()
	for at := int64(0); at < n; at += int64(r.opt.BatchRows) {
		batch := rec.NewSlice(at, min(n, at+int64(r.opt.BatchRows)))
		err := fn(batch)
		batch.Release()
		if err != nil {
			return at, err
		}
	}
	return n, nil
}

// column reads one column chunk of n rows into an Arrow array.
func (r *partReader) column(chunk parquet.ColumnChunk, field arrow.Field, n int64) (arrow.Array, error) {
	var b array.Builder
	switch field.Type.ID() {
	case arrow.STRING:
		b = array.NewStringBuilder(r.mem)
	default:
		b = array.NewInt64Builder(r.mem)
	}
	defer b.Release()
	b.Reserve(int(n))
	if _, err := EachPage(chunk, func(p parquet.Page, _ int) error { return appendPage(b, p, field.Nullable) }); err != nil {
		return nil, err
	}
	if b.Len() != int(n) {
		return nil, fmt.Errorf("%d values, want %d", b.Len(), n)
	}
	a := b.NewArray()
	if arrow.TypeEqual(a.DataType(), field.Type) {
		return a, nil
	}
	defer a.Release()
	// ts: the int64 values as timestamps, the same buffers.
	d := a.Data()
	data := array.NewData(field.Type, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
	defer data.Release()
	return array.MakeFromData(data), nil
}

// appendPage appends a page's values to b: byte arrays (plain or dictionary
// indexes) to a string builder, int64s to an int64 builder. A null of a
// nullable column is a null; of quantity, 0 ("unknown", as the schema says).
func appendPage(b array.Builder, p parquet.Page, nullable bool) error {
	defs := p.DefinitionLevels()
	present := func(row int) bool { return defs == nil || defs[row] != 0 }
	rows := int(p.NumRows())
	switch b := b.(type) {
	case *array.StringBuilder:
		ba := PageByteArrays(p)
		if ba.Indexes == nil {
			b.ReserveData(len(ba.Values))
		}
		k := 0
		for row := 0; row < rows; row++ {
			if !present(row) {
				b.AppendNull()
				continue
			}
			e, ok := ba.Entry(k)
			if !ok {
				return fmt.Errorf("page of %d rows holds %d values", rows, k)
			}
			b.BinaryBuilder.Append(ba.Value(e))
			k++
		}
	case *array.Int64Builder:
		d := p.Data()
		values := d.Int64()
		if defs == nil {
			if len(values) < rows {
				return fmt.Errorf("page of %d rows holds %d values", rows, len(values))
			}
			b.AppendValues(values[:rows], nil)
			return nil
		}
		k := 0
		for row := 0; row < rows; row++ {
			switch {
			case present(row) && k < len(values):
				b.Append(values[k])
				k++
			case present(row):
				return fmt.Errorf("page of %d rows holds %d values", rows, k)
			case nullable:
				b.AppendNull()
			default:
				b.Append(0)
			}
		}
	}
	return nil
}

// emptyColumn is a column that was not read: empty strings, or zeros.
func emptyColumn(mem memory.Allocator, dt arrow.DataType, n int) arrow.Array {
	switch dt.ID() {
	case arrow.STRING:
		offsets := memory.NewResizableBuffer(mem)
		offsets.Resize((n + 1) * arrow.Int32SizeBytes)
		data := array.NewData(dt, n, []*memory.Buffer{nil, offsets, nil}, nil, 0, 0)
		offsets.Release()
		defer data.Release()
		return array.MakeFromData(data)
	default:
		values := memory.NewResizableBuffer(mem)
		values.Resize(n * arrow.Int64SizeBytes)
		data := array.NewData(dt, n, []*memory.Buffer{nil, values}, nil, 0, 0)
		values.Release()
		defer data.Release()
		return array.MakeFromData(data)
	}
}
