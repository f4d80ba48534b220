package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/churnhq/churn/pipeline/warehouse"

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
	FormatXLSX    Format = "xlsx"
)

// ErrUnknownFormat is returned for a file whose format cannot be told from its
// name; pass --format.
var ErrUnknownFormat = errors.New("unknown input format")

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
	case strings.HasSuffix(lower, ".xlsx"), strings.HasSuffix(lower, ".xlsm"):
		return FormatXLSX, gz, nil
	}
	return "", gz, fmt.Errorf("%w: %s (pass --format csv|tsv|jsonl|parquet|xlsx)", ErrUnknownFormat, name)
}

// rawRecord is one row of a source before it is mapped to a transaction.
type rawRecord struct {
	line   int64
	raw    string
	fields []string
	err    error // a row-level problem found while splitting (quoting, encoding, field count)
}

// splitter turns a chunk of complete lines into records. The records'
// strings may be views of chunk: it must not change while they are in use
// (the ingest reuses a chunk's buffer once the chunk's rows are routed, and
// their strings copied). buf, if not nil, is memory the splitter may reuse
// and keeps what it used for the next chunk.
type splitter interface {
	split(chunk []byte, firstLine int64, buf *splitBuf) []rawRecord
}

// splitBuf is the memory of an earlier chunk's records, dead by now: the
// records and the array their fields are slices of.
type splitBuf struct {
	recs   []rawRecord
	fields []string
}

// records returns buf's records, emptied (nil without a buf).
func (buf *splitBuf) records() []rawRecord {
	if buf == nil {
		return nil
	}
	return buf.recs[:0]
}

// clear drops what buf's records point to, so that it keeps no chunk alive.
func (buf *splitBuf) clear() {
	clear(buf.recs)
	clear(buf.fields)
	buf.recs, buf.fields = buf.recs[:0], buf.fields[:0]
}

// chunkText is a view of a chunk as a string, not a copy (half a GB for a
// 10M-row file): chunks do not change once split, and the strings taken
// from it keep it alive.
func chunkText(chunk []byte) string { return unsafe.String(unsafe.SliceData(chunk), len(chunk)) }

// delimitedSplitter reads RFC 4180 records with one delimiter byte.
type delimitedSplitter struct {
	comma  rune
	fields int // expected field count; 0 = any
}

func (d *delimitedSplitter) split(chunk []byte, firstLine int64, buf *splitBuf) []rawRecord {
	if bytes.IndexByte(chunk, '"') < 0 {
		// Without a quote, RFC 4180 is a split at each delimiter.
		return splitFields(chunk, byte(d.comma), d.fields, false, firstLine, buf)
	}
	out := d.splitCSV(chunk, firstLine, buf.records())
	if buf != nil {
		buf.recs = out
	}
	return out
}

