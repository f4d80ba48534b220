// Package ingest loads exports into the warehouse as one atomic commit:
// sources (CSV, TSV, JSON Lines, Parquet, gzip), column mapping, exact
// amounts and times, deduplication by order id, and the quarantine of every
// rejected row with its reason.
package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/parquet-go/parquet-go"
)

// ErrTooManyBad is returned when the rejected share of an ingest exceeds
// MaxBadFraction; nothing is committed (the CLI exits 3).
var ErrTooManyBad = errors.New("data-quality limit exceeded")

// IngestOptions configure one ingest.
type IngestOptions struct {
	Source SourceOptions
	// Sources give the files that match a glob options of their own, so
	// exports of several systems share one inbox; the first match wins, and
	// a file that matches none reads with Source.
	Sources []SourceRule
	// Force re-reads files whose sha256 is already in the manifest; their
	// orders are then duplicates and dropped.
	Force bool
	// MaxBadFraction is the share of rows read that may be rejected for
	// data-quality reasons (duplicates do not count) before the ingest
	// commits nothing. Zero means no bad row is tolerated.
	MaxBadFraction float64
	// Workers that parse rows; 0 = GOMAXPROCS.
	Workers int
	// Log receives one summary line per file; nil = slog.Default().
	Log *slog.Logger
	// Command is recorded in the lock file.
	Command string
}

// SourceRule is one entry of the config's sources: the files whose path or
// name matches Glob are read with its options.
type SourceRule struct {
	Glob          string `yaml:"glob"`
	SourceOptions `yaml:",inline"`
}

// sourceFor returns the options for one file.
func (o *IngestOptions) sourceFor(path string) *SourceOptions {
	for i := range o.Sources {
		g := o.Sources[i].Glob
		if ok, _ := filepath.Match(g, path); ok {
			return &o.Sources[i].SourceOptions
		}
		if ok, _ := filepath.Match(g, filepath.Base(path)); ok {
			return &o.Sources[i].SourceOptions
		}
	}
	return &o.Source
}

// FileSummary counts what happened to the rows of one source file.
type FileSummary struct {
	Source     string           `json:"source"`
	SHA256     string           `json:"sha256"`
	Skipped    bool             `json:"skipped"`
	RowsRead   int64            `json:"rows_read"`
	Accepted   int64            `json:"rows_accepted"`
	Rejected   int64            `json:"rows_rejected"`
	Duplicates int64            `json:"rows_duplicate"`
	Refunds    int64            `json:"refunds"`
	ByReason   map[string]int64 `json:"rejected_by_reason,omitempty"`
	// Excluded rows are not purchases though nothing is wrong with them
	// (cancelled orders, guests, totals lines); they are kept in the
	// excluded file with their reason and do not count against the limit.
	Excluded   int64            `json:"rows_excluded"`
	ExcludedBy map[string]int64 `json:"excluded_by_reason,omitempty"`
	// Blank rows (no value at all) are skipped and counted.
	Blank int64 `json:"rows_blank"`
	// Lines are the further lines of orders whose fields are on their first
	// line only (Shopify): part of their order, not rows of their own.
	Lines int64 `json:"order_lines_merged"`
	// Platform is the shop system the header was recognised as, or "";
	// Columns the mapping used, role=column.
	Platform string `json:"platform,omitempty"`
	Columns  string `json:"columns,omitempty"`
	// MinTime and MaxTime bound the accepted rows' times (RFC 3339), and
	// DerivedIDs says the file had no order ids, for the overlap warning.
	MinTime    string `json:"min_time,omitempty"`
	MaxTime    string `json:"max_time,omitempty"`
	DerivedIDs bool   `json:"derived_order_ids,omitempty"`
}

// IngestSummary is the result of an ingest.
type IngestSummary struct {
	IngestID   string        `json:"ingest_id"`
	Committed  bool          `json:"committed"`
	Files      []FileSummary `json:"files"`
	Quarantine string        `json:"quarantine,omitempty"`
	// ExcludedFile keeps the excluded rows, like the quarantine.
	ExcludedFile string `json:"excluded_file,omitempty"`
	RowsRead     int64  `json:"rows_read"`
	Accepted     int64  `json:"rows_accepted"`
	Rejected     int64  `json:"rows_rejected"`
	Duplicates   int64  `json:"rows_duplicate"`
	Excluded     int64  `json:"rows_excluded"`
	Blank        int64  `json:"rows_blank"`
	// BadAllowed is how many data-quality rejections the limit allowed.
	BadAllowed int64 `json:"bad_rows_allowed"`
}

// partOptions write the warehouse's parts. Pages of the id columns get no
// min/max bounds, neither in the column index nor in the page headers: rows
// are in source order, so a page of ids spans nearly all of them, and
// comparing every id cost a tenth of the encoding.
var partOptions = []parquet.WriterOption{
	parquet.Compression(warehouse.ZstdCodec),
	parquet.MaxRowsPerRowGroup(rowsPerRowGroup),
	parquet.SkipPageBounds("customer_id"),
	parquet.SkipPageBounds("order_id"),
	parquet.SkipPageBounds("currency"),
	parquet.SkipPageStatistics("customer_id"),
	parquet.SkipPageStatistics("order_id"),
	parquet.SkipPageStatistics("currency"),
}

// chunkBytes is the size of the chunks of text the parse workers take
// (a variable so that tests can make many small chunks).
var chunkBytes = 2 << 20

// pieceBytes is how much of a chunk a worker splits and converts at a time.
var pieceBytes = 128 << 10

var newline = []byte{'\n'}

// rowsPerRowGroup is the largest row group a part gets.
const rowsPerRowGroup = 1 << 20

// bufferedRowsBudget bounds the rows buffered across all open parts of a
// file (parquet-go holds a row group in memory until it is flushed). Over
// it, the part holding the most rows flushes its row group early, so memory
// stays flat however many months a file spans and however large it is.
const bufferedRowsBudget = 384 * 1024

// Ingest reads the given files, directories and globs into the warehouse in
// dataDir as one atomic commit. It holds the warehouse lock throughout.
func Ingest(ctx context.Context, dataDir string, args []string, opt IngestOptions) (*IngestSummary, error) {
	lock, err := warehouse.AcquireLock(dataDir, cmp.Or(opt.Command, "churn ingest"))
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return IngestLocked(ctx, &warehouse.Warehouse{Dir: dataDir}, args, opt)
}

