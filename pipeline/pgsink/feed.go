package pgsink

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"

	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/sheet"

	"github.com/parquet-go/parquet-go"
)

// feedFile is a run's exports/crm_scores.parquet: read twice, in order,
// never held whole.
type feedFile struct {
	path  string
	f     *os.File
	pf    *parquet.File
	sha   string // sha256 of the file: the feed's identity in churn_runs
	rows  int64
	model string
}

func openFeed(path string) (*feedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is missing: the export reads the feed's Parquet form (exports.formats, --export-formats, include parquet; it is written by default)", sheet.ErrRunFile, path)
		}
		return nil, err
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", sheet.ErrRunFile, path, err)
	}
	ff := &feedFile{path: path, f: f, pf: pf, sha: hex.EncodeToString(h.Sum(nil)), rows: pf.NumRows()}
	if ff.rows > 0 {
		r, err := ff.reader()
		if err != nil {
			f.Close()
			return nil, err
		}
		row, _, err := r.next()
		r.Close()
		if err != nil {
			f.Close()
			return nil, err
		}
		ff.model = row.Model
	}
	return ff, nil
}

func (ff *feedFile) Close() error { return ff.f.Close() }

// feedReader reads the feed's rows in order, a batch at a time.
type feedReader struct {
	path string
	r    *parquet.GenericReader[export.CRMRow]
	buf  []export.CRMRow
	n, i int
}

func (ff *feedFile) reader() (*feedReader, error) {
	return &feedReader{path: ff.path, r: parquet.NewGenericReader[export.CRMRow](ff.pf), buf: make([]export.CRMRow, 4096)}, nil
}

// next is the next row, valid until the call after; ok is false at the end.
func (r *feedReader) next() (*export.CRMRow, bool, error) {
	if r.i == r.n {
		clear(r.buf)
		n, err := r.r.Read(r.buf)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("%w: %s: %v", sheet.ErrRunFile, r.path, err)
		}
		r.n, r.i = n, 0
	}
	r.i++
	return &r.buf[r.i-1], true, nil
}

func (r *feedReader) Close() error { return r.r.Close() }

// keyGroup is what the diff reads of one row group of the feed, column
// by column (no row is put together): the ids, the hash of each row's
// tracked columns (trackedColumns), and the two values ranked.
type keyGroup struct {
	ids       []byte
	offs      []uint32 // id k is ids[offs[k]:offs[k+1]]
	hash      []uint64
	risk, clv []float64
}

func (g *keyGroup) id(k int) string { return string(g.ids[g.offs[k]:g.offs[k+1]]) }

// The row hash: each tracked column's value folded into the row's state
// in trackedColumns order (strings by their FNV-1a hash, computed once
// per dictionary entry; a null as its own constant).
const (
	hashSeed  = 0xcbf29ce484222325
	hashNull  = 0x6e756c6c6e756c6c
	fnvPrime  = 0x100000001b3
	mixFactor = 0x9e3779b97f4a7c15
)

func mix(h, v uint64) uint64 { return bits.RotateLeft64((h^v)*mixFactor, 29) }

func fnvBytes(b []byte) uint64 {
	h := uint64(hashSeed)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h ^ uint64(len(b))
}

// eachKeyGroup calls fn with each row group's keys, in order.
func (ff *feedFile) eachKeyGroup(fn func(g *keyGroup) error) error {
	schema := ff.pf.Schema()
	index := func(name string) (int, error) {
		leaf, ok := schema.Lookup(name)
		if !ok {
			return 0, fmt.Errorf("%w: %s has no column %s", sheet.ErrRunFile, ff.path, name)
		}
		return leaf.ColumnIndex, nil
	}
	var g keyGroup
	for _, rg := range ff.pf.RowGroups() {
		n := int(rg.NumRows())
		g.hash = slices.Grow(g.hash[:0], n)[:n]
		for i := range g.hash {
			g.hash[i] = hashSeed
		}
		g.ids, g.offs = g.ids[:0], append(g.offs[:0], 0)
		g.risk, g.clv = g.risk[:0], g.clv[:0]
		chunks := rg.ColumnChunks()
		for _, name := range append([]string{"customer_id", "churn_risk", "clv"}, trackedColumns...) {
			c, err := index(name)
			if err != nil {
				return err
			}
			if err := ff.readColumn(chunks[c], name, n, &g); err != nil {
				return fmt.Errorf("%w: %s column %s: %v", sheet.ErrRunFile, ff.path, name, err)
			}
		}
		if len(g.offs) != n+1 || len(g.risk) != n || len(g.clv) != n {
			return fmt.Errorf("%w: %s: a row group of %d rows has %d ids", sheet.ErrRunFile, ff.path, n, len(g.offs)-1)
		}
		if err := fn(&g); err != nil {
			return err
		}
	}
	return nil
}

