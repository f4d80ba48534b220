package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
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
//
// Months come in order: every batch of a month has been passed to fn, and fn
// has returned, before the first batch of a later month is read. Within a
// month the workers share the row groups of its parts. (The features rely on
// this order to keep a customer's purchase days in constant space.)
func (w *Warehouse) Scan(ctx context.Context, opt ScanOptions, fn func(worker int, rec arrow.Record) error) (ScanStats, error) {
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

// rowGroup is one unit of a month's work.
type rowGroup struct {
	part  Part
	group int
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
			units = append(units, rowGroup{p, g})
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
				n, err := r.readGroup(ctx, units[u], func(rec arrow.Record) error { return fn(worker, rec) })
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				for k := range parts {
					if parts[k] == units[u].part {
						read[k] += n
					}
				}
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

// partReader reads row groups of part files straight into Arrow arrays
// with Arrow's own Parquet column readers. It keeps its current file and
// column readers open, so consecutive row groups of one part reuse them.
type partReader struct {
	w     *Warehouse
	mem   memory.Allocator
	opt   ScanOptions
	path  string
	file  *file.Reader
	cols  [ColQuantity + 1]file.RecordReader // nil: column not read
	index [ColQuantity + 1]int               // column index in the file
	pool  sync.Pool
}

// open makes p the current part (if it is not already) and returns its
// number of row groups.
func (r *partReader) open(p Part) (int, error) {
	if r.file != nil && r.path == p.Path {
		return r.file.NumRowGroups(), nil
	}
	r.close()
	f, err := file.OpenParquetFile(r.w.path(p.Path), false)
	if err != nil {
		return 0, fmt.Errorf("committed part %s: %w", p.Path, err)
	}
	r.file, r.path = f, p.Path
	if r.pool.New == nil {
		r.pool.New = func() any { return memory.NewResizableBuffer(r.mem) }
	}
	schema := f.MetaData().Schema
	for c, field := range TransactionSchema.Fields() {
		r.cols[c] = nil
		if r.opt.NoOrderID && (c == ColOrder || c == ColChannel || c == ColQuantity) {
			continue
		}
		i := schema.ColumnIndexByName(field.Name)
		if i < 0 {
			continue // an older part without this column: left empty
		}
		descr := schema.Column(i)
		info := file.LevelInfo{NullSlotUsage: 1}
		if descr.SchemaNode().RepetitionType() == parquet.Repetitions.Optional {
			info.DefLevel = 1
		}
		r.cols[c] = file.NewRecordReader(descr, info, field.Type, r.mem, &r.pool)
		r.index[c] = i
	}
	return f.NumRowGroups(), nil
}

func (r *partReader) close() {
	for c, rr := range r.cols {
		if rr != nil {
			rr.Release()
			r.cols[c] = nil
		}
	}
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
}

// readGroup reads one row group in batches of at most BatchRows rows and
// passes each to fn; it returns the number of rows read.
func (r *partReader) readGroup(ctx context.Context, u rowGroup, fn func(arrow.Record) error) (int64, error) {
	if _, err := r.open(u.part); err != nil {
		return 0, err
	}
	rg := r.file.RowGroup(u.group)
	for c, rr := range r.cols {
		if rr == nil {
			continue
		}
		pr, err := rg.GetColumnPageReader(r.index[c])
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", u.part.Path, err)
		}
		rr.Reset()
		rr.SetPageReader(pr)
	}
	var read int64
	for left := rg.NumRows(); left > 0; {
		if err := ctx.Err(); err != nil {
			return read, err
		}
		n := min(left, int64(r.opt.BatchRows))
		rec, err := r.batch(n)
		if err != nil {
			return read, fmt.Errorf("read %s: %w", u.part.Path, err)
		}
		err = fn(rec)
		rec.Release()
		if err != nil {
			return read, err
		}
		read += n
		left -= n
	}
	return read, nil
}

// batch reads the next n rows of every column of the current row group.
func (r *partReader) batch(n int64) (arrow.Record, error) {
	fields := TransactionSchema.Fields()
	arrs := make([]arrow.Array, len(fields))
	defer func() {
		for _, a := range arrs {
			if a != nil {
				a.Release()
			}
		}
	}()
	for c, rr := range r.cols {
		if rr == nil {
			arrs[c] = emptyColumn(r.mem, fields[c].Type, int(n))
			continue
		}
		rr.Reset()
		if err := rr.Reserve(n); err != nil {
			return nil, err
		}
		got, err := rr.ReadRecords(n)
		if err != nil {
			return nil, err
		}
		if got != n {
			return nil, fmt.Errorf("column %s: %d rows, want %d", fields[c].Name, got, n)
		}
		if br, ok := rr.(file.BinaryRecordReader); ok {
			chunks := br.GetBuilderChunks()
			bin := chunks[0]
			if len(chunks) > 1 {
				joined, err := array.Concatenate(chunks, r.mem)
				if err != nil {
					return nil, err
				}
				bin = joined
			}
			// The reader builds Binary arrays; the schema says String (the same buffers).
			d := bin.Data()
			data := array.NewData(fields[c].Type, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
			arrs[c] = array.MakeFromData(data)
			data.Release()
			for _, ch := range chunks {
				ch.Release()
			}
			if len(chunks) > 1 {
				bin.Release()
			}
			continue
		}
		values := rr.ReleaseValues()
		valid := rr.ReleaseValidBits()
		nulls := int(rr.NullCount())
		if !fields[c].Nullable && nulls > 0 {
			// quantity: a null (unknown) quantity reads as 0, as the schema says.
			v := arrow.Int64Traits.CastFromBytes(values.Bytes())[:n]
			bits := valid.Bytes()
			for i := range v {
				if bits[i/8]&(1<<(i%8)) == 0 {
					v[i] = 0
				}
			}
			nulls = 0
		}
		if nulls == 0 && valid != nil {
			valid.Release()
			valid = nil
		}
		data := array.NewData(fields[c].Type, int(n), []*memory.Buffer{valid, values}, nil, nulls, 0)
		arrs[c] = array.MakeFromData(data)
		data.Release()
		if valid != nil {
			valid.Release()
		}
		values.Release()
	}
	return array.NewRecord(TransactionSchema, arrs, n), nil
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
