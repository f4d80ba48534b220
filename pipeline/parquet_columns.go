package pipeline

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// parallelParquet writes a Parquet file of flat rows of type T with its row
// groups encoded on several goroutines at once. parquet-go's GenericWriter
// encodes on the caller's goroutine only; here each full row group is given
// to an encoder, which writes its columns straight into a row group of its
// own (BeginRowGroup), and the row groups are committed to the file in
// order. T must be a struct of int32, int64, float64 and string fields, all
// required.
type parallelParquet[T any] struct {
	w       *parquet.GenericWriter[T]
	fill    []columnFill // by leaf column, in schema order
	groupN  int          // rows per row group
	buf     []T
	jobs    chan *groupJob[T]
	pending []*groupJob[T] // handed to encoders, not yet committed, in order
	free    [][]T          // row buffers to reuse
	wg      sync.WaitGroup
}

type groupJob[T any] struct {
	rows []T
	rg   *parquet.ConcurrentRowGroupWriter
	done chan error
}

// columnFill appends the values of one column of rows to vals.
type columnFill func(base unsafe.Pointer, n int, size uintptr, vals []parquet.Value) []parquet.Value

func newParallelParquet[T any](w *parquet.GenericWriter[T], groupN, encoders int) (*parallelParquet[T], error) {
	fill, err := columnFills[T](w.Schema())
	if err != nil {
		return nil, err
	}
	p := &parallelParquet[T]{w: w, fill: fill, groupN: groupN, jobs: make(chan *groupJob[T])}
	for range encoders {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				j.done <- p.encode(j)
			}
		}()
	}
	return p, nil
}

// columnFills maps each leaf column of schema to the field of T its values
// come from, by the name in the field's parquet tag.
func columnFills[T any](schema *parquet.Schema) ([]columnFill, error) {
	t := reflect.TypeFor[T]()
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		fields[name] = f
	}
	var fills []columnFill
	for _, path := range schema.Columns() {
		f, ok := fields[path[len(path)-1]]
		if !ok || len(path) != 1 {
			return nil, fmt.Errorf("parquet column %v: no flat field of %s", path, t)
		}
		off := f.Offset
		var fill columnFill
		switch f.Type.Kind() {
		case reflect.Int64:
			fill = func(base unsafe.Pointer, n int, size uintptr, vals []parquet.Value) []parquet.Value {
				for i := 0; i < n; i++ {
					vals = append(vals, parquet.Int64Value(*(*int64)(unsafe.Add(base, uintptr(i)*size+off))))
				}
				return vals
			}
		case reflect.Int32:
			fill = func(base unsafe.Pointer, n int, size uintptr, vals []parquet.Value) []parquet.Value {
				for i := 0; i < n; i++ {
					vals = append(vals, parquet.Int32Value(*(*int32)(unsafe.Add(base, uintptr(i)*size+off))))
				}
				return vals
			}
		case reflect.Float64:
			fill = func(base unsafe.Pointer, n int, size uintptr, vals []parquet.Value) []parquet.Value {
				for i := 0; i < n; i++ {
					vals = append(vals, parquet.DoubleValue(*(*float64)(unsafe.Add(base, uintptr(i)*size+off))))
				}
				return vals
			}
		case reflect.String:
			fill = func(base unsafe.Pointer, n int, size uintptr, vals []parquet.Value) []parquet.Value {
				for i := 0; i < n; i++ {
					s := *(*string)(unsafe.Add(base, uintptr(i)*size+off))
					vals = append(vals, parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))))
				}
				return vals
			}
		default:
			return nil, fmt.Errorf("parquet column %v: field kind %s is not supported", path, f.Type.Kind())
		}
		fills = append(fills, fill)
	}
	return fills, nil
}

// encode writes the rows of one row group in blocks small enough to stay in
// the cache while each column of the block is written.
func (p *parallelParquet[T]) encode(j *groupJob[T]) error {
	const step = 1024
	var vals []parquet.Value
	size := unsafe.Sizeof(*new(T))
	cols := j.rg.ColumnWriters()
	for start := 0; start < len(j.rows); start += step {
		n := min(step, len(j.rows)-start)
		for c, fill := range p.fill {
			vals = fill(unsafe.Pointer(&j.rows[start]), n, size, vals[:0])
			if _, err := cols[c].WriteRowValues(vals); err != nil {
				return err
			}
		}
	}
	return j.rg.Flush()
}

// Add appends a row; every full row group goes to an encoder.
func (p *parallelParquet[T]) Add(row T) error {
	if p.buf == nil {
		p.buf = p.newBuf()
	}
	p.buf = append(p.buf, row)
	if len(p.buf) == p.groupN {
		return p.send()
	}
	return nil
}

func (p *parallelParquet[T]) newBuf() []T {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]T, 0, p.groupN)
}

// send hands the buffered rows to an encoder, first committing the oldest
// row group when as many are in flight as there are encoders (so memory
// holds a few row groups, whatever the file's size).
func (p *parallelParquet[T]) send() error {
	if len(p.buf) == 0 {
		return nil
	}
	j := &groupJob[T]{rows: p.buf, rg: p.w.BeginRowGroup(), done: make(chan error, 1)}
	p.buf = nil
	p.jobs <- j
	p.pending = append(p.pending, j)
	if len(p.pending) > 1 {
		return p.commitOldest()
	}
	return nil
}

func (p *parallelParquet[T]) commitOldest() error {
	j := p.pending[0]
	p.pending = p.pending[1:]
	if err := <-j.done; err != nil {
		return err
	}
	if _, err := j.rg.Commit(); err != nil {
		return err
	}
	p.free = append(p.free, j.rows)
	return nil
}

// Close encodes what is buffered, commits every row group in order and
// writes the footer. The encoders stop whatever the outcome.
func (p *parallelParquet[T]) Close() error {
	err := p.send()
	for len(p.pending) > 0 && err == nil {
		err = p.commitOldest()
	}
	p.stop()
	if err != nil {
		return err
	}
	return p.w.Close()
}

// stop ends the encoders, waiting for the row groups they are on.
func (p *parallelParquet[T]) stop() {
	if p.jobs == nil {
		return
	}
	close(p.jobs)
	p.wg.Wait()
	p.jobs = nil
	for _, j := range p.pending {
		<-j.done
	}
	p.pending = nil
}