// splitCSV reads the records of a chunk with encoding/csv, quotes and all.
func (d *delimitedSplitter) splitCSV(chunk []byte, firstLine int64, out []rawRecord) []rawRecord {
	text := chunkText(chunk) // raw texts are substrings of it
	if out == nil {
		out = make([]rawRecord, 0, bytes.Count(chunk, []byte{'\n'})+1)
	}
	r := csv.NewReader(strings.NewReader(text))
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
		rawText := text[prev:off]
		lead := leadingNewlines(rawText)
		startLine := line + int64(strings.Count(rawText[:lead], "\n"))
		line += int64(strings.Count(rawText, "\n"))
		prev = off
		raw := trimLineEnd(rawText[lead:])
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

// leadingNewlines measures the blank lines before a record: "\n" and
// "\r\n" (a lone '\r' is part of the record's text).
func leadingNewlines(b string) int {
	n := 0
	for n < len(b) {
		switch {
		case b[n] == '\n':
			n++
		case b[n] == '\r' && n+1 < len(b) && b[n+1] == '\n':
			n += 2
		default:
			return n
		}
	}
	return n
}

func trimLineEnd(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// plainSplitter splits each line on one separator byte, or with sep 0 on
// runs of spaces and tabs; no quoting (TSV as IANA defines it, CDNOW's layout).
type plainSplitter struct {
	sep    byte
	fields int
}

func (w *plainSplitter) split(chunk []byte, firstLine int64, buf *splitBuf) []rawRecord {
	if w.sep != 0 {
		return splitFields(chunk, w.sep, w.fields, true, firstLine, buf)
	}
	return eachLine(chunk, firstLine, buf, func(line int64, s string) rawRecord {
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

// jsonSplitter reads one JSON object per line; fields follow keys, which
// are paths: "customer.id" is a value inside an object, "refunds[].amount"
// the values inside the objects of an array.
type jsonSplitter struct {
	keys []string
	// sum: the values an array path finds are summed (amounts); otherwise
	// the first is taken. mapped: the key fills a role, so an object or
	// array there is an error, never its JSON text as a value.
	sum, mapped []bool
}

// use tells the splitter which keys the mapping uses, and which of them sum.
func (j *jsonSplitter) use(cols columnMap) {
	j.sum = make([]bool, len(j.keys))
	j.mapped = make([]bool, len(j.keys))
	for ro, i := range cols.idx {
		if i < 0 || i >= len(j.keys) {
			continue
		}
		j.mapped[i] = true
		switch role(ro) {
		case roleAmount, roleRefund, roleQuantity:
			j.sum[i] = true
		}
	}
}

func (j *jsonSplitter) split(chunk []byte, firstLine int64, buf *splitBuf) []rawRecord {
	return eachLine(chunk, firstLine, buf, func(line int64, s string) rawRecord {
		rr := rawRecord{line: line, raw: s}
		if !utf8.ValidString(s) {
			rr.err = ErrEncoding
			return rr
		}
		fields, err := jsonFields(s, j)
		if err != nil {
			rr.err = err
		}
		rr.fields = fields
		return rr
	})
}

// splitFields splits each line of chunk at every sep byte. Lines that are
// empty are skipped, and with skipBlank also lines of only blanks. Field
// strings are views of the chunk, and the field slices of the records parts
// of one array (buf's, when it is large enough): a chunk costs a few
// allocations, not a few per row.
func splitFields(chunk []byte, sep byte, want int, skipBlank bool, line int64, buf *splitBuf) []rawRecord {
	text := chunkText(chunk)
	lines := strings.Count(text, "\n") + 1
	out := buf.records()
	if out == nil {
		out = make([]rawRecord, 0, lines)
	}
	perLine := max(want, 1)
	var arena []string
	if buf != nil && cap(buf.fields) >= lines*perLine {
		arena = buf.fields[:0]
	} else {
		arena = make([]string, 0, lines*perLine)
	}
	if buf != nil {
		// The array sized for the chunk is the one to keep (a line with
		// more fields than the header may start another).
		defer func(first []string) { buf.recs, buf.fields = out, first[:cap(first)] }(arena)
	}
	valid := utf8.ValidString(text) // then so is every line: '\n' is ASCII
	for len(text) > 0 {
		var l string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			l, text = text, ""
		}
		l = trimLineEnd(l)
		if l == "" || skipBlank && strings.TrimSpace(l) == "" {
			line++
			continue
		}
		if cap(arena)-len(arena) < perLine {
			arena = make([]string, 0, max(1024, perLine))
		}
		start := len(arena)
		rest := l
		for {
			i := strings.IndexByte(rest, sep)
			if i < 0 {
				arena = append(arena, rest)
				break
			}
			arena = append(arena, rest[:i])
			rest = rest[i+1:]
		}
		rr := rawRecord{line: line, raw: l, fields: arena[start:len(arena):len(arena)]}
		switch {
		case !valid && !utf8.ValidString(l):
			rr.err = ErrEncoding
		case want > 0 && len(rr.fields) != want:
			rr.err = fmt.Errorf("%w: %d fields, header has %d", ErrFieldCount, len(rr.fields), want)
		}
		out = append(out, rr)
		line++
	}
	return out
}

// jsonFields reads the values of the splitter's key paths from one object.
func jsonFields(s string, j *jsonSplitter) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fields := make([]string, len(j.keys))
	for i, k := range j.keys {
		vals, nested := lookupPath(obj, k)
		if nested && j.mapped != nil && j.mapped[i] {
			return nil, fmt.Errorf("%w: %q is an object or array, not a value; name a value inside it (like %s.id)", ErrMalformed, clip(k), clip(k))
		}
		switch {
		case len(vals) == 0:
		case len(vals) == 1 || j.sum == nil || !j.sum[i]:
			fields[i] = vals[0]
		default:
			var total int64
			for _, v := range vals {
				a, err := warehouse.ParseAmount(v, false)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %v", warehouse.ErrBadAmount, clip(k), err)
				}
				total += a
			}
			fields[i] = strings.TrimRight(strings.TrimRight(warehouse.FormatAmount(total, warehouse.AmountScale), "0"), ".")
		}
	}
	return fields, nil
}

// lookupPath returns the scalar values at a key path, rendered as a CSV
// would hold them (strings unquoted, numbers as written, null as nothing),
// and whether the path ends at an object or array instead.
func lookupPath(v any, path string) (vals []string, nested bool) {
	if m, ok := v.(map[string]any); ok {
		if x, ok := m[path]; ok { // a key that has dots of its own
			return scalarValues(x)
		}
	}
	seg, rest, more := strings.Cut(path, ".")
	arr := strings.HasSuffix(seg, "[]")
	seg = strings.TrimSuffix(seg, "[]")
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	x, ok := m[seg]
	if !ok || x == nil {
		return nil, false
	}
	if arr {
		items, ok := x.([]any)
		if !ok {
			return nil, false
		}
		for _, it := range items {
			var vs []string
			var n bool
			if more {
				vs, n = lookupPath(it, rest)
			} else {
				vs, n = scalarValues(it)
			}
			vals = append(vals, vs...)
			nested = nested || n
		}
		return vals, nested
	}
	if !more {
		return scalarValues(x)
	}
	return lookupPath(x, rest)
}

func scalarValues(x any) ([]string, bool) {
	switch v := x.(type) {
	case nil:
		return nil, false
	case string:
		return []string{v}, false
	case json.Number:
		return []string{v.String()}, false
	case bool:
		return []string{strconv.FormatBool(v)}, false
	}
	return nil, true
}

// maxJSONPaths bounds the paths a JSON Lines header gets.
const maxJSONPaths = 1000

// jsonPaths returns the key paths of the objects in the first lines of a
// JSON Lines chunk, in the order first written: top-level keys, "a.b" for
// the values inside objects, "a[].b" inside arrays of objects.
func jsonPaths(first []byte) ([]string, error) {
	var paths []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] && len(paths) < maxJSONPaths {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	var nulls []string
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		switch x := v.(type) {
		case map[string]any:
			if depth > 4 {
				return
			}
			for _, k := range sortedKeys(x) {
				walk(joinPath(prefix, k), x[k], depth+1)
			}
		case []any:
			for _, it := range x {
				if _, ok := it.(map[string]any); ok {
					walk(prefix+"[]", it, depth)
				} else if _, ok := it.([]any); !ok {
					add(prefix + "[]")
				}
			}
		case nil:
			nulls = append(nulls, prefix) // a scalar, unless another line has an object there
		default:
			add(prefix)
		}
	}
	rest := first
	for n := 0; n < 1000 && len(rest) > 0; n++ {
		var line []byte
		line, rest, _ = cutLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		keys, err := jsonKeys(line)
		if err != nil {
			if n == 0 {
				return nil, err
			}
			continue // a broken line is quarantined when it is read
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if dec.Decode(&obj) != nil {
			continue
		}
		// Top-level keys in the order written, then what is inside them.
		for _, k := range keys {
			walk(k, obj[k], 1)
		}
	}
	for _, p := range nulls {
		inside := slices.ContainsFunc(paths, func(q string) bool {
			return strings.HasPrefix(q, p+".") || strings.HasPrefix(q, p+"[]")
		})
		if !inside {
			add(p)
		}
	}
	return paths, nil
}

func joinPath(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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

func eachLine(chunk []byte, line int64, buf *splitBuf, f func(int64, string) rawRecord) []rawRecord {
	text := chunkText(chunk)
	out := buf.records()
	if out == nil {
		out = make([]rawRecord, 0, bytes.Count(chunk, []byte{'\n'})+1)
	}
	for len(text) > 0 {
		i := strings.IndexByte(text, '\n')
		var l string
		if i < 0 {
			l, text = text, ""
		} else {
			l, text = text[:i], text[i+1:]
		}
		if s := trimLineEnd(l); strings.TrimSpace(s) != "" {
			out = append(out, f(line, s))
		}
		line++
	}
	if buf != nil {
		buf.recs = out
	}
	return out
}

// chunker cuts a text stream into chunks of whole records, so that several
// workers can split them at once. For quoted formats a cut is only made at a
// newline outside a quoted field, following RFC 4180: a quote opens a quoted
// field only at the start of a field, so a stray quote inside a value
// (12" vinyl) does not swallow the rest of the file.
type chunker struct {
	r     io.Reader
	comma byte // 0 = no quoting: cut at any newline
	size  int
	carry []byte
	line  int64 // line number of the first line of the next chunk
	eof   bool
	// free gives back buffers of earlier chunks that nothing refers to any
	// more, to read into instead of fresh memory; nil = always fresh.
	free freeList[[]byte]
}

// maxRecordBytes bounds how far the chunker looks for the end of a quoted
// record; past it, the quote is taken as broken and the chunk cut at a newline.
const maxRecordBytes = 64 << 20

func newChunker(r io.Reader, comma byte, size int) *chunker {
	return &chunker{r: r, comma: comma, size: size, line: 1}
}

// next returns the next chunk and the line number of its first line, or io.EOF.
func (c *chunker) next() ([]byte, int64, error) {
	for {
		if c.eof && len(c.carry) == 0 {
			return nil, 0, io.EOF
		}
		if !c.eof {
			buf := c.buffer(len(c.carry) + c.size)
			buf = append(buf, c.carry...)
			n, err := io.ReadFull(c.r, buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				c.eof = true
			} else if err != nil {
				return nil, 0, err
			}
			c.carry = buf
		}
		cut := recordsEnd(c.carry, c.comma)
		if cut < 0 && len(c.carry) > maxRecordBytes {
			cut = bytes.LastIndexByte(c.carry, '\n') + 1
		}
		if cut <= 0 {
			if !c.eof {
				// A record longer than the chunk: read more.
				continue
			}
			cut = len(c.carry)
		}
		out := c.carry[:cut]
		c.carry = append([]byte(nil), c.carry[cut:]...)
		first := c.line
		c.line += int64(bytes.Count(out, []byte{'\n'}))
		return out, first, nil
	}
}

// buffer returns an empty buffer with room for n bytes: a free one if
// there is one large enough, else a new one with room to spare for the
// carry of a later chunk.
func (c *chunker) buffer(n int) []byte {
	if b, ok := c.free.get(); ok && cap(b) >= n {
		return b[:0]
	}
	return make([]byte, 0, n+n/32)
}

// recordsEnd returns the index just past the last newline of b that ends a
// record of text with the delimiter comma (0: no quoting), or ≤ 0.
func recordsEnd(b []byte, comma byte) int {
	if comma == 0 || bytes.IndexByte(b, '"') < 0 {
		return bytes.LastIndexByte(b, '\n') + 1
	}
	const (
		fieldStart = iota
		unquoted
		quoted
		quoteInQuoted // a quote inside a quoted field: closes it, or escapes the next
	)
	state := fieldStart
	last := -1
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch state {
		case fieldStart, unquoted:
			switch {
			case ch == '\n':
				last, state = i, fieldStart
			case ch == comma:
				state = fieldStart
			case ch == '"' && state == fieldStart:
				state = quoted
			default:
				state = unquoted
			}
		case quoted:
			if ch == '"' {
				state = quoteInQuoted
			}
		case quoteInQuoted:
			switch ch {
			case '"':
				state = quoted
			case '\n':
				last, state = i, fieldStart
			case comma:
				state = fieldStart
			default:
				state = unquoted
			}
		}
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
	return nil, fmt.Errorf("%w: --encoding %q: want utf-8, latin1 or windows-1252", warehouse.ErrOption, encoding)
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

// textLayout is how the fields of a delimited text line are separated.
type textLayout struct {
	sep    byte // the delimiter; 0 with plain = runs of blanks
	quoted bool // RFC 4180 quoting (CSV); TSV and whitespace have none
}

// splitter returns the splitter of the layout for rows of n fields (0 = any).
func (l textLayout) splitter(n int) splitter {
	if l.quoted {
		return &delimitedSplitter{comma: rune(l.sep), fields: n}
	}
	return &plainSplitter{sep: l.sep, fields: n}
}

// chunkQuote is the delimiter the chunker must track quotes for, or 0.
func (l textLayout) chunkQuote() byte {
	if l.quoted {
		return l.sep
	}
	return 0
}

// parseDelimiter reads --delimiter for a format: one ASCII character, a
// name (tab, comma, semicolon, pipe), or whitespace.
func parseDelimiter(s string, f Format) (textLayout, error) {
	switch strings.ToLower(s) {
	case "":
		if f == FormatTSV {
			return textLayout{sep: '\t'}, nil
		}
		return textLayout{sep: ',', quoted: true}, nil
	case "whitespace", "space", "spaces":
		return textLayout{}, nil
	case "tab", `\t`:
		return textLayout{sep: '\t', quoted: f != FormatTSV}, nil
	case "comma":
		s = ","
	case "semicolon":
		s = ";"
	case "pipe":
		s = "|"
	}
	if len(s) != 1 || s[0] >= 0x80 || s[0] == '"' || s[0] == '\n' || s[0] == '\r' {
		return textLayout{}, fmt.Errorf("%w: --delimiter %q: want one ASCII character, tab, or whitespace", warehouse.ErrOption, s)
	}
	return textLayout{sep: s[0], quoted: f != FormatTSV}, nil
}

// fieldNames makes column names for a headerless file: "1", "2", ….
func fieldNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}
