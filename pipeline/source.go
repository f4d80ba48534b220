package pipeline

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Format is an input file format.
type Format string

// The input formats. Delimited text covers CSV, TSV and any one-byte
// delimiter, plus "whitespace" (runs of spaces and tabs, no quoting) for
// fixed-width-ish files like CDNOW's.
const (
	FormatCSV     Format = "csv"
	FormatTSV     Format = "tsv"
	FormatJSONL   Format = "jsonl"
	FormatParquet Format = "parquet"
)

// ErrUnknownFormat is returned for a file whose format cannot be told from its
// name; pass --format.
var ErrUnknownFormat = errors.New("unknown input format")

// ErrOption is returned for an option value that cannot be used (an unknown
// time zone, encoding or delimiter); the CLI reports it as a usage error.
var ErrOption = errors.New("bad option")

// DetectFormat tells the format of a file from its name: .csv, .tsv, .txt
// (delimited, delimiter from --delimiter), .jsonl/.ndjson/.json, .parquet,
// each optionally followed by .gz. It also reports whether it is gzipped.
func DetectFormat(name string) (Format, bool, error) {
	lower := strings.ToLower(name)
	gz := strings.HasSuffix(lower, ".gz")
	lower = strings.TrimSuffix(lower, ".gz")
	switch {
	case strings.HasSuffix(lower, ".csv"), strings.HasSuffix(lower, ".txt"), strings.HasSuffix(lower, ".dat"):
		return FormatCSV, gz, nil
	case strings.HasSuffix(lower, ".tsv"), strings.HasSuffix(lower, ".tab"):
		return FormatTSV, gz, nil
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".json"):
		return FormatJSONL, gz, nil
	case strings.HasSuffix(lower, ".parquet"), strings.HasSuffix(lower, ".pq"):
		return FormatParquet, gz, nil
	}
	return "", gz, fmt.Errorf("%w: %s (pass --format csv|tsv|jsonl|parquet)", ErrUnknownFormat, name)
}

// rawRecord is one row of a source before it is mapped to a transaction.
type rawRecord struct {
	line   int64
	raw    string
	fields []string
	err    error // a row-level problem found while splitting (quoting, encoding, field count)
}

// splitter turns a chunk of complete lines into records.
type splitter interface {
	split(chunk []byte, firstLine int64, out []rawRecord) []rawRecord
}

// delimitedSplitter reads RFC 4180 records with one delimiter byte.
type delimitedSplitter struct {
	comma  rune
	fields int // expected field count; 0 = any
}

func (d *delimitedSplitter) split(chunk []byte, firstLine int64, out []rawRecord) []rawRecord {
	r := csv.NewReader(bytes.NewReader(chunk))
	r.Comma = d.comma
	r.FieldsPerRecord = -1
	r.LazyQuotes = false
	r.ReuseRecord = false
	var prev int64
	line := firstLine
	for {
		rec, err := r.Read()
		off := r.InputOffset()
		if err == io.EOF {
			return out
		}
		rawBytes := chunk[prev:off]
		startLine := line + int64(bytes.Count(chunk[prev:prev+int64(leadingNewlines(rawBytes))], []byte{'\n'}))
		line += int64(bytes.Count(rawBytes, []byte{'\n'}))
		prev = off
		raw := trimLineEnd(string(bytes.TrimLeft(rawBytes, "\r\n")))
		if raw == "" && err == nil {
			continue
		}
		rr := rawRecord{line: startLine, raw: raw, fields: rec}
		switch {
		case err != nil:
			rr.err = fmt.Errorf("%w: %v", ErrMalformed, errors.Unwrap(err))
			rr.fields = nil
		case !utf8.ValidString(raw):
			rr.err = ErrEncoding
		case d.fields > 0 && len(rec) != d.fields:
			rr.err = fmt.Errorf("%w: %d fields, header has %d", ErrFieldCount, len(rec), d.fields)
		}
		out = append(out, rr)
	}
}

func leadingNewlines(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\n' || b[n] == '\r') {
		n++
	}
	return n
}

