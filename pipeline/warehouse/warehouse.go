// Package warehouse is the one place that knows the warehouse on disk: the
// transactions as Parquet parts by month, the ingest manifest, the order-key
// files and customer sketches, the writer's lock, the run directories, the
// durable atomic writes every file goes through (outputs hashed as they are
// written), and the scan that streams committed transactions as Arrow
// batches, month by month. Amounts are exact millionths of the currency unit.
package warehouse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Warehouse is the one place that knows the layout of a data directory:
//
//	DATA/transactions/month=YYYY-MM/part-<ingest-id>-<n>.parquet
//	DATA/_ingest/manifest.jsonl      the commit log: one line per ingested source file
//	DATA/_ingest/keys/<ingest-id>.bin sorted order-key hashes, for deduplication
//	DATA/quarantine/<ingest-id>.csv
//	DATA/runs/<as-of>/
//	DATA/LOCK
//
// A part file is committed when a manifest line lists it; readers trust
// nothing else, and the next writer removes what a crashed one left behind.
type Warehouse struct {
	Dir   string
	scans atomic.Int64 // full scans started (Scan), for tests and run.json
}

// Scans returns how many times this Warehouse value has been scanned.
func (w *Warehouse) Scans() int64 { return w.scans.Load() }

// Transaction is the canonical warehouse row.
type Transaction struct {
	CustomerID string `parquet:"customer_id"`
	OrderID    string `parquet:"order_id,delta"`
	// TimeMicros is the UTC instant of the order, microseconds since the Unix epoch.
	TimeMicros int64 `parquet:"ts,timestamp(microsecond),delta"`
	// AmountMicros is the order total in millionths of the currency unit;
	// negative for refunds.
	AmountMicros int64  `parquet:"amount,decimal(6:18),delta"`
	Currency     string `parquet:"currency,delta"`
	Category     string `parquet:"category,optional,dict"`
	Channel      string `parquet:"channel,optional,dict"`
	Store        string `parquet:"store,optional,dict"`
	// QuantityMicros is the number of items in millionths (0 when unknown).
	QuantityMicros int64 `parquet:"quantity,optional,decimal(6:18)"`
}

// Part is one committed Parquet file of the warehouse.
type Part struct {
	Path  string `json:"path"` // relative to the data directory
	Month string `json:"month"`
	Rows  int64  `json:"rows"`
}

