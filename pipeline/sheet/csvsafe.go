package sheet

import (
	"bufio"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// SafeCSVWriter is the one CSV writer for files people open in a
// spreadsheet. A text cell starting with '=', '+', '-', '@', tab or carriage
// return is prefixed with a single quote (the OWASP CSV-injection rule), so
// "=HYPERLINK(…)" shows as text instead of running; plain numbers such as
// "-3.50" are left alone. Fields are quoted exactly as encoding/csv quotes
// them (comma-separated, "\n" line ends).
type SafeCSVWriter struct {
	w    *bufio.Writer
	line []byte
	err  error
}

// NewSafeCSVWriter writes CSV to w (through a buffer unless w is one).
func NewSafeCSVWriter(w io.Writer) *SafeCSVWriter {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	return &SafeCSVWriter{w: bw}
}

// Write writes one record, neutralising dangerous cells. A write error is
// returned here or at Flush.
func (s *SafeCSVWriter) Write(rec []string) error {
	s.line = s.line[:0]
	for i, c := range rec {
		if i > 0 {
			s.line = append(s.line, ',')
		}
		s.line = AppendSafeField(s.line, c)
	}
	s.line = append(s.line, '\n')
	return s.WriteLine(s.line)
}

// WriteLine writes a line already encoded with AppendSafeField, its "\n"
// included.
func (s *SafeCSVWriter) WriteLine(line []byte) error {
	if s.err == nil {
		_, s.err = s.w.Write(line)
	}
	return s.err
}

// Flush flushes and returns any write error.
func (s *SafeCSVWriter) Flush() error {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

// AppendSafeField appends one cell as SafeCSVWriter writes it: neutralised
// (NeutraliseCell), then quoted where encoding/csv would quote it.
func AppendSafeField(dst []byte, c string) []byte {
	if c == "" {
		return dst
	}
	quote := c == `\.`
	for i := 0; i < len(c) && !quote; i++ {
		switch c[i] {
		case ',', '"', '\r', '\n':
			quote = true
		}
	}
	prefix := false
	switch c[0] {
	case '=', '+', '-', '@', '\t', '\r':
		prefix = !IsPlainNumber(c)
	}
	if !quote && !prefix {
		r, _ := utf8.DecodeRuneInString(c)
		if !unicode.IsSpace(r) {
			return append(dst, c...)
		}
		quote = true
	}
	if !quote {
		// The prefixed cell starts with a quote mark, not a space, and has
		// nothing else to quote.
		return append(append(dst, '\''), c...)
	}
	dst = append(dst, '"')
	if prefix {
		dst = append(dst, '\'')
	}
	for i := 0; i < len(c); i++ {
		if c[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c[i])
	}
	return append(dst, '"')
}

// NeutraliseCell applies the OWASP rule to one cell.
func NeutraliseCell(c string) string {
	if c == "" {
		return c
	}
	switch c[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if IsPlainNumber(c) {
			return c
		}
		return "'" + c
	}
	return c
}

// RestoreCell undoes NeutraliseCell: a cell churn wrote as "'=x" reads
// back as "=x", so a file churn wrote (campaign.csv) gives the exact ids.
func RestoreCell(c string) string {
	if len(c) > 1 && c[0] == '\'' && NeutraliseCell(c[1:]) == c {
		return c[1:]
	}
	return c
}

func IsPlainNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// WriteFilesAtomic writes several files in one pass through buffered
// writers; each becomes visible (AtomicFile) only if fn and every flush
// succeed.
func WriteFilesAtomic(paths []string, fn func(ws []*bufio.Writer) error) error {
	var files []*warehouse.AtomicFile
	abort := func(err error) error {
		for _, f := range files {
			f.Abort()
		}
		return err
	}
	ws := make([]*bufio.Writer, len(paths))
	for i, p := range paths {
		f, err := warehouse.CreateOutput(p)
		if err != nil {
			return abort(err)
		}
		files = append(files, f)
		ws[i] = bufio.NewWriterSize(f, 1<<16)
	}
	if err := fn(ws); err != nil {
		return abort(fmt.Errorf("write %s: %w", paths[0], err))
	}
	for i, w := range ws {
		if err := w.Flush(); err != nil {
			return abort(fmt.Errorf("write %s: %w", paths[i], err))
		}
	}
	for i, f := range files {
		if err := f.Commit(); err != nil {
			return abort(err)
		}
		files[i] = nil
	}
	return nil
}

// NewSafeCSV starts a spreadsheet-safe CSV on w, with a UTF-8 byte-order
// mark if asked. A write error surfaces at Flush.
func NewSafeCSV(w *bufio.Writer, bom bool) *SafeCSVWriter {
	if bom {
		w.WriteString("\ufeff")
	}
	return NewSafeCSVWriter(w)
}

// WriteCSV writes one spreadsheet-safe CSV atomically, with a BOM if asked.
func WriteCSV(path string, bom bool, fn func(w *SafeCSVWriter) error) error {
	return WriteFilesAtomic([]string{path}, func(ws []*bufio.Writer) error {
		w := NewSafeCSV(ws[0], bom)
		if err := fn(w); err != nil {
			return err
		}
		return w.Flush()
	})
}