func trimLineEnd(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// whitespaceSplitter splits each line on runs of spaces and tabs; no quoting.
type whitespaceSplitter struct{ fields int }

func (w *whitespaceSplitter) split(chunk []byte, firstLine int64, out []rawRecord) []rawRecord {
	return eachLine(chunk, firstLine, out, func(line int64, s string) rawRecord {
		rr := rawRecord{line: line, raw: s, fields: strings.Fields(s)}
		switch {
		case !utf8.ValidString(s):
			rr.err = ErrEncoding
		case w.fields > 0 && len(rr.fields) != w.fields:
			rr.err = fmt.Errorf("%w: %d fields, header has %d", ErrFieldCount, len(rr.fields), w.fields)
		}
		return rr
	})
}

// jsonSplitter reads one JSON object per line; fields follow keys.
type jsonSplitter struct{ keys []string }

func (j *jsonSplitter) split(chunk []byte, firstLine int64, out []rawRecord) []rawRecord {
	return eachLine(chunk, firstLine, out, func(line int64, s string) rawRecord {
		rr := rawRecord{line: line, raw: s}
		if !utf8.ValidString(s) {
			rr.err = ErrEncoding
			return rr
		}
		fields, err := jsonFields(s, j.keys)
		if err != nil {
			rr.err = err
		}
		rr.fields = fields
		return rr
	})
}

func jsonFields(s string, keys []string) ([]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fields := make([]string, len(keys))
	for i, k := range keys {
		v, ok := obj[k]
		if !ok {
			continue
		}
		fields[i] = jsonScalar(v)
	}
	return fields, nil
}

// jsonScalar renders a JSON value as the text a CSV would have held: strings
// unquoted, numbers as written, null as empty.
func jsonScalar(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

// jsonKeys returns the keys of the first object in a JSON Lines chunk, in the order written.
func jsonKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: first line is not a JSON object", ErrMalformed)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	return keys, nil
}

func eachLine(chunk []byte, line int64, out []rawRecord, f func(int64, string) rawRecord) []rawRecord {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		var l []byte
		if i < 0 {
			l, chunk = chunk, nil
		} else {
			l, chunk = chunk[:i], chunk[i+1:]
		}
		if s := trimLineEnd(string(l)); strings.TrimSpace(s) != "" {
			out = append(out, f(line, s))
		}
		line++
	}
	return out
}

// chunker cuts a text stream into chunks of whole records, so that several
// workers can split them at once. With quotes, a cut is only made at a
// newline outside a quoted field (an even number of '"' so far).
type chunker struct {
	r      io.Reader
	quotes bool
	size   int
	carry  []byte
	line   int64 // line number of the first line of the next chunk
	eof    bool
	inQ    bool // inside a quoted field at the end of carry's scanned part
}

type chunk struct {
	data      []byte
	firstLine int64
	seq       int
}

func newChunker(r io.Reader, quotes bool, size int) *chunker {
	return &chunker{r: r, quotes: quotes, size: size, line: 1}
}

// next returns the next chunk, or io.EOF.
func (c *chunker) next() ([]byte, int64, error) {
	for {
		if c.eof && len(c.carry) == 0 {
			return nil, 0, io.EOF
		}
		if !c.eof {
			buf := make([]byte, len(c.carry), len(c.carry)+c.size)
			copy(buf, c.carry)
			n, err := io.ReadFull(c.r, buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				c.eof = true
			} else if err != nil {
				return nil, 0, err
			}
			c.carry = buf
		}
		cut := c.cutPoint(c.carry)
		if cut < 0 {
			if c.eof {
				cut = len(c.carry)
			} else {
				// A record longer than the chunk: read more.
				c.size *= 2
				continue
			}
		}
		out := c.carry[:cut]
		c.carry = append([]byte(nil), c.carry[cut:]...)
		first := c.line
		c.line += int64(bytes.Count(out, []byte{'\n'}))
		return out, first, nil
	}
}

// cutPoint returns the index just past the last newline that ends a record, or -1.
func (c *chunker) cutPoint(b []byte) int {
	if !c.quotes {
		i := bytes.LastIndexByte(b, '\n')
		if i < 0 {
			return -1
		}
		return i + 1
	}
	inQ := false
	last := -1
	for i := 0; i < len(b); {
		j := bytes.IndexAny(b[i:], "\"\n")
		if j < 0 {
			break
		}
		i += j
		if b[i] == '"' {
			inQ = !inQ
		} else if !inQ {
			last = i
		}
		i++
	}
	return last + 1
}

// decodeText wraps r for the --encoding of an export.
func decodeText(r io.Reader, encoding string) (io.Reader, error) {
	switch strings.ToLower(strings.ReplaceAll(encoding, "_", "-")) {
	case "", "utf-8", "utf8":
		return r, nil
	case "latin1", "latin-1", "iso-8859-1":
		return charmap.ISO8859_1.NewDecoder().Reader(r), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder().Reader(r), nil
	}
	return nil, fmt.Errorf("%w: --encoding %q: want utf-8, latin1 or windows-1252", ErrOption, encoding)
}

// maybeGunzip wraps r in a gzip reader when gz is set.
func maybeGunzip(r io.Reader, gz bool) (io.Reader, error) {
	if !gz {
		return r, nil
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return zr, nil
}

// parseDelimiter reads --delimiter: one character, or a name.
func parseDelimiter(s string, f Format) (rune, bool, error) {
	switch strings.ToLower(s) {
	case "":
		if f == FormatTSV {
			return '\t', false, nil
		}
		return ',', false, nil
	case "whitespace", "space", "spaces":
		return 0, true, nil
	case "tab", `\t`:
		return '\t', false, nil
	case "comma":
		return ',', false, nil
	case "semicolon":
		return ';', false, nil
	case "pipe":
		return '|', false, nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size != len(s) || r == '"' || r == '\n' || r == '\r' {
		return 0, false, fmt.Errorf("%w: --delimiter %q: want one character, tab, or whitespace", ErrOption, s)
	}
	return r, false, nil
}

// fieldNames makes column names for a headerless file: "1", "2", ….
func fieldNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}
