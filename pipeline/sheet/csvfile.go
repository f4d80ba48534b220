// Package sheet reads and writes the CSV files people edit and open in a
// spreadsheet: a reader that skips a byte-order mark, accepts ragged rows
// and says on which line a cell is wrong, and the spreadsheet-safe writer
// (OWASP neutralisation, encoding/csv quoting).
package sheet

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// newCSVReader reads a CSV a person may have saved from a spreadsheet: a
// UTF-8 byte-order mark is skipped, and rows may differ in length.
func newCSVReader(f io.Reader) *csv.Reader {
	br := bufio.NewReader(f)
	if b, _ := br.Peek(3); string(b) == "\ufeff" {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	return r
}

// newCSVWithHeader is newCSVReader with the header row read: each column's
// index by its lower-cased, trimmed name.
func newCSVWithHeader(f io.Reader) (*csv.Reader, map[string]int, error) {
	r := newCSVReader(f)
	col, err := readHeader(r)
	return r, col, err
}

// readHeader reads a CSV's header row and returns each column's index by
// its lower-cased, trimmed name.
func readHeader(r *csv.Reader) (map[string]int, error) {
	head, err := r.Read()
	if err != nil {
		return nil, err
	}
	col := make(map[string]int, len(head))
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	return col, nil
}

// ErrRunFile is a file of an earlier step of a run (plan.csv, the CRM feed)
// that cannot be read back.
var ErrRunFile = errors.New("run file")

// Row is one record of a CSV with a header.
type Row struct {
	Line int // 1 is the header
	rec  []string
	Col  map[string]int
}

// Get returns the trimmed cell of a column, "" when the column or the cell
// is missing.
func (r Row) Get(name string) string {
	if i, ok := r.Col[name]; ok && i < len(r.rec) {
		return strings.TrimSpace(r.rec[i])
	}
	return ""
}

// EachRow reads a CSV a person wrote (newCSVReader) and calls fn for each
// row that is not blank, stopping at fn's first error. Its own errors are
// kind's: the file, and the line of an unreadable row or of a header that
// lacks a required column or, when known is not nil, has another one.
func EachRow(path string, kind error, required, known []string, fn func(Row) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, col, err := newCSVWithHeader(f)
	if err != nil {
		return fmt.Errorf("%w %s: %v", kind, path, err)
	}
	if known != nil {
		for _, h := range slices.Sorted(maps.Keys(col)) {
			if !slices.Contains(known, h) {
				return fmt.Errorf("%w %s line 1: unknown column %q (known: %s)", kind, path, h, strings.Join(known, ", "))
			}
		}
	}
	for _, c := range required {
		if _, ok := col[c]; !ok {
			return fmt.Errorf("%w %s line 1: missing column %s (want %s)", kind, path, c, strings.Join(required, ", "))
		}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w %s: %v", kind, path, err)
		}
		if strings.Join(rec, "") == "" {
			continue
		}
		// The reader skips empty lines and a quoted cell may span several:
		// the row's line is where its first cell starts.
		line, _ := r.FieldPos(0)
		if err := fn(Row{Line: line, rec: rec, Col: col}); err != nil {
			return err
		}
	}
}
