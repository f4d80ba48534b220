package warehouse

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// OpenParquet opens a Parquet file for reading; close the returned file
// when done with pf. A missing file is an error that errors.Is
// os.ErrNotExist.
func OpenParquet(path string) (pf *parquet.File, f *os.File, err error) {
	if f, err = os.Open(path); err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if pf, err = parquet.OpenFile(f, st.Size()); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return pf, f, nil
}

// ByteArrays are the values of a byte-array page: value k of the page is
// Values[Offsets[e]:Offsets[e+1]] with e = Indexes[k] for a dictionary
// page, e = k for a plain one (Indexes nil). They are the page's memory:
// valid until it is released.
type ByteArrays struct {
	Values  []byte
	Offsets []uint32
	Indexes []int32
}

// PageByteArrays splits a byte-array page into its values.
func PageByteArrays(p parquet.Page) ByteArrays {
	data := p.Data()
	if dict := p.Dictionary(); dict != nil {
		dd := dict.Page().Data()
		values, offsets := dd.ByteArray()
		return ByteArrays{values, offsets, data.Int32()}
	}
	values, offsets := data.ByteArray()
	return ByteArrays{Values: values, Offsets: offsets}
}

// Entry is the k-th value of the page: ok is false past its values.
func (b ByteArrays) Entry(k int) (int, bool) {
	if b.Indexes != nil {
		if k >= len(b.Indexes) {
			return 0, false
		}
		k = int(b.Indexes[k])
	}
	return k, k+1 < len(b.Offsets)
}

// Value is dictionary (or plain) entry e.
func (b ByteArrays) Value(e int) []byte { return b.Values[b.Offsets[e]:b.Offsets[e+1]] }

// EachPage calls fn with each page of a column chunk and the row its
// first value belongs to, releasing the page after; it returns the rows
// read.
func EachPage(chunk parquet.ColumnChunk, fn func(p parquet.Page, row int) error) (int, error) {
	pages := chunk.Pages()
	defer pages.Close()
	row := 0
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return row, nil
		}
		if err != nil {
			return row, err
		}
		err = fn(p, row)
		row += int(p.NumRows())
		parquet.Release(p)
		if err != nil {
			return row, err
		}
	}
}