// IngestLocked is Ingest for a caller that already holds the lock.
func IngestLocked(ctx context.Context, w *warehouse.Warehouse, args []string, opt IngestOptions) (*IngestSummary, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	if err := opt.Source.Validate(); err != nil {
		return nil, err
	}
	for _, r := range opt.Sources {
		if _, err := filepath.Match(r.Glob, ""); err != nil || r.Glob == "" {
			return nil, fmt.Errorf("%w: sources: glob %q is not a pattern", warehouse.ErrOption, r.Glob)
		}
		if err := r.SourceOptions.Validate(); err != nil {
			return nil, fmt.Errorf("sources %q: %w", r.Glob, err)
		}
	}
	if err := w.Recover(); err != nil {
		return nil, err
	}
	files, err := expandInputs(args)
	if err != nil {
		return nil, err
	}
	manifest, err := w.Manifest()
	if err != nil {
		return nil, err
	}
	knownSHA := map[string]bool{}
	knownSize := map[int64]bool{}
	for _, e := range manifest {
		knownSHA[e.SHA256] = true
		knownSize[e.Size] = true
	}
	existing, err := w.LoadOrderKeys()
	if err != nil {
		return nil, err
	}
	in := &ingest{
		w:        w,
		opt:      opt,
		log:      log,
		id:       newIngestID(),
		existing: existing,
		orders:   newOrderSet(expectedRows(files)),
	}
	if in.keys, err = warehouse.CreateKeyFile(w.KeysPath(in.id)); err != nil {
		return nil, err
	}
	in.started = time.Now().UTC()
	sum := &IngestSummary{IngestID: in.id}
	defer in.removeTemps()

	var entries []warehouse.ManifestEntry
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fs, entry, err := in.file(ctx, path, knownSHA, knownSize)
		if err != nil {
			return nil, err
		}
		sum.Files = append(sum.Files, fs)
		if fs.Skipped {
			continue
		}
		knownSHA[fs.SHA256] = true
		knownSize[entry.Size] = true
		entries = append(entries, entry)
		sum.RowsRead += fs.RowsRead
		sum.Accepted += fs.Accepted
		sum.Rejected += fs.Rejected
		sum.Duplicates += fs.Duplicates
		sum.Excluded += fs.Excluded
		sum.Blank += fs.Blank
	}
	in.warnOverlaps(manifest, sum.Files)
	if in.excluded != nil {
		if err := in.excluded.commit(); err != nil {
			return nil, err
		}
		in.excluded = nil
		sum.ExcludedFile = w.ExcludedPath(in.id)
	}
	in.warnExcluded(sum.Files)

	if in.quarantine != nil {
		// Written even when nothing is committed: it says why.
		if err := in.quarantine.commit(); err != nil {
			return nil, err
		}
		in.quarantine = nil
		sum.Quarantine = w.QuarantinePath(in.id)
	}
	bad := sum.Rejected - sum.Duplicates
	sum.BadAllowed = BadRowsAllowed(sum.RowsRead-sum.Blank, opt.MaxBadFraction)
	if bad > sum.BadAllowed {
		byReason := map[string]int64{}
		for _, f := range sum.Files {
			for k, v := range f.ByReason {
				byReason[k] += v
			}
		}
		hint := ""
		if byReason["invalid_encoding"]*2 > bad {
			hint = "; most rows are not UTF-8: pass --encoding windows-1252 (or latin1)"
		}
		return sum, fmt.Errorf("%w: %d of %d rows rejected (%.2f%%; --max-bad-fraction %.2f%% allows %d): %s; nothing committed, rejected rows are in %s%s",
			ErrTooManyBad, bad, sum.RowsRead, 100*float64(bad)/float64(max(sum.RowsRead, 1)), 100*opt.MaxBadFraction, sum.BadAllowed, formatCounts(byReason), sum.Quarantine, hint)
	}
	if len(entries) == 0 {
		return sum, nil
	}
	if err := in.commit(entries); err != nil {
		return nil, err
	}
	sum.Committed = true
	return sum, nil
}

// BadRowsAllowed is how many of n rows may be rejected for data-quality
// reasons at the limit fraction f: f·n, plus three standard deviations of
// the count of bad rows a source with that rate would show, sqrt(f·n·(1−f)).
// On large files that is f·n; on small ones it spares a few junk lines
// (5 of 150 rows at 1 %), and f = 0 still allows none.
func BadRowsAllowed(n int64, f float64) int64 {
	if n <= 0 || f <= 0 {
		return 0
	}
	mean := f * float64(n)
	return int64(math.Floor(mean + 3*math.Sqrt(mean*(1-f))))
}

// ingest is the state of one ingest across its files.
type ingest struct {
	w        *warehouse.Warehouse
	opt      IngestOptions
	log      *slog.Logger
	id       string
	started  time.Time
	existing []uint64           // order keys committed before, sorted
	orders   *orderSet          // order keys written by this ingest
	keys     *warehouse.KeyFile // where orders' keys go, as they are added
	// customers sketches the distinct customers of the accepted rows (a
	// sizing hint for features); workers merge into it under sketchMu.
	customers warehouse.CustomerSketch
	sketchMu  sync.Mutex
	// quarantine streams rejected rows to disk as they come, so memory does
	// not grow with them; it is opened at the first rejection.
	quarantine *quarantineWriter
	// excluded streams the rows that are not purchases the same way.
	excluded *quarantineWriter
	parts    []pendingPart
	nextPart int
}

type pendingPart struct {
	tmp, final string
	part       warehouse.Part
}

func (in *ingest) removeTemps() {
	for _, p := range in.parts {
		os.Remove(p.tmp)
	}
	if in.keys != nil {
		in.keys.Abort()
	}
	if in.quarantine != nil {
		in.quarantine.abort()
	}
	if in.excluded != nil {
		in.excluded.abort()
	}
}

// commit makes the ingest visible: parts renamed into place, then the order
// keys, then the manifest lines that list them — the commit record.
func (in *ingest) commit(entries []warehouse.ManifestEntry) error {
	dirs := map[string]bool{}
	for _, p := range in.parts {
		if err := os.Rename(p.tmp, p.final); err != nil {
			return err
		}
		dirs[filepath.Dir(p.final)] = true
	}
	for d := range dirs {
		if err := warehouse.SyncDir(d); err != nil {
			return err
		}
	}
	err := in.keys.Commit()
	in.keys = nil
	if err != nil {
		return err
	}
	if err := in.w.WriteCustomerSketch(in.id, &in.customers); err != nil {
		return err
	}
	if err := in.w.Commit(entries); err != nil {
		return err
	}
	in.parts = nil
	return nil
}

func (in *ingest) reject(fs *FileSummary, r Rejected) {
	code := Reason(r.Err)
	fs.Rejected++
	if errors.Is(r.Err, ErrDuplicateOrder) {
		fs.Duplicates++
	}
	if fs.ByReason == nil {
		fs.ByReason = map[string]int64{}
	}
	fs.ByReason[code]++
	if in.quarantine == nil {
		in.quarantine = newQuarantineWriter(in.w.QuarantinePath(in.id))
	}
	in.quarantine.write(r)
}

