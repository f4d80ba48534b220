package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/pgsink"
	"github.com/churnhq/churn/pipeline/warehouse"
)

const exportExamples = `  churn export --data ./churn-data --to postgres://churn@db.internal:5432/crm
  CHURN_PG_URL=postgres://churn:secret@localhost/crm churn export --as-of 2025-06-30 --schema crm
  churn export --config churn.yaml          # exports.postgres: {url, schema, table}
`

// runExport writes a run's CRM feed into a PostgreSQL table (pgsink). It
// reads the warehouse only, so it takes no warehouse lock; the table is
// locked for the export's transaction.
func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "export", "[--data DIR] [--config FILE] [--as-of D] --to postgres://…", exportExamples)
	data, config := dataFlags(fs)
	asOf := fs.String("as-of", "", "as-of date of the run to export (default: the latest run)")
	to := fs.String("to", "", "database URL, postgres://user@host:port/db (default: exports.postgres.url, then $"+pgsink.URLEnv+"); put the password in $"+pgsink.URLEnv+" or ~/.pgpass, not on the command line")
	schema := fs.String("schema", "", "schema of the table (default: exports.postgres.schema, else public); it must exist")
	table := fs.String("table", "", "table name (default: exports.postgres.table, else churn_scores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	w, err := openReader(*data)
	if err != nil {
		return err
	}
	if *asOf == "" {
		if *asOf, err = latestRun(w); err != nil {
			return err
		}
	} else if _, err := time.Parse(time.DateOnly, *asOf); err != nil {
		return usagef("--as-of %q: want YYYY-MM-DD", *asOf)
	}
	pc := cmp.Or(cfg.Exports.Postgres, &pipeline.PostgresConfig{})
	opt := pgsink.Options{URL: cmp.Or(*to, pc.URL), Schema: cmp.Or(*schema, pc.Schema), Table: cmp.Or(*table, pc.Table), Log: e.log}
	res, err := pgsink.Export(ctx, w.RunDir(*asOf), opt)
	if err != nil {
		return err
	}
	printExport(e, res)
	return nil
}

// exportRun is churn run's last step when the config has exports.postgres.
func exportRun(ctx context.Context, e *env, pc *pipeline.PostgresConfig, dir string) error {
	res, err := pgsink.Export(ctx, dir, pgsink.Options{URL: pc.URL, Schema: pc.Schema, Table: pc.Table, Log: e.log})
	if err != nil {
		return fmt.Errorf("the run's files are complete in %s; the export to PostgreSQL failed (churn export --as-of %s retries it): %w", dir, filepath.Base(dir), err)
	}
	printExport(e, res)
	return nil
}

func printExport(e *env, res *pgsink.Result) {
	e.log.Info("postgres export done", "table", res.Table, "rows", res.Rows, "inserted", res.Inserted, "updated", res.Updated,
		"unchanged", res.Unchanged, "deleted", res.Deleted, "repeated", res.Repeated, "took", fmt.Sprintf("%.2fs", res.Seconds))
	fmt.Fprintf(e.stdout, "PostgreSQL %s: %d customers; %d new, %d changed, %d unchanged, %d tombstoned\n",
		res.Table, res.Rows, res.Inserted, res.Updated, res.Unchanged, res.Deleted)
}

// latestRun is the as-of date of the newest complete run directory.
func latestRun(w *warehouse.Warehouse) (string, error) {
	entries, err := os.ReadDir(w.Path("runs"))
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	var runs []string
	for _, de := range entries {
		if _, err := time.Parse(time.DateOnly, de.Name()); err == nil && de.IsDir() {
			runs = append(runs, de.Name())
		}
	}
	if len(runs) == 0 {
		return "", fmt.Errorf("%w: %s has no runs to export; churn run or churn score first", warehouse.ErrOption, w.Dir)
	}
	sort.Strings(runs)
	return runs[len(runs)-1], nil
}
