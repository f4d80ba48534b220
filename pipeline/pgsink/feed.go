package pgsink

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/sheet"

	"github.com/parquet-go/parquet-go"
)

// feedFile is a run's exports/crm_scores.parquet: read twice, in order,
// never held whole.
type feedFile struct {
	path string
	f    *os.File
	pf   *parquet.File
	sha  string // sha256 of the file: the feed's identity in churn_runs
	rows int64
	// The first row's model, model_version and horizon_days: churn_runs'.
	model, modelVersion string
	horizon             int32
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
		ff.model, ff.modelVersion, ff.horizon = row.Model, row.ModelVersion, row.HorizonDays
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