// exclude keeps a row that is not a purchase, with its reason.
func (in *ingest) exclude(fs *FileSummary, r Rejected) {
	fs.Excluded++
	if fs.ExcludedBy == nil {
		fs.ExcludedBy = map[string]int64{}
	}
	fs.ExcludedBy[Reason(r.Err)]++
	if in.excluded == nil {
		in.excluded = newQuarantineWriter(in.w.ExcludedPath(in.id))
	}
	in.excluded.write(r)
}

// file ingests one source file into temporary parts.
func (in *ingest) file(ctx context.Context, path string, knownSHA map[string]bool, knownSize map[int64]bool) (FileSummary, warehouse.ManifestEntry, error) {
	fs := FileSummary{Source: path}
	entry := warehouse.ManifestEntry{IngestID: in.id, Source: path, Started: time.Now().UTC()}
	st, err := os.Stat(path)
	if err != nil {
		return fs, entry, err
	}
	entry.Size = st.Size()
	opt := in.opt.sourceFor(path)
	format, gz, err := DetectFormat(path)
	if opt.Format != "" {
		format, err = Format(strings.ToLower(opt.Format)), nil
		switch format {
		case "txt":
			format = FormatCSV
		case FormatCSV, FormatTSV, FormatJSONL, FormatParquet, FormatXLSX:
		default:
			err = fmt.Errorf("%w: --format %q (want csv, tsv, jsonl, parquet or xlsx)", ErrUnknownFormat, opt.Format)
		}
	}
	if err != nil {
		return fs, entry, err
	}
	entry.Format = string(format)
	if gz {
		entry.Format += ".gz"
	}

	// Hash first when it decides whether to skip, names derived order ids, or
	// the format needs random access; otherwise hash while reading.
	var sum string
	if knownSize[entry.Size] || format == FormatParquet || format == FormatXLSX {
		if sum, err = fileSHA256(path); err != nil {
			return fs, entry, err
		}
		fs.SHA256 = sum
		if knownSHA[sum] && !in.opt.Force {
			fs.Skipped = true
			in.log.Info("skipped: already ingested", "file", path, "sha256", sum[:12])
			return fs, entry, nil
		}
	}
	src := &sourceFile{path: path, format: format, gz: gz, sha: sum, size: entry.Size, opt: opt}
	if err := in.read(ctx, src, &fs, &entry); err != nil {
		return fs, entry, fmt.Errorf("ingest %s: %w", path, err)
	}
	fs.SHA256 = src.sha
	entry.SHA256 = src.sha
	entry.RowsRead, entry.Accepted, entry.Rejected = fs.RowsRead, fs.Accepted, fs.Rejected
	entry.Duplicates, entry.Refunds, entry.ByReason = fs.Duplicates, fs.Refunds, fs.ByReason
	entry.Excluded, entry.ExcludedBy, entry.Blank = fs.Excluded, fs.ExcludedBy, fs.Blank
	entry.MinTime, entry.MaxTime, entry.DerivedIDs = fs.MinTime, fs.MaxTime, fs.DerivedIDs
	entry.Finished = time.Now().UTC()
	in.log.Info("ingested", "file", path, "read", fs.RowsRead, "accepted", fs.Accepted,
		"rejected", fs.Rejected, "duplicates", fs.Duplicates, "refunds", fs.Refunds, "by_reason", formatCounts(fs.ByReason),
		"excluded", fs.Excluded, "excluded_by_reason", formatCounts(fs.ExcludedBy), "blank", fs.Blank, "lines_merged", fs.Lines)
	return fs, entry, nil
}

type sourceFile struct {
	path   string
	format Format
	gz     bool
	sha    string // known before reading, or filled in at the end
	size   int64
	quote  byte // the delimiter whose quotes the chunker tracks, or 0
	opt    *SourceOptions
	// encoding is the text encoding read: the option's, or one detected.
	encoding string
}

// job is a unit of parsing work: a chunk of text, or records already split.
type job struct {
	seq       int
	chunk     []byte
	reuse     bool // chunk's buffer may be reused once the job is consumed
	firstLine int64
	records   []rawRecord
}

// result is what a worker made of a job: the rows it rejected, in line
// order, and the rows it accepted, in batches by month.
type result struct {
	seq     int
	read    int64
	rejects []Rejected
	batches []*rowBatch
	fresh   []uint64 // the order keys the chunk added to the ingest's set
	chunk   []byte
	reuse   bool
	// excluded rows, in line order; blank rows and merged order lines, counted.
	excluded []Rejected
	blank    int64
	lines    int64
	// leadLines are order lines at the start of the chunk, before any row
	// with order fields: lines of the previous chunk's last order, or not.
	leadLines []Rejected
	lastOrder string // the order id of the chunk's last row with order fields
	// minTime, maxTime bound the accepted rows' times.
	minTime, maxTime int64
}