// ManifestEntry is one line of DATA/_ingest/manifest.jsonl: one source file
// of one ingest, and the parts it committed.
type ManifestEntry struct {
	IngestID   string           `json:"ingest_id"`
	Source     string           `json:"source"`
	Size       int64            `json:"size"`
	SHA256     string           `json:"sha256"`
	Format     string           `json:"format"`
	RowsRead   int64            `json:"rows_read"`
	Accepted   int64            `json:"rows_accepted"`
	Rejected   int64            `json:"rows_rejected"`
	Duplicates int64            `json:"rows_duplicate"`
	Refunds    int64            `json:"refunds"`
	ByReason   map[string]int64 `json:"rejected_by_reason,omitempty"`
	Excluded   int64            `json:"rows_excluded,omitempty"`
	ExcludedBy map[string]int64 `json:"excluded_by_reason,omitempty"`
	Blank      int64            `json:"rows_blank,omitempty"`
	// MinTime, MaxTime bound the file's accepted times (RFC 3339);
	// DerivedIDs: it had no order ids (the overlap warning compares them).
	MinTime    string    `json:"min_time,omitempty"`
	MaxTime    string    `json:"max_time,omitempty"`
	DerivedIDs bool      `json:"derived_order_ids,omitempty"`
	Parts      []Part    `json:"parts"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
}

func (w *Warehouse) Path(elem ...string) string {
	return filepath.Join(append([]string{w.Dir}, elem...)...)
}

func (w *Warehouse) manifestPath() string { return w.Path("_ingest", "manifest.jsonl") }

// State names the warehouse's committed content: the sha256 of its
// manifest, which every ingest commit rewrites ("empty" before the first).
// Results computed from the warehouse record it, so a later command knows
// whether they still hold.
func (w *Warehouse) State() (string, error) {
	b, err := os.ReadFile(w.manifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return "empty", nil
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
func (w *Warehouse) KeysPath(id string) string { return w.Path("_ingest", "keys", id+".bin") }
func (w *Warehouse) PartitionDir(month string) string {
	return w.Path("transactions", "month="+month)
}

// QuarantinePath is where an ingest's rejected rows are written.
func (w *Warehouse) QuarantinePath(ingestID string) string {
	return w.Path("quarantine", ingestID+".csv")
}

// ExcludedPath is where an ingest's excluded rows (cancelled orders,
// guests, totals lines) are written.
func (w *Warehouse) ExcludedPath(ingestID string) string {
	return w.Path("excluded", ingestID+".csv")
}

// RunDir is the directory of the outputs for one as-of date (YYYY-MM-DD).
func (w *Warehouse) RunDir(asOf string) string { return w.Path("runs", asOf) }

// Manifest reads the commit log. A missing log is an empty warehouse.
func (w *Warehouse) Manifest() ([]ManifestEntry, error) {
	b, err := os.ReadFile(w.manifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ManifestEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e ManifestEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", w.manifestPath(), n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Parts lists the committed part files in a stable order (month, then name).
func (w *Warehouse) Parts() ([]Part, error) {
	entries, err := w.Manifest()
	if err != nil {
		return nil, err
	}
	var parts []Part
	for _, e := range entries {
		parts = append(parts, e.Parts...)
	}
	slices.SortFunc(parts, func(a, b Part) int {
		if c := strings.Compare(a.Month, b.Month); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return parts, nil
}

// Commit appends entries to the manifest by rewriting it atomically, so a
// crash leaves the old log or the new one, never a torn line.
func (w *Warehouse) Commit(entries []ManifestEntry) error {
	old, err := os.ReadFile(w.manifestPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	err = WriteFileAtomic(w.manifestPath(), func(f io.Writer) error {
		if _, err := f.Write(old); err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.syncIcebergOrWarn()
	return nil
}

// syncIcebergOrWarn brings the Iceberg table up to the manifest. The
// manifest is the commit: an Iceberg table that could not follow is a
// warning, and the next writer's recovery tries again.
func (w *Warehouse) syncIcebergOrWarn() {
	if err := w.SyncIceberg(context.Background()); err != nil {
		slog.Warn("the Iceberg table lags the manifest; the next writer retries", "err", err)
	}
}

// Recover removes what a crashed writer left: temporary files anywhere in
// the warehouse and part, key or sketch files that no manifest line lists. Only a
// lock holder may call it.
func (w *Warehouse) Recover() error {
	entries, err := w.Manifest()
	if err != nil {
		return err
	}
	committed := map[string]bool{}
	ingests := map[string]bool{}
	for _, e := range entries {
		ingests[e.IngestID] = true
		for _, p := range e.Parts {
			committed[filepath.ToSlash(p.Path)] = true
		}
	}
	for _, sub := range []string{"transactions", "_ingest", "quarantine"} {
		root := w.Path(sub)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			name := d.Name()
			rel, _ := filepath.Rel(w.Dir, path)
			rel = filepath.ToSlash(rel)
			switch {
			case IsTempName(name):
				return os.Remove(path)
			case sub == "transactions" && strings.HasSuffix(name, ".parquet") && !committed[rel]:
				return os.Remove(path)
			case sub == "_ingest" && strings.HasSuffix(name, ".bin") && !ingests[strings.TrimSuffix(name, ".bin")]:
				return os.Remove(path)
			case sub == "_ingest" && strings.HasSuffix(name, ".hll") && !ingests[strings.TrimSuffix(name, ".hll")]:
				return os.Remove(path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("recover %s: %w", root, err)
		}
	}
	// A crash between the manifest and the Iceberg commit, or a warehouse
	// from before the table: register what the table lacks.
	w.syncIcebergOrWarn()
	return nil
}

// LoadOrderKeys reads the sorted order-key hashes of every committed ingest.
func (w *Warehouse) LoadOrderKeys() ([]uint64, error) {
	entries, err := w.Manifest()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []uint64
	for _, e := range entries {
		if seen[e.IngestID] {
			continue
		}
		seen[e.IngestID] = true
		b, err := os.ReadFile(w.KeysPath(e.IngestID))
		if err != nil {
			return nil, fmt.Errorf("order keys of ingest %s: %w", e.IngestID, err)
		}
		for i := 0; i+8 <= len(b); i += 8 {
			keys = append(keys, binary.LittleEndian.Uint64(b[i:]))
		}
	}
	SortKeys(keys)
	return keys, nil
}

// KeyFile streams the order keys new to an ingest into its key file as the
// chunks are consumed, so that writing them does not wait for the end.
type KeyFile struct {
	f   *AtomicFile
	w   *bufio.Writer
	buf []byte
	err error // the first error, returned by commit
}

func CreateKeyFile(path string) (*KeyFile, error) {
	f, err := CreateAtomic(path)
	if err != nil {
		return nil, err
	}
	return &KeyFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (k *KeyFile) Write(keys []uint64) {
	if k.err != nil {
		return
	}
	k.buf = k.buf[:0]
	for _, key := range keys {
		k.buf = binary.LittleEndian.AppendUint64(k.buf, key)
	}
	_, k.err = k.w.Write(k.buf)
}

// commit makes the file visible, unless a write failed.
// Abort discards the key file.
func (k *KeyFile) Abort() { k.f.Abort() }

// Commit makes the key file durable.
func (k *KeyFile) Commit() error {
	return k.f.CommitAfter(func() error { return k.err }, k.w.Flush)
}

// PreviousRun returns the directory of the latest run before asOf that has a
// CRM feed, or "".
func (w *Warehouse) PreviousRun(asOf string) string {
	entries, err := os.ReadDir(w.Path("runs"))
	if err != nil {
		return ""
	}
	best := ""
	for _, e := range entries {
		n := e.Name()
		if _, err := time.Parse(time.DateOnly, n); err != nil || n >= asOf {
			continue
		}
		if _, err := os.Stat(filepath.Join(w.Path("runs", n), "exports", "crm_scores.csv")); err == nil && n > best {
			best = n
		}
	}
	if best == "" {
		return ""
	}
	return w.Path("runs", best)
}

// ErrOption is returned for an option value that cannot be used (an unknown
// time zone, encoding or delimiter); the CLI reports it as a usage error.
var ErrOption = errors.New("bad option")
