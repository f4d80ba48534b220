package pipeline

import (
	"encoding/csv"
	"io"
)

// SafeCSVWriter is the one CSV writer for files people open in a
// spreadsheet. A text cell starting with '=', '+', '-', '@', tab or carriage
// return is prefixed with a single quote (the OWASP CSV-injection rule), so
// "=HYPERLINK(…)" shows as text instead of running; plain numbers such as
// "-3.50" are left alone.
type SafeCSVWriter struct {
	w   *csv.Writer
	buf []string
}

// NewSafeCSVWriter writes CSV to w.
func NewSafeCSVWriter(w io.Writer) *SafeCSVWriter {
	return &SafeCSVWriter{w: csv.NewWriter(w)}
}

// Write writes one record, neutralising dangerous cells.
func (s *SafeCSVWriter) Write(rec []string) error {
	s.buf = s.buf[:0]
	for _, c := range rec {
		s.buf = append(s.buf, NeutraliseCell(c))
	}
	return s.w.Write(s.buf)
}

// Flush flushes and returns any write error.
func (s *SafeCSVWriter) Flush() error {
	s.w.Flush()
	return s.w.Error()
}

// NeutraliseCell applies the OWASP rule to one cell.
func NeutraliseCell(c string) string {
	if c == "" {
		return c
	}
	switch c[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if isPlainNumber(c) {
			return c
		}
		return "'" + c
	}
	return c
}

func isPlainNumber(s string) bool {
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