// readColumn reads one column chunk of n rows into g: the id, the ranked
// values, or a tracked column folded into the rows' hashes.
func (ff *feedFile) readColumn(chunk parquet.ColumnChunk, name string, n int, g *keyGroup) error {
	pages := chunk.Pages()
	defer pages.Close()
	row := 0
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		err = g.page(p, name, row)
		row += int(p.NumRows())
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
	if row != n {
		return fmt.Errorf("%d rows, want %d", row, n)
	}
	return nil
}

// page takes one page of column name, whose first row is row.
func (g *keyGroup) page(p parquet.Page, name string, row int) error {
	rows := int(p.NumRows())
	defs := p.DefinitionLevels()
	data := p.Data()
	switch p.Type().Kind() {
	case parquet.ByteArray:
		var values []byte
		var offsets []uint32
		var indexes []int32
		if dict := p.Dictionary(); dict != nil {
			dd := dict.Page().Data()
			values, offsets = dd.ByteArray()
			indexes = data.Int32()
		} else {
			values, offsets = data.ByteArray()
		}
		entry := func(k int) ([]byte, error) {
			if indexes != nil {
				if k >= len(indexes) {
					return nil, fmt.Errorf("page of %d rows holds %d values", rows, k)
				}
				k = int(indexes[k])
			}
			if k+1 >= len(offsets) {
				return nil, fmt.Errorf("page of %d rows holds %d values", rows, k)
			}
			return values[offsets[k]:offsets[k+1]], nil
		}
		var dictHash []uint64 // per dictionary entry
		if indexes != nil && name != "customer_id" {
			dictHash = make([]uint64, len(offsets)-1)
			for k := range dictHash {
				dictHash[k] = fnvBytes(values[offsets[k]:offsets[k+1]])
			}
		}
		k := 0
		for r := 0; r < rows; r++ {
			if defs != nil && defs[r] == 0 {
				if name == "customer_id" {
					return fmt.Errorf("row %d has no customer_id", row+r)
				}
				g.hash[row+r] = mix(g.hash[row+r], hashNull)
				continue
			}
			switch {
			case name == "customer_id":
				v, err := entry(k)
				if err != nil {
					return err
				}
				g.ids = append(g.ids, v...)
				g.offs = append(g.offs, uint32(len(g.ids)))
			case dictHash != nil:
				if k >= len(indexes) || int(indexes[k]) >= len(dictHash) {
					return fmt.Errorf("page of %d rows holds %d values", rows, k)
				}
				g.hash[row+r] = mix(g.hash[row+r], dictHash[indexes[k]])
			default:
				v, err := entry(k)
				if err != nil {
					return err
				}
				g.hash[row+r] = mix(g.hash[row+r], fnvBytes(v))
			}
			k++
		}
	case parquet.Int32:
		v := data.Int32()
		if defs != nil || len(v) < rows {
			return fmt.Errorf("an int32 page of %d rows with %d values", rows, len(v))
		}
		for r, x := range v[:rows] {
			g.hash[row+r] = mix(g.hash[row+r], uint64(int64(x)))
		}
	case parquet.Int64:
		v := data.Int64()
		if defs != nil || len(v) < rows {
			return fmt.Errorf("an int64 page of %d rows with %d values", rows, len(v))
		}
		for r, x := range v[:rows] {
			g.hash[row+r] = mix(g.hash[row+r], uint64(x))
		}
	case parquet.Double:
		v := data.Double()
		if defs != nil || len(v) < rows {
			return fmt.Errorf("a double page of %d rows with %d values", rows, len(v))
		}
		switch name {
		case "churn_risk":
			g.risk = append(g.risk, v[:rows]...)
		case "clv":
			g.clv = append(g.clv, v[:rows]...)
		default:
			for r, x := range v[:rows] {
				g.hash[row+r] = mix(g.hash[row+r], math.Float64bits(x))
			}
		}
	default:
		return fmt.Errorf("unexpected type %s", p.Type())
	}
	return nil
}

// rankPercent is ⌊100 · #{v_j < v_i} / n⌋ for each i: the share of
// customers with a strictly lower value, in whole per cent (0–99; ties
// share the lower), as Optimove and Segment expose a score's rank. With
// the values sorted, that is the number of the 99 thresholds
// s[⌈p·n/100⌉ − 1] (p = 1…99) that v is above.
func rankPercent(v []float64) []int16 {
	n := len(v)
	out := make([]int16, n)
	if n == 0 {
		return out
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	var thresholds [99]float64
	for p := 1; p <= 99; p++ {
		thresholds[p-1] = sorted[(p*n+99)/100-1]
	}
	for i, x := range v {
		lo, hi := 0, len(thresholds) // the first threshold not below x
		for lo < hi {
			m := (lo + hi) / 2
			if thresholds[m] < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		out[i] = int16(lo)
	}
	return out
}
