package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go/compress/zstd"
)

// WriteFileAtomic writes path through write so that a reader sees either the
// old file or the complete new one: it writes "_<name>.tmp" beside it, syncs,
// closes, renames and syncs the directory; the temporary file is removed on
// any error. Names starting with "_" are ignored by Spark, Hive and DuckDB.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "_"+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
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

// zstdCodec is the one compression codec of every Parquet file we write.
// Shared, so its pool of encoders (each with a multi-megabyte history) is
// shared too: one codec per file would hold one encoder per open part.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// isTempName reports whether a file name is one of our temporary names.
func isTempName(name string) bool {
	return len(name) > 0 && (name[0] == '_' || name[0] == '.')
}
