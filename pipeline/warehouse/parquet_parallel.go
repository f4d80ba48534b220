package warehouse

import (
	"bytes"
	"io"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// ParallelParquet writes a Parquet file of rows of type T with its row
// groups encoded on several goroutines at once. parquet-go's GenericWriter
// encodes on the caller's goroutine only; here each full row group goes to
// an encoder, which writes it with a GenericWriter of its own as a
// one-row-group file in memory, and the row groups are then appended to the
// output in order. Both writers have the same options, so parquet-go
// appends the encoded row group by copying its bytes (its "L0 copy"): the
// rows are encoded once.
type ParallelParquet[T any] struct {
	w       *parquet.GenericWriter[T]
	groupN  int // rows per row group
	buf     []T
	jobs    chan *groupJob[T]
	pending []*groupJob[T] // handed to encoders, not yet appended, in order
	free    [][]T          // row buffers to reuse
	encoded []*bytes.Buffer
	wg      sync.WaitGroup
}

type groupJob[T any] struct {
	rows []T
	out  *bytes.Buffer // the row group as a Parquet file
	done chan error
}

func NewParallelParquet[T any](out io.Writer, groupN, encoders int, options ...parquet.WriterOption) *ParallelParquet[T] {
	options = append(options, parquet.MaxRowsPerRowGroup(int64(groupN)))
	p := &ParallelParquet[T]{w: parquet.NewGenericWriter[T](out, options...), groupN: groupN, jobs: make(chan *groupJob[T])}
	for range encoders {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			enc := parquet.NewGenericWriter[T](io.Discard, options...)
			for j := range p.jobs {
				j.done <- encodeGroup(enc, j.rows, j.out)
			}
		}()
	}
	return p
}

// encodeGroup writes rows to out as a Parquet file of one row group.
func encodeGroup[T any](enc *parquet.GenericWriter[T], rows []T, out *bytes.Buffer) error {
	enc.Reset(out)
	if _, err := enc.Write(rows); err != nil {
		return err
	}
	return enc.Close()
}

// Add appends a row; every full row group goes to an encoder.
func (p *ParallelParquet[T]) Add(row T) error {
	if p.buf == nil {
		p.buf = p.newBuf()
	}
	p.buf = append(p.buf, row)
	if len(p.buf) == p.groupN {
		return p.send()
	}
	return nil
}

func (p *ParallelParquet[T]) newBuf() []T {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]T, 0, p.groupN)
}

// send hands the buffered rows to an encoder, first appending the oldest
// row group when as many are in flight as there are encoders (so memory
// holds a few row groups, whatever the file's size).
func (p *ParallelParquet[T]) send() error {
	if len(p.buf) == 0 {
		return nil
	}
	out := &bytes.Buffer{}
	if n := len(p.encoded); n > 0 {
		out = p.encoded[n-1]
		p.encoded = p.encoded[:n-1]
		out.Reset()
	}
	j := &groupJob[T]{rows: p.buf, out: out, done: make(chan error, 1)}
	p.buf = nil
	p.jobs <- j
	p.pending = append(p.pending, j)
	if len(p.pending) > 1 {
		return p.appendOldest()
	}
	return nil
}

// appendOldest waits for the oldest row group in flight and appends it.
func (p *ParallelParquet[T]) appendOldest() error {
	j := p.pending[0]
	p.pending = p.pending[1:]
	if err := <-j.done; err != nil {
		return err
	}
	f, err := parquet.OpenFile(bytes.NewReader(j.out.Bytes()), int64(j.out.Len()))
	if err != nil {
		return err
	}
	for _, rg := range f.RowGroups() {
		if _, err := p.w.WriteRowGroup(rg); err != nil {
			return err
		}
	}
	p.free = append(p.free, j.rows)
	p.encoded = append(p.encoded, j.out)
	return nil
}

// Close encodes what is buffered, appends every row group in order and
// writes the footer. The encoders stop whatever the outcome.
func (p *ParallelParquet[T]) Close() error {
	err := p.send()
	for len(p.pending) > 0 && err == nil {
		err = p.appendOldest()
	}
	p.Stop()
	if err != nil {
		return err
	}
	return p.w.Close()
}

// Stop ends the encoders, waiting for the row groups they are on.
func (p *ParallelParquet[T]) Stop() {
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
