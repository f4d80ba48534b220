package warehouse

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// WriteFileAtomic writes path through write so that a reader sees either the
// old file or the complete new one (see AtomicFile).
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	f, err := CreateOutput(path)
	if err != nil {
		return err
	}
	return f.CommitAfter(func() error { return write(f) })
}

// AtomicFile is the one durable-write mechanism: it writes "_<name>.tmp"
// beside the target (names starting with "_" are ignored by Spark, Hive and
// DuckDB); Commit syncs, closes, renames and syncs the directory; Abort
// removes the temporary file. Leftovers of a crash are removed by the next
// writer (Warehouse.recover).
type AtomicFile struct {
	*os.File
	Path, tmp string
	sum       hash.Hash // sha256 of what was written; nil when not asked
	n         int64     // bytes written
}

// CreateOutput starts writing path like CreateAtomic, hashing what is
// written: on Commit the file's size and sha256 are kept for run.json
// (OutputDigest), so an output is never read back to be hashed.
func CreateOutput(path string) (*AtomicFile, error) {
	f, err := CreateAtomic(path)
	if err == nil {
		f.sum = sha256.New()
	}
	return f, err
}

// Write writes to the temporary file, hashing when asked.
func (f *AtomicFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if f.sum != nil {
		f.sum.Write(p[:n])
	}
	f.n += int64(n)
	return n, err
}

// WriteString is Write (os.File's would bypass the hash).
func (f *AtomicFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// ReadFrom copies r through Write (os.File's would bypass the hash).
func (f *AtomicFile) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{f}, r)
}

// Digest is a written file's size and sha256 (hex).
type Digest struct {
	Bytes  int64
	SHA256 string
}

// committed holds the digest of every output this process committed
// (CreateOutput), by path at commit time.
var committed sync.Map // string → Digest

// OutputDigest returns the digest of a file this process wrote with
// CreateOutput, if it is still as written (same size).
func OutputDigest(path string) (Digest, bool) {
	v, ok := committed.Load(path)
	if !ok {
		return Digest{}, false
	}
	d := v.(Digest)
	st, err := os.Stat(path)
	if err != nil || st.Size() != d.Bytes {
		return Digest{}, false
	}
	return d, true
}

// CreateAtomic starts writing path.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "_"+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: f, Path: path, tmp: tmp}, nil
}

// Commit makes the written file visible under its name, durably.
func (f *AtomicFile) Commit() error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp, f.Path)
	}
	if err != nil {
		os.Remove(f.tmp)
		return fmt.Errorf("commit %s: %w", f.Path, err)
	}
	if f.sum != nil {
		committed.Store(f.Path, Digest{Bytes: f.n, SHA256: hex.EncodeToString(f.sum.Sum(nil))})
	}
	return SyncDir(filepath.Dir(f.Path))
}

// CommitAfter runs the steps that finish the file's content (writes,
// flushes), in order, and commits it; the first step that fails aborts the
// file, and its error is returned.
func (f *AtomicFile) CommitAfter(finish ...func() error) error {
	for _, step := range finish {
		if err := step(); err != nil {
			f.Abort()
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return f.Commit()
}

// Abort discards the written file.
func (f *AtomicFile) Abort() {
	f.Close()
	os.Remove(f.tmp)
}

// SyncDir makes a rename or create in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// FastSnappy is parquet-go's SNAPPY codec with the fast block encoder:
// parquet-go's calls the "better" one, which took three times as long on
// features.parquet for a few per cent of size. The output is standard
// snappy, so every reader reads it; decoding is parquet-go's.
type FastSnappy struct{ snappy.Codec }

func (FastSnappy) Encode(dst, src []byte) ([]byte, error) {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

// ZstdCodec compresses the Parquet files we write (features.parquet, read
// once by the next step, is snappy: zstd was most of its writing time).
// Shared, so its pool of encoders (each with a multi-megabyte history) is
// shared too: one codec per file would hold one encoder per open part.
var ZstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// IsTempName reports whether a file name is one of our temporary names.
func IsTempName(name string) bool {
	return len(name) > 0 && (name[0] == '_' || name[0] == '.')
}

// ReadJSONFile reads a JSON file of a run; a missing file is (nil, nil).
func ReadJSONFile[T any](path string) (*T, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// WriteJSON writes v as indented JSON, atomically.
func WriteJSON(path string, v any) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