// read runs the source through the parse workers and the part writers.
func (in *ingest) read(ctx context.Context, src *sourceFile, fs *FileSummary, entry *warehouse.ManifestEntry) error {
	f, err := os.Open(src.path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The hash is taken while reading unless it was needed first; a hash
	// taken first (derived order ids) switches the one while reading off.
	var hasher *teeHash
	var r io.Reader = f
	if src.sha == "" {
		hasher = &teeHash{h: sha256.New()}
		r = io.TeeReader(f, hasher)
	}
	// drainHash finishes the hash over the bytes no parser asked for.
	rawReader := r
	drainHash := func() error {
		if hasher == nil || hasher.off {
			return nil
		}
		if _, err := io.Copy(io.Discard, rawReader); err != nil {
			return err
		}
		src.sha = hex.EncodeToString(hasher.h.Sum(nil))
		return nil
	}

	var produce func(emit func(job) error) error
	// recycle takes chunk buffers back once their rows are routed (the
	// rows' strings are copies by then), for later chunks; it stays nil for
	// line items, whose rows wait in the order aggregator with their raw
	// text, a view of the chunk.
	var recycle freeList[[]byte]
	var split splitter
	var header []string
	var body []byte // the first chunk of a text source, header cut off
	var xlsx *xlsxSource
	opt := src.opt
	switch src.format {
	case FormatParquet:
		pr, err := openParquetSource(f, src.size)
		if err != nil {
			return err
		}
		header = pr.header
		produce = pr.produce
	case FormatXLSX:
		if xlsx, err = openXLSXSource(f, src.size, opt); err != nil {
			return err
		}
		defer xlsx.Close()
		header = xlsx.header
		produce = xlsx.produce
	default:
		if r, err = maybeGunzip(r, src.gz); err != nil {
			return err
		}
		src.encoding = opt.Encoding
		if src.encoding == "" {
			br := bufio.NewReaderSize(r, 64<<10)
			head, _ := br.Peek(64 << 10)
			r = br
			if mostLinesBroken(head) {
				// Most rows at the start are not UTF-8: windows-1252 if no
				// byte of the whole file reads as UTF-8 text beyond ASCII,
				// so that a UTF-8 file with broken rows is never misread.
				if ok, err := noUTF8Text(src); err != nil {
					return err
				} else if ok {
					src.encoding = "windows-1252"
					in.log.Warn("the file is not UTF-8: read as windows-1252 (pass --encoding latin1 or windows-1252 to say so)", "file", src.path)
				}
			}
		}
		if r, err = decodeText(r, src.encoding); err != nil {
			return err
		}
		delim := opt.Delimiter
		if delim == "" && src.format == FormatCSV && !opt.NoHeader {
			br := bufio.NewReaderSize(r, 64<<10)
			head, _ := br.Peek(64 << 10)
			delim = sniffDelimiter(head)
			r = br
		}
		layout, err := parseDelimiter(delim, src.format)
		if err != nil {
			return err
		}
		quote := layout.chunkQuote()
		if src.format == FormatJSONL {
			quote = 0
		}
		src.quote = quote
		ch := newChunker(r, quote, chunkBytes)
		first, firstLine, err := ch.next()
		if err == io.EOF {
			first = nil
		} else if err != nil {
			return err
		}
		switch {
		case src.format == FormatJSONL:
			if len(first) > 0 {
				if header, err = jsonPaths(first); err != nil {
					return err
				}
			}
			split = &jsonSplitter{keys: header}
			body = first
		case opt.NoHeader:
			body = first
		default:
			line, rest, n := cutHeader(first, layout)
			header = line
			body = rest
			firstLine += n
		}
		if opt.NoHeader && src.format != FormatJSONL {
			header = opt.Columns
			if len(header) == 0 {
				recs := layout.splitter(0).split(first, 1, nil)
				if len(recs) > 0 {
					header = fieldNames(len(recs[0].fields))
				}
			}
		}
		if split == nil {
			split = layout.splitter(len(header))
		}
		produce = func(emit func(job) error) error {
			seq := 0
			if len(body) > 0 {
				// The first chunk is never reused: the header's strings are views of it.
				if err := emit(job{seq: seq, chunk: body, firstLine: firstLine}); err != nil {
					return err
				}
				seq++
			}
			ch.free = recycle
			for {
				c, line, err := ch.next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := emit(job{seq: seq, chunk: c, reuse: recycle != nil, firstLine: line}); err != nil {
					return err
				}
				seq++
			}
		}
	}
	if len(header) == 0 {
		// An empty file: nothing to read, nothing to map.
		return drainHash()
	}
	cols, err := mapColumns(header, opt)
	if err != nil {
		return err
	}
	if src.format != FormatJSONL {
		cols.minorUnits = false // Stripe's CSV exports write decimals; only its API objects cents
	}
	fs.Platform, fs.Columns = cols.platform, cols.describe(header)
	in.log.Info("columns", "file", src.path, "platform", cmp.Or(cols.platform, "generic"), "mapping", fs.Columns)
	if js, ok := split.(*jsonSplitter); ok {
		js.use(cols)
	}
	if xlsx != nil {
		xlsx.useTimes(cols)
	}
	if !cols.has(roleOrder) && opt.Dedupe != "content" && src.sha == "" {
		// Derived order ids are named after the file's hash, so it is needed now.
		if src.sha, err = fileSHA256(src.path); err != nil {
			return err
		}
		hasher.off = true
	}
	fs.DerivedIDs = !cols.has(roleOrder)
	times, err := NewTimeParser(opt.TimeFormat, opt.Timezone)
	if err != nil {
		return err
	}
	sample := sampleColumns(split, body, cols.idx[roleTime], cols.idx[roleAmount], cols.idx[rolePrice], cols.idx[roleRefund])
	if times.Layout == "" && !times.Mixed {
		times.Family = inferFamily(sample[0])
	}
	if times.Layout == "" && times.Order == OrderUnknown && hasSlashed(sample[0]) {
		order, err := in.dateOrder(src, split, cols.idx[roleTime])
		if err != nil {
			return err
		}
		times.Order = order
	}
	conv := newRowConverter(cols, times, opt, src.sha)
	if !opt.DecimalComma {
		if comma, example := inferDecimalComma(slices.Concat(sample[1], sample[2], sample[3])); comma {
			conv.decComma = true
			in.log.Info("amounts are written with a decimal comma: read so (pass --decimal-comma to say so)", "file", src.path, "example", example)
		}
	}

	lineItems := cols.lineItems()
	if !lineItems {
		recycle = make(freeList[[]byte], 2*in.workers()+4)
	}
	pool := make(batches, 256) // a chunk spread over many months has a batch for each
	pw := newPartWriters(in, pool)
	defer pw.abort()
	agg := newOrderAggregator(lineItems)
	lastOrder := "" // the order of the last row with order fields, for the next chunk's lines
	minTime, maxTime := int64(math.MaxInt64), int64(math.MinInt64)

	// A chunk's records are dead once its rows are in batches: their memory
	// goes back for later chunks, not to the GC.
	splitBufs := make(freeList[*splitBuf], 2*in.workers()+2)
	scratches := make(freeList[*claimScratch], 2*in.workers()+2)
	keyBufs := make(freeList[[]uint64], 2*in.workers()+2)
	err = runOrdered(ctx, in.workers(), produce, func(j job) result {
		res := result{seq: j.seq, chunk: j.chunk, reuse: j.reuse}
		scratch, ok := scratches.get()
		if !ok {
			scratch = &claimScratch{}
		}
		defer scratches.put(scratch)
		bt := batcher{pool: pool, inOrder: lineItems, keys: scratch.keys[:0], at: scratch.at[:0], stage: &scratch.stage}
		sketch := new(warehouse.CustomerSketch)
		var cv converted
		res.minTime, res.maxTime = math.MaxInt64, math.MinInt64
		prev, leading := "", true // the order id of the row above, and whether there is none in this chunk
		reject := func(rec *rawRecord, err error) {
			res.rejects = append(res.rejects, Rejected{Source: src.path, Line: rec.line, Err: err, Raw: rec.raw})
		}
		take := func(recs []rawRecord) {
			res.read += int64(len(recs))
			for i := range recs {
				rec := &recs[i]
				if rec.err != nil {
					if errors.Is(rec.err, ErrFieldCount) && allEmpty(rec.fields) {
						res.blank++
					} else {
						reject(rec, rec.err)
						leading, prev = false, ""
					}
					continue
				}
				outcome, err := conv.convert(rec, &cv)
				switch outcome {
				case rowBlank:
					res.blank++
					continue
				case rowLine:
					switch {
					case err != nil:
						reject(rec, err)
					case lineItems:
						// Summed into its order by the aggregator, in line order.
						bt.add(&cv.t, warehouse.OrderKey(cv.t.OrderID), rec.line, rec.raw)
					case cv.t.OrderID == prev:
						res.lines++
					case leading:
						res.leadLines = append(res.leadLines, Rejected{Source: src.path, Line: rec.line, Raw: rec.raw, Order: cv.t.OrderID})
					default:
						reject(rec, orphanLine(cv.t.OrderID))
					}
					continue
				}
				leading, prev = false, conv.field(rec.fields, roleOrder)
				switch {
				case outcome == rowExcluded:
					res.excluded = append(res.excluded, Rejected{Source: src.path, Line: rec.line, Err: err, Raw: rec.raw, Order: prev})
				case err != nil:
					reject(rec, err)
				default:
					sketch.Add(cv.t.CustomerID)
					bt.add(&cv.t, cv.key, rec.line, rec.raw)
					res.minTime, res.maxTime = min(res.minTime, cv.t.TimeMicros), max(res.maxTime, cv.t.TimeMicros)
					if cv.hasRefund {
						bt.add(&cv.refund, cv.refundKey, rec.line, rec.raw)
					}
				}
			}
		}
		if j.chunk == nil {
			take(j.records)
		} else {
			buf, ok := splitBufs.get()
			if !ok {
				buf = &splitBuf{}
			}
			// The chunk is split and converted a piece at a time, so that a
			// piece's text is still in the core's cache when it is converted.
			line := j.firstLine
			for rest := j.chunk; len(rest) > 0; {
				n := len(rest)
				if n > pieceBytes {
					if cut := recordsEnd(rest[:pieceBytes], src.quote); cut > 0 {
						n = cut
					}
				}
				take(split.split(rest[:n], line, buf))
				line += int64(bytes.Count(rest[:n], newline))
				rest = rest[n:]
			}
			buf.clear()
			splitBufs.put(buf)
		}
		bt.flush() // the claims find rows in their batches
		if !lineItems {
			res.rejects = in.claimOrders(uint32(j.seq), src.path, &bt, res.rejects, scratch)
			res.fresh = scratch.fresh
			scratch.fresh, _ = keyBufs.get()
		}
		scratch.keys, scratch.at = bt.keys, bt.at
		res.batches = bt.take()
		res.lastOrder = prev
		in.sketchMu.Lock()
		in.customers.Merge(sketch)
		in.sketchMu.Unlock()
		return res
	}, func(res result) error {
		fs.RowsRead += res.read
		fs.Blank += res.blank
		fs.Lines += res.lines
		if res.minTime <= res.maxTime {
			minTime, maxTime = min(minTime, res.minTime), max(maxTime, res.maxTime)
		}
		for _, l := range res.leadLines {
			if l.Order == lastOrder {
				fs.Lines++
			} else {
				l.Err = orphanLine(l.Order)
				res.rejects = append(res.rejects, l)
			}
		}
		if len(res.leadLines) > 0 {
			res.rejects = byLine(res.rejects, 0)
		}
		if res.lastOrder != "" {
			lastOrder = res.lastOrder
		}
		if lost := in.orders.takeDemoted(uint32(res.seq)); len(lost) > 0 {
			res.rejects = rejectLost(src.path, lost, res.batches, res.rejects)
		}
		if lineItems {
			in.addLineItems(fs, agg, src.path, res)
		} else {
			for _, r := range res.rejects {
				in.reject(fs, r)
			}
			for _, r := range res.excluded {
				in.exclude(fs, r)
			}
			for _, b := range res.batches {
				if err := pw.write(b, fs); err != nil {
					return err
				}
			}
		}
		in.keys.Write(res.fresh)
		if res.fresh != nil {
			keyBufs.put(res.fresh[:0])
		}
		if res.reuse {
			recycle.put(res.chunk[:0])
		}
		return nil
	})
	if err != nil {
		return err
	}
	var fresh []uint64
	for _, r := range agg.rows {
		if in.orders.add(r.key) {
			fresh = append(fresh, r.key)
		}
	}
	in.keys.Write(fresh)
	in.orders.endFile()
	if err := agg.flush(pw, fs); err != nil {
		return err
	}
	if err := drainHash(); err != nil {
		return err
	}
	parts, err := pw.close()
	if err != nil {
		return err
	}
	entry.Parts = parts
	if minTime <= maxTime {
		fs.MinTime, fs.MaxTime = rfc3339(minTime), rfc3339(maxTime)
	}
	return nil
}

// orphanLine is the reason for a line of an order that has no first line
// (the one with the customer and time) above it.
func orphanLine(order string) error {
	return fmt.Errorf("%w: a line of order %q, but no line above it has the order's customer and time", ErrEmptyCustomer, clip(order))
}

// freeList keeps up to its capacity of buffers for reuse.
type freeList[T any] chan T

// get returns a kept buffer; ok is false when there is none.
func (l freeList[T]) get() (v T, ok bool) {
	select {
	case v = <-l:
		return v, true
	default:
		return v, false
	}
}

// put keeps v, or drops it when the list is full.
func (l freeList[T]) put(v T) {
	select {
	case l <- v:
	default:
	}
}

// claimOrders finds, on a parse worker, the rows of one chunk whose order
// was committed before or came earlier in this ingest, and moves them from
// the chunk's batches to its rejections, which it returns in line order.
// Claims go in row order, so that of two rows of one order in the chunk
// the first is kept.
func (in *ingest) claimOrders(seq uint32, source string, bt *batcher, rejects []Rejected, scratch *claimScratch) []Rejected {
	keys := bt.keys
	var old []bool // committed before: not claimed, so not this ingest's
	if len(in.existing) > 0 {
		old = make([]bool, len(keys))
		keys = nil
		for i, k := range bt.keys {
			if old[i] = warehouse.ContainsSorted(in.existing, k); !old[i] {
				keys = append(keys, k)
			}
		}
	}
	dup := in.orders.claimChunk(seq, keys, scratch)
	if old != nil {
		claimed := dup
		dup = old
		j := 0
		for i := range dup {
			if !old[i] {
				dup[i] = claimed[j]
				j++
			}
		}
	}
	if !slices.Contains(dup, true) {
		return rejects
	}
	// The duplicates of each batch, by their index in it.
	dups := make([][]bool, len(bt.out))
	pos := make([]int, len(bt.out))
	for r, b := range bt.at {
		if dup[r] {
			if dups[b] == nil {
				dups[b] = make([]bool, len(bt.out[b].rows))
			}
			dups[b][pos[b]] = true
		}
		pos[b]++
	}
	n := len(rejects)
	for b, d := range dups {
		if d != nil {
			rejects = moveDuplicates(source, bt.out[b], rejects, func(i int) bool { return d[i] })
		}
	}
	return byLine(rejects, n)
}

// rejectLost moves the rows of a chunk whose order an earlier chunk took
// (orderSet.takeDemoted) to its rejections, kept in line order.
func rejectLost(source string, lost []uint64, batches []*rowBatch, rejects []Rejected) []Rejected {
	set := make(map[uint64]bool, len(lost))
	for _, k := range lost {
		set[k] = true
	}
	n := len(rejects)
	for _, b := range batches {
		rejects = moveDuplicates(source, b, rejects, func(i int) bool { return set[b.keys[i]] })
	}
	return byLine(rejects, n)
}

// moveDuplicates moves the rows of b for which dup is true to rejects, as
// duplicate orders.
func moveDuplicates(source string, b *rowBatch, rejects []Rejected, dup func(i int) bool) []Rejected {
	b.filter(func(i int) bool {
		if !dup(i) {
			return false
		}
		rejects = append(rejects, Rejected{Source: source, Line: b.lines[i], Err: duplicateOf(&b.rows[i]), Raw: b.raws[i]})
		return true
	})
	return rejects
}

// duplicateOf is the reason for a row whose order (or refund) is recorded already.
func duplicateOf(t *warehouse.Transaction) error {
	if t.AmountMicros < 0 {
		return fmt.Errorf("%w: the refund of order %q is recorded already", ErrDuplicateOrder, clip(t.OrderID))
	}
	return fmt.Errorf("%w: %q", ErrDuplicateOrder, clip(t.OrderID))
}

// byLine puts rejects back in line order after rows past the first n were
// appended out of it.
func byLine(rejects []Rejected, n int) []Rejected {
	if len(rejects) > n {
		slices.SortStableFunc(rejects, func(a, b Rejected) int { return cmp.Compare(a.Line, b.Line) })
	}
	return rejects
}

// addLineItems hands the rows of a chunk of a line-item file, in line order,
// to the per-order aggregator, unless their order was committed before or
// is in an earlier file of this ingest. The lines of one order are summed;
// the order's key joins the set at the end of the file. A line without the
// order's customer and time (fields on the first line only) joins the
// order above it, or is excluded with it when the order was.
func (in *ingest) addLineItems(fs *FileSummary, agg *orderAggregator, source string, res result) {
	ri, xi := 0, 0
	// before hands over the rejected and excluded rows above line.
	before := func(line int64) {
		for {
			switch {
			case ri < len(res.rejects) && res.rejects[ri].Line < line && (xi == len(res.excluded) || res.rejects[ri].Line < res.excluded[xi].Line):
				in.reject(fs, res.rejects[ri])
				ri++
			case xi < len(res.excluded) && res.excluded[xi].Line < line:
				x := res.excluded[xi]
				if x.Order != "" {
					agg.excluded[warehouse.OrderKey(x.Order)] = Reason(x.Err)
				}
				in.exclude(fs, x)
				xi++
			default:
				return
			}
		}
	}
	for _, b := range res.batches {
		for i := range b.rows {
			before(b.lines[i])
			key := b.keys[i]
			row := acceptedRow{t: b.rows[i], line: b.lines[i], raw: b.raws[i], key: key}
			if warehouse.ContainsSorted(in.existing, key) || in.orders.has(key) {
				in.reject(fs, Rejected{Source: source, Line: row.line, Err: duplicateOf(&row.t), Raw: row.raw})
				continue
			}
			if row.t.CustomerID == "" {
				if reason, ok := agg.excluded[key]; ok {
					in.exclude(fs, Rejected{Source: source, Line: row.line, Err: fmt.Errorf("%w: a line of excluded order %q (%s)", excludedErr(reason), clip(row.t.OrderID), reason), Raw: row.raw})
					continue
				}
				if _, ok := agg.orders[key]; !ok {
					in.reject(fs, Rejected{Source: source, Line: row.line, Err: orphanLine(row.t.OrderID), Raw: row.raw})
					continue
				}
				fs.Lines++
			}
			if err := agg.add(key, row); err != nil {
				in.reject(fs, Rejected{Source: source, Line: row.line, Err: err, Raw: row.raw})
			}
		}
	}
	before(math.MaxInt64)
}

// excludedErr is the reason error of an exclusion code.
func excludedErr(code string) error {
	for _, r := range reasonCodes {
		if r.code == code {
			return r.err
		}
	}
	return ErrCancelled
}

func (in *ingest) workers() int {
	if in.opt.Workers > 0 {
		return in.opt.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// dateOrder decides, for a file whose dates are written d/m/y or m/d/y,
// which it is by reading every date in it. A file whose dates all read both
// ways, or that has dates of both kinds, is an error asking for --time-format.
func (in *ingest) dateOrder(src *sourceFile, split splitter, timeCol int) (DateOrder, error) {
	f, err := os.Open(src.path)
	if err != nil {
		return OrderUnknown, err
	}
	defer f.Close()
	r, err := maybeGunzip(f, src.gz)
	if err != nil {
		return OrderUnknown, err
	}
	if r, err = decodeText(r, src.encoding); err != nil {
		return OrderUnknown, err
	}
	ch := newChunker(r, src.quote, chunkBytes)
	var dayFirst, monthFirst string
	slashed := false
	for {
		c, line, err := ch.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return OrderUnknown, err
		}
		for _, rec := range split.split(c, line, nil) {
			if rec.err != nil || timeCol >= len(rec.fields) {
				continue
			}
			v := strings.TrimSpace(rec.fields[timeCol])
			if !looksSlashed(v) {
				continue
			}
			slashed = true
			switch slashedOrder(v) {
			case DayFirst:
				if dayFirst == "" {
					dayFirst = fmt.Sprintf("line %d %q", rec.line, clip(v))
				}
			case MonthFirst:
				if monthFirst == "" {
					monthFirst = fmt.Sprintf("line %d %q", rec.line, clip(v))
				}
			}
		}
		if dayFirst != "" && monthFirst != "" {
			return OrderUnknown, fmt.Errorf("%w: %w: dates read day-first (%s) and month-first (%s); pass --time-format", warehouse.ErrOption, ErrBadTime, dayFirst, monthFirst)
		}
	}
	switch {
	case dayFirst != "":
		return DayFirst, nil
	case monthFirst != "":
		return MonthFirst, nil
	case slashed:
		return OrderUnknown, fmt.Errorf("%w: %w: every date reads both day-first and month-first; pass --time-format dayfirst or monthfirst (or a layout like %%d/%%m/%%Y)", warehouse.ErrOption, ErrBadTime)
	}
	return OrderUnknown, nil
}

// sniffDelimiter guesses the delimiter of a delimited file from its header
// line: the most frequent of , ; tab | outside quotes, or "whitespace" when
// the header has none of them but several blank-separated words (CDNOW's
// layout). Empty means the default, ','.
func sniffDelimiter(head []byte) string {
	line, _, _ := cutLine(head)
	counts := map[byte]int{}
	inQ := false
	for _, c := range line {
		switch {
		case c == '"':
			inQ = !inQ
		case !inQ && (c == ',' || c == ';' || c == '\t' || c == '|'):
			counts[c]++
		}
	}
	best, n := byte(0), 0
	for _, c := range []byte{',', ';', '\t', '|'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	switch {
	case n > 0 && best == '\t':
		return "tab"
	case n > 0:
		return string(best)
	case len(strings.Fields(string(line))) > 1:
		return "whitespace"
	}
	return ""
}

// looksSlashed matches dates like 1/2/2024, 01.02.24 or 1-2-2024 (not ISO).
func looksSlashed(v string) bool {
	datePart, _, _ := strings.Cut(v, " ")
	for _, sep := range []string{"/", ".", "-"} {
		parts := strings.Split(datePart, sep)
		if len(parts) != 3 || len(parts[0]) > 2 || len(parts[1]) > 2 || (len(parts[2]) != 2 && len(parts[2]) != 4) {
			continue
		}
		if allDigits(parts[0]) && allDigits(parts[1]) && allDigits(parts[2]) {
			return true
		}
	}
	return false
}

// runOrdered feeds jobs from produce through workers and hands their
// results to consume in job order. The first error wins and stops the rest.
func runOrdered(ctx context.Context, workers int, produce func(func(job) error) error, work func(job) result, consume func(result) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, workers)
	results := make(chan result, workers*2)
	// Tokens bound the jobs between produced and consumed, so a slow job
	// cannot make the reorder buffer grow with the file.
	tokens := make(chan struct{}, 2*workers+2)
	var prodErr error
	go func() {
		defer close(jobs)
		prodErr = produce(func(j job) error {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				select {
				case results <- work(j):
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	pending := map[int]result{}
	next := 0
	var consumeErr error
	for res := range results {
		if consumeErr != nil {
			continue
		}
		pending[res.seq] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-tokens
			if err := consume(r); err != nil {
				consumeErr = err
				cancel()
				break
			}
		}
	}
	if consumeErr != nil {
		return consumeErr
	}
	if prodErr != nil {
		return prodErr
	}
	return ctx.Err()
}

// partWriters keeps one open Parquet part per UTC month of the current
// file. Encoding and compression run on encoder goroutines, one per core,
// each owning the parts given to it in turn, so parsing goes on meanwhile
// and a file that spans several months encodes them side by side.
type partWriters struct {
	in       *ingest
	buffered int                 // rows in open row groups, all parts
	open     map[int]*partWriter // by UTC month: year*12 + month-1
	queues   []chan writeJob
	done     chan error
	pool     batches // where written batches go back
}

type writeJob struct {
	w     *partWriter
	batch *rowBatch // nil: only end the row group, or close the part
	flush bool      // end the row group after the batch
	close bool      // finish the part durably
}

func newPartWriters(in *ingest, pool batches) *partWriters {
	n := in.workers()
	pw := &partWriters{in: in, open: map[int]*partWriter{}, done: make(chan error, n), pool: pool}
	for range n {
		// The goroutine gets the channel itself, not the field: wait() sets
		// the field to nil, and a goroutine scheduled after that would range
		// over a nil channel for ever.
		queue := make(chan writeJob, 8)
		pw.queues = append(pw.queues, queue)
		go func() {
			var err error
			for j := range queue {
				if err == nil && j.batch != nil {
					_, err = j.w.w.Write(j.batch.rows)
				}
				if err == nil && j.flush {
					err = j.w.w.Flush()
				}
				if err == nil && j.close {
					err = j.w.close()
				}
				// Write copied the rows: the batch goes back for reuse.
				if j.batch != nil {
					pw.pool.put(j.batch)
				}
			}
			pw.done <- err
		}()
	}
	return pw
}

// wait stops the encoding goroutines and returns their first error.
func (pw *partWriters) wait() error {
	if pw.queues == nil {
		return nil
	}
	for _, q := range pw.queues {
		close(q)
	}
	var first error
	for range pw.queues {
		if err := <-pw.done; err != nil && first == nil {
			first = err
		}
	}
	pw.queues = nil
	return first
}

type partWriter struct {
	inGroup int // rows in the open row group
	encoder int // index of the encoder goroutine that owns the part
	file    *os.File
	w       *parquet.GenericWriter[warehouse.Transaction]
	p       pendingPart
}

// write hands a batch of rows of one month to the encoder of the month's part.
func (pw *partWriters) write(b *rowBatch, fs *FileSummary) error {
	if len(b.rows) == 0 {
		pw.pool.put(b)
		return nil
	}
	w, err := pw.part(b.month)
	if err != nil {
		return err
	}
	n := len(b.rows)
	w.p.part.Rows += int64(n)
	w.inGroup += n
	pw.buffered += n
	fs.Accepted += int64(n)
	fs.Refunds += b.refunds
	pw.queues[w.encoder] <- writeJob{w: w, batch: b}
	if pw.buffered > bufferedRowsBudget {
		pw.flushLargest()
	}
	return nil
}

// part returns the open part of a month, opening it if need be.
func (pw *partWriters) part(month int) (*partWriter, error) {
	if w := pw.open[month]; w != nil {
		return w, nil
	}
	name := fmt.Sprintf("%04d-%02d", month/12, month%12+1)
	dir := pw.in.w.PartitionDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	file := fmt.Sprintf("part-%s-%04d.parquet", pw.in.id, pw.in.nextPart)
	pw.in.nextPart++
	tmp := filepath.Join(dir, "_"+file+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	rel, _ := filepath.Rel(pw.in.w.Dir, filepath.Join(dir, file))
	w := &partWriter{
		encoder: pw.in.nextPart % len(pw.queues),
		file:    f,
		w:       parquet.NewGenericWriter[warehouse.Transaction](f, partOptions...),
		p:       pendingPart{tmp: tmp, final: filepath.Join(dir, file), part: warehouse.Part{Path: filepath.ToSlash(rel), Month: name}},
	}
	pw.in.parts = append(pw.in.parts, w.p)
	pw.open[month] = w
	return w, nil
}

// flushLargest ends the row group of the part that buffers the most rows.
func (pw *partWriters) flushLargest() {
	var big *partWriter
	for _, w := range pw.open {
		if big == nil || w.inGroup > big.inGroup {
			big = w
		}
	}
	pw.queues[big.encoder] <- writeJob{w: big, flush: true}
	pw.buffered -= big.inGroup
	big.inGroup = 0
}

// close finishes every part of the file durably and returns them by month.
func (pw *partWriters) close() ([]warehouse.Part, error) {
	// Each encoder finishes its own parts, side by side.
	for _, w := range pw.open {
		pw.queues[w.encoder] <- writeJob{w: w, close: true}
	}
	if err := pw.wait(); err != nil {
		return nil, err
	}
	months := make([]int, 0, len(pw.open))
	for m := range pw.open {
		months = append(months, m)
	}
	sort.Ints(months)
	var parts []warehouse.Part
	for _, m := range months {
		parts = append(parts, pw.open[m].p.part)
		delete(pw.open, m)
	}
	return parts, nil
}

// close writes the part's last row group and footer, and syncs it.
func (w *partWriter) close() error {
	err := w.w.Close()
	if err == nil {
		err = w.file.Sync()
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort closes what close did not; the temporary files are removed by the ingest.
func (pw *partWriters) abort() {
	pw.wait()
	for _, w := range pw.open {
		w.file.Close()
	}
}

// orderAggregator sums the product lines of one order (line-item exports).
type orderAggregator struct {
	lineItems bool
	orders    map[uint64]int // key → index in rows
	rows      []acceptedRow
	excluded  map[uint64]string // orders excluded by their first line → reason code
}

// acceptedRow is an order of a line-item file: the sum of its lines so far,
// with the first line's number and text.
type acceptedRow struct {
	t    warehouse.Transaction
	line int64
	raw  string
	key  uint64 // orderKey(t.OrderID)
}

func newOrderAggregator(lineItems bool) *orderAggregator {
	a := &orderAggregator{lineItems: lineItems}
	if lineItems {
		a.orders = map[uint64]int{}
		a.excluded = map[uint64]string{}
	}
	return a
}

func (a *orderAggregator) add(key uint64, row acceptedRow) error {
	i, ok := a.orders[key]
	if !ok {
		a.orders[key] = len(a.rows)
		a.rows = append(a.rows, row)
		return nil
	}
	o := &a.rows[i].t
	if row.t.CustomerID == "" && row.t.Currency == "" {
		row.t.Currency = o.Currency // a further line takes its order's currency
	}
	if o.Currency != row.t.Currency {
		return fmt.Errorf("%w: order %q has %s and %s", ErrCurrencyMismatch, o.OrderID, o.Currency, row.t.Currency)
	}
	o.AmountMicros += row.t.AmountMicros
	o.QuantityMicros += row.t.QuantityMicros
	if row.t.CustomerID != "" && row.t.TimeMicros < o.TimeMicros {
		o.TimeMicros = row.t.TimeMicros
	}
	return nil
}

// flush writes the summed orders, in order of their first line.
func (a *orderAggregator) flush(pw *partWriters, fs *FileSummary) error {
	bt := batcher{pool: pw.pool}
	for i := range a.rows {
		r := &a.rows[i]
		bt.add(&r.t, r.key, r.line, r.raw)
	}
	a.rows = nil
	for _, b := range bt.take() {
		if err := pw.write(b, fs); err != nil {
			return err
		}
	}
	return nil
}

// teeHash hashes what the parser reads, until it is switched off.
type teeHash struct {
	h   hash.Hash
	off bool
}

func (t *teeHash) Write(p []byte) (int, error) {
	if t.off {
		return len(p), nil
	}
	return t.h.Write(p)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// expandInputs turns FILE|DIR|GLOB arguments into a sorted list of files.
// Directories contribute the files directly in them, except hidden or
// temporary ones; a pattern or directory that matches nothing is an error.
func expandInputs(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		if st, err := os.Stat(a); err == nil {
			if !st.IsDir() {
				add(a)
				continue
			}
			ents, err := os.ReadDir(a)
			if err != nil {
				return nil, err
			}
			n := 0
			for _, e := range ents {
				if e.IsDir() || warehouse.IsTempName(e.Name()) {
					continue
				}
				if _, _, err := DetectFormat(e.Name()); err != nil {
					continue
				}
				add(filepath.Join(a, e.Name()))
				n++
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: no input files in directory", a)
			}
			continue
		}
		matches, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: %w", a, os.ErrNotExist)
		}
		sort.Strings(matches)
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && !st.IsDir() {
				add(m)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no input files")
	}
	return out, nil
}

// expectedRows guesses how many rows the files hold, to size the order set
// once instead of growing it: 64 bytes a row of text, four times that for
// gzip. A low guess only costs a few rehashes of the shards that fill up.
func expectedRows(files []string) int {
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		size := st.Size()
		if strings.HasSuffix(strings.ToLower(f), ".gz") {
			size *= 4
		}
		n += size / 64
	}
	return int(min(n, 1<<26))
}

func newIngestID() string {
	now := time.Now().UTC()
	return fmt.Sprintf("%s-%05d", now.Format("20060102T150405.000000Z"), os.Getpid()%100000)
}

func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, code := range append(ReasonCodes(), "other") {
		if n := m[code]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", code, n))
		}
	}
	return strings.Join(parts, " ")
}

// cutLine splits the first line off b.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		if c == '\n' {
			return []byte(trimLineEnd(string(b[:i]))), b[i+1:], true
		}
	}
	return []byte(trimLineEnd(string(b))), nil, false
}

// cutHeader reads the header record at the start of the first chunk and
// returns it, the rest of the chunk and how many lines the header took.
func cutHeader(first []byte, layout textLayout) ([]string, []byte, int64) {
	// Skip blank lines before the header.
	var skipped int64
	for len(first) > 0 {
		line, rest, ok := cutLine(first)
		if strings.TrimSpace(string(line)) != "" || !ok {
			break
		}
		first = rest
		skipped++
	}
	recs := layout.splitter(0).split(first, 1, nil)
	if len(recs) == 0 {
		return nil, nil, 0
	}
	h := recs[0]
	// The header's bytes: as many lines as the record spans.
	lines := int64(strings.Count(h.raw, "\n")) + 1
	rest := first
	for i := int64(0); i < lines; i++ {
		_, rest, _ = cutLine(rest)
	}
	fields := h.fields
	if len(fields) > 0 {
		fields[0] = strings.TrimPrefix(fields[0], "\ufeff")
	}
	return fields, rest, skipped + lines
}
