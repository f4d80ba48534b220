package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// WriteFileAtomic writes path through write so that a reader sees either the
// old file or the complete new one (see AtomicFile).
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	f, err := CreateAtomic(path)
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
	path, tmp string
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
	return &AtomicFile{File: f, path: path, tmp: tmp}, nil
}

// Commit makes the written file visible under its name, durably.
func (f *AtomicFile) Commit() error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp, f.path)
	}
	if err != nil {
		os.Remove(f.tmp)
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	return syncDir(filepath.Dir(f.path))
}

// CommitAfter runs the steps that finish the file's content (writes,
// flushes), in order, and commits it; the first step that fails aborts the
// file, and its error is returned.
func (f *AtomicFile) CommitAfter(finish ...func() error) error {
	for _, step := range finish {
		if err := step(); err != nil {
			f.Abort()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return f.Commit()
}

// Abort discards the written file.
func (f *AtomicFile) Abort() {
	f.Close()
	os.Remove(f.tmp)
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
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

// fastSnappy is parquet-go's SNAPPY codec with the fast block encoder:
// parquet-go's calls the "better" one, which took three times as long on
// features.parquet for a few per cent of size. The output is standard
// snappy, so every reader reads it; decoding is parquet-go's.
type fastSnappy struct{ snappy.Codec }

func (fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

// zstdCodec compresses the Parquet files we write (features.parquet, read
// once by the next step, is snappy: zstd was most of its writing time).
// Shared, so its pool of encoders (each with a multi-megabyte history) is
// shared too: one codec per file would hold one encoder per open part.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// isTempName reports whether a file name is one of our temporary names.
func isTempName(name string) bool {
	return len(name) > 0 && (name[0] == '_' || name[0] == '.')
}
