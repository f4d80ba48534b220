package pipeline

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	Parts      []Part           `json:"parts"`
	Started    time.Time        `json:"started"`
	Finished   time.Time        `json:"finished"`
}

func (w *Warehouse) path(elem ...string) string {
	return filepath.Join(append([]string{w.Dir}, elem...)...)
}

func (w *Warehouse) manifestPath() string      { return w.path("_ingest", "manifest.jsonl") }
func (w *Warehouse) keysPath(id string) string { return w.path("_ingest", "keys", id+".bin") }
func (w *Warehouse) partitionDir(month string) string {
	return w.path("transactions", "month="+month)
}

// QuarantinePath is where an ingest's rejected rows are written.
func (w *Warehouse) QuarantinePath(ingestID string) string {
	return w.path("quarantine", ingestID+".csv")
}

// RunDir is the directory of the outputs for one as-of date (YYYY-MM-DD).
func (w *Warehouse) RunDir(asOf string) string { return w.path("runs", asOf) }

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

// commit appends entries to the manifest by rewriting it atomically, so a
// crash leaves the old log or the new one, never a torn line.
func (w *Warehouse) commit(entries []ManifestEntry) error {
	old, err := os.ReadFile(w.manifestPath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return WriteFileAtomic(w.manifestPath(), func(f io.Writer) error {
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
}

// recover removes what a crashed writer left: temporary files anywhere in
// the warehouse and part, key or sketch files that no manifest line lists. Only a
// lock holder may call it.
func (w *Warehouse) recover() error {
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
		root := w.path(sub)
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
			case isTempName(name):
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
	return nil
}

// loadOrderKeys reads the sorted order-key hashes of every committed ingest.
func (w *Warehouse) loadOrderKeys() ([]uint64, error) {
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
		b, err := os.ReadFile(w.keysPath(e.IngestID))
		if err != nil {
			return nil, fmt.Errorf("order keys of ingest %s: %w", e.IngestID, err)
		}
		for i := 0; i+8 <= len(b); i += 8 {
			keys = append(keys, binary.LittleEndian.Uint64(b[i:]))
		}
	}
	sortKeys(keys)
	return keys, nil
}

// keyFile streams the order keys new to an ingest into its key file as the
// chunks are consumed, so that writing them does not wait for the end.
type keyFile struct {
	f   *AtomicFile
	w   *bufio.Writer
	buf []byte
	err error // the first error, returned by commit
}

func createKeyFile(path string) (*keyFile, error) {
	f, err := CreateAtomic(path)
	if err != nil {
		return nil, err
	}
	return &keyFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (k *keyFile) write(keys []uint64) {
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
func (k *keyFile) commit() error {
	return k.f.CommitAfter(func() error { return k.err }, k.w.Flush)
}
