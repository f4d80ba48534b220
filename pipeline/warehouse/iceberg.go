package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hadoop"
	"github.com/apache/iceberg-go/table"
)

// The warehouse is also an Apache Iceberg table (README, "The warehouse
// as an Iceberg table"): a filesystem ("hadoop") catalog under
// DATA/iceberg, table churn.transactions, partitioned by month(ts), whose
// data files are the warehouse's own part files, registered where they
// lie, one snapshot per ingest with the ingest id in its summary. The
// manifest stays churn's log and is written first; SyncIceberg then
// registers every committed ingest the table lacks. It runs after every
// commit and in every writer's recovery, so a crash between the two, an
// Iceberg commit that failed, or a warehouse from before the table is
// made whole by the next writer.

// IcebergDir is the catalog's warehouse directory, under the data directory.
const IcebergDir = "iceberg"

// IcebergTable is the table's identifier in the catalog.
var IcebergTable = table.Identifier{"churn", "transactions"}

// icebergIngestKey is the snapshot-summary property with the ingest id.
const icebergIngestKey = "churn.ingest-id"

// icebergSchema is TransactionSchema as Iceberg types, with field ids
// mapped to the part files' column names (they carry no ids).
func icebergSchema() (*iceberg.Schema, iceberg.Properties) {
	sc := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "customer_id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "order_id", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 3, Name: "ts", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		iceberg.NestedField{ID: 4, Name: "amount", Type: iceberg.DecimalTypeOf(18, 6), Required: true},
		iceberg.NestedField{ID: 5, Name: "currency", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 6, Name: "category", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 7, Name: "channel", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 8, Name: "store", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 9, Name: "quantity", Type: iceberg.DecimalTypeOf(18, 6)},
	)
	mapping := "["
	for i, f := range sc.Fields() {
		if i > 0 {
			mapping += ","
		}
		mapping += `{"field-id":` + strconv.Itoa(f.ID) + `,"names":["` + f.Name + `"]}`
	}
	return sc, iceberg.Properties{"schema.name-mapping.default": mapping + "]", "format-version": "2"}
}

// icebergCatalog opens the filesystem catalog of the warehouse.
func (w *Warehouse) icebergCatalog() (*hadoop.Catalog, error) {
	dir, err := filepath.Abs(w.Path(IcebergDir))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return hadoop.NewCatalog("churn", dir, iceberg.Properties{})
}

// icebergTableOf loads the table, creating it when missing.
func (w *Warehouse) icebergTableOf(ctx context.Context, cat *hadoop.Catalog) (*table.Table, error) {
	tbl, err := cat.LoadTable(ctx, IcebergTable)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		// Unreadable (a writer killed while it wrote the metadata): the
		// manifest can rebuild it.
		slog.Warn("the Iceberg table cannot be read; rebuilding it from the manifest", "err", err)
		if err := os.RemoveAll(w.Path(IcebergDir)); err != nil {
			return nil, err
		}
		if cat, err = w.icebergCatalog(); err != nil {
			return nil, err
		}
	}
	if err := cat.CreateNamespace(ctx, table.Identifier{IcebergTable[0]}, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, err
	}
	sc, props := icebergSchema()
	spec := iceberg.NewPartitionSpec(iceberg.PartitionField{SourceIDs: []int{3}, FieldID: 1000, Name: "ts_month", Transform: iceberg.MonthTransform{}})
	return cat.CreateTable(ctx, IcebergTable, sc, catalog.WithPartitionSpec(&spec), catalog.WithProperties(props))
}

// icebergIngests is the ingest ids the table has snapshots of.
func icebergIngests(tbl *table.Table) map[string]bool {
	have := map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil {
			if id, ok := s.Summary.Properties[icebergIngestKey]; ok {
				have[id] = true
			}
		}
	}
	return have
}

// SyncIceberg registers in the Iceberg table every committed ingest with
// part files that it lacks, one snapshot each, in manifest order. Only a
// lock holder may call it.
func (w *Warehouse) SyncIceberg(ctx context.Context) error {
	entries, err := w.Manifest()
	if err != nil {
		return err
	}
	cat, err := w.icebergCatalog()
	if err != nil {
		return fmt.Errorf("iceberg catalog: %w", err)
	}
	tbl, err := w.icebergTableOf(ctx, cat)
	if err != nil {
		return fmt.Errorf("iceberg table: %w", err)
	}
	// Iceberg keeps absolute paths: a warehouse copied or moved has a
	// table that points at the old place. It is rebuilt from the manifest
	// (the snapshots' history starts again).
	root, err := filepath.Abs(w.Path(IcebergDir))
	if err != nil {
		return err
	}
	if loc := strings.TrimPrefix(tbl.Location(), "file://"); filepath.Clean(loc) != filepath.Join(root, IcebergTable[0], IcebergTable[1]) {
		slog.Warn("the Iceberg table was made for another place of the warehouse; rebuilding it", "table_location", tbl.Location(), "warehouse", w.Dir)
		if err := os.RemoveAll(root); err != nil {
			return err
		}
		if cat, err = w.icebergCatalog(); err != nil {
			return err
		}
		if tbl, err = w.icebergTableOf(ctx, cat); err != nil {
			return fmt.Errorf("iceberg table: %w", err)
		}
	}
	have := icebergIngests(tbl)
	for _, e := range entries {
		if have[e.IngestID] || len(e.Parts) == 0 {
			continue
		}
		files := make([]string, len(e.Parts))
		for i, p := range e.Parts {
			abs, err := filepath.Abs(w.Path(filepath.FromSlash(p.Path)))
			if err != nil {
				return err
			}
			files[i] = abs
		}
		tx := tbl.NewTransaction()
		if err := tx.AddFiles(ctx, files, iceberg.Properties{icebergIngestKey: e.IngestID, "churn.source": e.Source}, true); err != nil {
			return fmt.Errorf("iceberg: register ingest %s: %w", e.IngestID, err)
		}
		if tbl, err = tx.Commit(ctx); err != nil {
			return fmt.Errorf("iceberg: commit ingest %s: %w", e.IngestID, err)
		}
		have[e.IngestID] = true
	}
	return nil
}
