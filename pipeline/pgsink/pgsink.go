// Package pgsink writes a run's CRM feed into a PostgreSQL table that
// reverse-ETL tools (Hightouch, Census, Braze Cloud Data Ingestion,
// Salesforce upserts on an external id) sync from: one row per customer
// keyed by the exact customer_id, an updated_at that moves only when the
// row's values change, and tombstones (deleted_at) for customers who left
// the feed. README, "Feeding the CRM".
//
// An export is one transaction. The feed (exports/crm_scores.parquet, in
// customer_id order) is merged with the table's (customer_id, row_hash)
// read in the same order, so only new, changed and returning rows are
// copied (COPY into a temporary staging table, then one INSERT … ON
// CONFLICT DO UPDATE); customers the table has and the feed has not get
// deleted_at; churn_runs gets a row keyed by the feed's sha256. A failure
// or a kill anywhere before COMMIT leaves the tables as they were, and the
// same feed exported twice changes nothing.
package pgsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// SchemaVersion is the version of the table's layout, kept in the table's
// comment. A churn that writes another layout refuses the table and names
// the migration (README, "Feeding the CRM": migrations).
const SchemaVersion = 1

// URLEnv is the environment variable the URL may come from, so that a
// password is not written into a config file or a shell history.
const URLEnv = "CHURN_PG_URL"

// Options name the table an export writes.
type Options struct {
	URL    string // postgres://user:password@host:port/db?…; empty: $CHURN_PG_URL
	Schema string // default public; it must exist
	Table  string // default churn_scores
	// Attempts to connect, with backoff doubling from Backoff (default 4
	// attempts from 500 ms); a refused password is not retried.
	Attempts int
	Backoff  time.Duration
	Log      *slog.Logger

	// beforeCommit, in tests, runs inside the transaction just before
	// COMMIT (the kill test stops the process there).
	beforeCommit func()
}

// Result is what an export did.
type Result struct {
	Table     string `json:"table"`
	FeedSHA   string `json:"feed_sha256"`
	Rows      int    `json:"rows"`      // customers in the feed
	Inserted  int    `json:"inserted"`  // new to the table
	Updated   int    `json:"updated"`   // whose values changed, or who came back after a tombstone
	Unchanged int    `json:"unchanged"` // left as they were, updated_at included
	Deleted   int    `json:"deleted"`   // tombstoned: in the table, not in the feed
	// Repeated is true when this feed had been exported before: nothing changed.
	Repeated bool    `json:"repeated"`
	Seconds  float64 `json:"seconds"`
}

// ErrPostgres marks every failure of an export: the CLI's exit 1.
var ErrPostgres = errors.New("postgres export failed")

// columns of the table, in order, after customer_id; the tracked ones
// decide whether a row changed (trackedColumns).
var columns = []struct{ name, typ string }{
	{"rfm_segment", "text NOT NULL"},
	{"r_score", "smallint NOT NULL"},
	{"f_score", "smallint NOT NULL"},
	{"m_score", "smallint NOT NULL"},
	{"first_purchase", "date NOT NULL"},
	{"last_purchase", "date NOT NULL"},
	{"orders", "bigint NOT NULL"},
	{"frequency", "bigint NOT NULL"},
	{"recency", "double precision NOT NULL"},
	{"tenure", "bigint NOT NULL"},
	{"monetary_avg", "numeric NOT NULL"},
	{"total_spend", "numeric NOT NULL"},
	{"p_alive", "double precision NOT NULL"},
	{"churn_risk", "double precision NOT NULL"},
	{"churn_risk_pct", "smallint NOT NULL"},
	{"risk_tier", "text NOT NULL"},
	{"expected_purchases", "double precision NOT NULL"},
	{"expected_spend", "numeric NOT NULL"},
	{"expected_next_purchase", "date"},
	{"clv", "numeric NOT NULL"},
	{"clv_pct", "smallint NOT NULL"},
	{"recommended_perk", "text"},
	{"p_alive_p10", "double precision NOT NULL"},
	{"p_alive_p90", "double precision NOT NULL"},
	{"churn_risk_p10", "double precision NOT NULL"},
	{"churn_risk_p90", "double precision NOT NULL"},
	{"clv_p10", "numeric NOT NULL"},
	{"clv_p90", "numeric NOT NULL"},
	{"purchases_p10", "integer NOT NULL"},
	{"purchases_p90", "integer NOT NULL"},
	{"model", "text NOT NULL"},
	{"model_version", "text NOT NULL"},
	{"horizon_days", "integer NOT NULL"},
	{"as_of", "date NOT NULL"},
	{"arm", "text"},
	{"no_perk_reason", "text"},
	{"p_alive_note", "text"},
	{"row_hash", "bigint NOT NULL"},
}

// trackedColumns are the values whose change makes a row changed (its
// updated_at moves and a sync tool sends it): what a customer did and
// what the retention team acts on. The scores that move every night by
// the calendar alone (tenure, p_alive, churn_risk, CLV and their
// intervals and percentiles) are written with a changed row but do not
// make one, so a CRM billed per data point written is not sent every
// customer every night. as_of says which night a row's values are from.
var trackedColumns = []string{"rfm_segment", "r_score", "f_score", "m_score", "first_purchase", "last_purchase",
	"orders", "frequency", "total_spend", "risk_tier", "recommended_perk", "model"}

// Export writes the CRM feed of runDir (a run directory with
// exports/crm_scores.parquet and scores.json) into the table.
func Export(ctx context.Context, runDir string, opt Options) (*Result, error) {
	start := time.Now()
	if opt.URL == "" {
		opt.URL = os.Getenv(URLEnv)
	}
	if opt.URL == "" {
		return nil, fmt.Errorf("%w: no database URL: give --to postgres://… , exports.postgres.url in the config, or $%s", warehouse.ErrOption, URLEnv)
	}
	opt.Schema = cmpOr(opt.Schema, "public")
	opt.Table = cmpOr(opt.Table, "churn_scores")
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	feedPath := filepath.Join(runDir, "exports", "crm_scores.parquet")
	feed, err := openFeed(feedPath)
	if err != nil {
		return nil, err
	}
	defer feed.Close()
	meta, err := night.ReadScoresMeta(runDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", sheet.ErrRunFile, filepath.Join(runDir, "scores.json"), err)
	}
	if _, ok := feed.pf.Schema().Lookup("updated_at"); !ok {
		return nil, fmt.Errorf("%w: %s was written by a churn before the feed had updated_at and model_version: run churn score (or churn run) for %s again, then export", sheet.ErrRunFile, feedPath, meta.AsOf)
	}
	res := &Result{Table: opt.Schema + "." + opt.Table, FeedSHA: feed.sha, Rows: int(feed.rows)}
	secret := password(opt.URL)
	conn, err := connect(ctx, opt)
	if err != nil {
		return nil, scrub(err, secret)
	}
	defer conn.Close(context.Background())
	x := &exporter{conn: conn, opt: opt, feed: feed, res: res, dec: warehouse.CurrencyDecimals(meta.Currency)}
	if x.asOf, err = time.Parse(time.DateOnly, meta.AsOf); err != nil {
		return nil, fmt.Errorf("%w: scores.json: as_of %q: %v", sheet.ErrRunFile, meta.AsOf, err)
	}
	if err := x.run(ctx); err != nil {
		return nil, scrub(fmt.Errorf("%w: %s on %s: %w", ErrPostgres, res.Table, redact(opt.URL), err), secret)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func cmpOr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

type exporter struct {
	conn *pgx.Conn
	opt  Options
	feed *feedFile
	dec  int       // decimals of the currency's money
	asOf time.Time // the run's
	// Per feed row, from the diff's pass: the tracked values' hash.
	hashes []int64
	res    *Result
}

// qualified is schema.name, quoted.
func (x *exporter) qualified(name string) string {
	return pgx.Identifier{x.opt.Schema, name}.Sanitize()
}

func (x *exporter) run(ctx context.Context) error {
	var exists bool
	if err := x.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, x.opt.Schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("schema %q does not exist: create it (CREATE SCHEMA %s) or name another in exports.postgres.schema / --schema",
			x.opt.Schema, pgx.Identifier{x.opt.Schema}.Sanitize())
	}
	tx, err := x.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) // a no-op after Commit
	if err := x.prepare(ctx, tx); err != nil {
		return err
	}
	var seen bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+x.qualified("churn_runs")+` WHERE feed_sha256 = $1 AND target = $2)`,
		x.feed.sha, x.opt.Table).Scan(&seen); err != nil {
		return err
	}
	t0 := time.Now()
	changed, gone, err := x.diff(ctx, tx)
	if err != nil {
		return err
	}
	t1 := time.Now()
	if err := x.stage(ctx, tx, changed); err != nil {
		return err
	}
	t2 := time.Now()
	if err := x.apply(ctx, tx, gone); err != nil {
		return err
	}
	x.opt.Log.Debug("postgres export", "diff", t1.Sub(t0), "copy", t2.Sub(t1), "upsert", time.Since(t2))
	x.res.Repeated = seen
	if _, err := tx.Exec(ctx, `INSERT INTO `+x.qualified("churn_runs")+` (feed_sha256, target, as_of, model, model_version, horizon_days, rows, inserted, updated, deleted, exported_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) ON CONFLICT (feed_sha256, target) DO NOTHING`,
		x.feed.sha, x.opt.Table, x.asOf, x.feed.model, x.feed.modelVersion, x.feed.horizon,
		x.res.Rows, x.res.Inserted, x.res.Updated, x.res.Deleted); err != nil {
		return err
	}
	if x.opt.beforeCommit != nil {
		x.opt.beforeCommit()
	}
	return tx.Commit(ctx)
}

// tableComment marks the layout of the table churn made.
func tableComment() string { return fmt.Sprintf("churn CRM feed, schema %d", SchemaVersion) }

// prepare creates the tables when missing, refuses one of another layout,
// and locks the feed table against a second exporter (readers go on).
func (x *exporter) prepare(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return err
	}
	var comment *string
	var found bool
	err := tx.QueryRow(ctx, `SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, x.opt.Schema, x.opt.Table).Scan(&comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		found = true
	}
	if found && (comment == nil || *comment != tableComment()) {
		have := "no churn schema comment"
		if comment != nil {
			have = fmt.Sprintf("the comment %q", *comment)
		}
		return fmt.Errorf("the table exists with %s, this churn writes %q: it is not churn's table, or one of another version (README, \"Feeding the CRM\": migrations); churn does not alter it", have, tableComment())
	}
	if !found {
		var b strings.Builder
		fmt.Fprintf(&b, "CREATE TABLE %s (\n  customer_id text COLLATE \"C\" PRIMARY KEY", x.qualified(x.opt.Table))
		for _, c := range columns {
			fmt.Fprintf(&b, ",\n  %s %s", c.name, c.typ)
		}
		b.WriteString(",\n  updated_at timestamptz NOT NULL,\n  deleted_at timestamptz\n)")
		if _, err := tx.Exec(ctx, b.String()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `COMMENT ON TABLE `+x.qualified(x.opt.Table)+` IS '`+tableComment()+`'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE INDEX ON `+x.qualified(x.opt.Table)+` (updated_at)`); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+x.qualified("churn_runs")+` (
  feed_sha256 text NOT NULL,
  target text NOT NULL,
  as_of date NOT NULL,
  model text NOT NULL,
  model_version text NOT NULL,
  horizon_days integer NOT NULL,
  rows bigint NOT NULL,
  inserted bigint NOT NULL,
  updated bigint NOT NULL,
  deleted bigint NOT NULL,
  exported_at timestamptz NOT NULL,
  PRIMARY KEY (feed_sha256, target)
)`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+x.qualified(x.opt.Table)+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			return fmt.Errorf("another export holds the lock on %s (LOCK TABLE … SHARE ROW EXCLUSIVE); try again when it is done", x.res.Table)
		}
		return err
	}
	return nil
}

// diff merges the feed with the table in customer_id order: the feed's
// rows that are new, changed or tombstoned (a bitset over the feed's row
// numbers), and the table's live customers that the feed no longer has.
// The same pass hashes every row and ranks its churn risk and CLV. The
// table's keys are read in their own goroutine, beside the feed.
func (x *exporter) diff(ctx context.Context, tx pgx.Tx) (changed []uint64, gone []string, err error) {
	rows, err := tx.Query(ctx, `SELECT customer_id, row_hash, deleted_at IS NOT NULL FROM `+x.qualified(x.opt.Table)+` ORDER BY customer_id`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	type key struct {
		id      string
		hash    int64
		deleted bool
	}
	batches := make(chan []key, 4)
	var dbErr error
	go func() {
		defer close(batches)
		batch := make([]key, 0, 4096)
		for rows.Next() {
			var k key
			if dbErr = rows.Scan(&k.id, &k.hash, &k.deleted); dbErr != nil {
				return
			}
			if batch = append(batch, k); len(batch) == cap(batch) {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
				batch = make([]key, 0, 4096)
			}
		}
		if dbErr = rows.Err(); dbErr == nil && len(batch) > 0 {
			batches <- batch
		}
	}()
	defer func() {
		for range batches { // let the reader finish on an early return
		}
	}()
	var cur []key
	peek := func() (*key, bool) {
		for len(cur) == 0 {
			b, ok := <-batches
			if !ok {
				return nil, false
			}
			cur = b
		}
		return &cur[0], true
	}
	n := int(x.feed.rows)
	changed = make([]uint64, (n+63)/64)
	x.hashes = make([]int64, 0, n)
	prev, i := "", 0
	err = export.EachFeedKeys(x.feed.pf, x.feed.path, func(g *export.FeedKeys) error {
		for j, h := range g.Tracked {
			id := g.ID(j)
			if i > 0 && id <= prev {
				return fmt.Errorf("%w: %s is not in customer_id order at row %d (%q after %q)", sheet.ErrRunFile, x.feed.path, i+1, id, prev)
			}
			prev = id
			x.hashes = append(x.hashes, int64(h))
			k, ok := peek()
			for ok && k.id < id {
				if !k.deleted {
					gone = append(gone, k.id)
				}
				cur = cur[1:]
				k, ok = peek()
			}
			switch {
			case ok && k.id == id:
				if k.deleted || k.hash != int64(h) {
					changed[i/64] |= 1 << (i % 64)
					x.res.Updated++
				} else {
					x.res.Unchanged++
				}
				cur = cur[1:]
			default:
				changed[i/64] |= 1 << (i % 64)
				x.res.Inserted++
			}
			i++
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for k, ok := peek(); ok; k, ok = peek() {
		if !k.deleted {
			gone = append(gone, k.id)
		}
		cur = cur[1:]
	}
	if dbErr != nil {
		return nil, nil, dbErr
	}
	if len(x.hashes) != n {
		return nil, nil, fmt.Errorf("%w: %s: read %d rows of %d", sheet.ErrRunFile, x.feed.path, len(x.hashes), n)
	}
	x.res.Deleted = len(gone)
	return changed, gone, nil
}

// stage copies the changed rows into a temporary table of the feed
// table's layout, dropped at the end of the transaction.
func (x *exporter) stage(ctx context.Context, tx pgx.Tx, changed []uint64) error {
	names := []string{"customer_id"}
	for _, c := range columns {
		names = append(names, c.name)
	}
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE churn_stage ON COMMIT DROP AS SELECT `+strings.Join(names, ", ")+` FROM `+x.qualified(x.opt.Table)+` WITH NO DATA`); err != nil {
		return err
	}
	if x.res.Inserted+x.res.Updated == 0 {
		return nil
	}
	r, err := x.feed.reader()
	if err != nil {
		return err
	}
	defer r.Close()
	src := &stageSource{x: x, r: r, changed: changed, values: make([]any, len(names))}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"churn_stage"}, names, src)
	if err != nil {
		return err
	}
	if want := int64(x.res.Inserted + x.res.Updated); n != want {
		return fmt.Errorf("staged %d rows, the merge found %d", n, want)
	}
	return nil
}

// apply upserts the staged rows and tombstones the customers gone.
func (x *exporter) apply(ctx context.Context, tx pgx.Tx, gone []string) error {
	t := x.qualified(x.opt.Table)
	names := []string{"customer_id"}
	var set []string
	for _, c := range columns {
		names = append(names, c.name)
		set = append(set, c.name+" = EXCLUDED."+c.name)
	}
	list := strings.Join(names, ", ")
	if x.res.Inserted+x.res.Updated > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO `+t+` (`+list+`, updated_at, deleted_at)
			SELECT `+list+`, now(), NULL FROM churn_stage
			ON CONFLICT (customer_id) DO UPDATE SET `+strings.Join(set, ", ")+`, updated_at = EXCLUDED.updated_at, deleted_at = NULL`); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE `+t+` SET deleted_at = now(), updated_at = now() WHERE customer_id = ANY($1) AND deleted_at IS NULL`, gone); err != nil {
			return err
		}
	}
	return nil
}

// stageSource feeds COPY the changed rows of the feed.
type stageSource struct {
	x       *exporter
	r       *feedReader
	changed []uint64
	i       int
	values  []any
	err     error
}

func (s *stageSource) Next() bool {
	for {
		row, ok, err := s.r.next()
		if err != nil {
			s.err = err
			return false
		}
		if !ok {
			return false
		}
		i := s.i
		s.i++
		if s.changed[i/64]&(1<<(i%64)) == 0 {
			continue
		}
		s.values = s.x.values(s.values[:0], row, i)
		return true
	}
}

func (s *stageSource) Values() ([]any, error) { return s.values, nil }
func (s *stageSource) Err() error             { return s.err }

// values are row i's table values in column order.
func (x *exporter) values(v []any, row *export.CRMRow, i int) []any {
	money := func(f float64) pgtype.Numeric { return decimal(f, x.dec) }
	v = append(v, row.CustomerID, row.Segment, int16(row.RScore), int16(row.FScore), int16(row.MScore),
		dateOf(row.FirstPurchase), dateOf(row.LastPurchase), row.Orders, row.Frequency, row.Recency, row.Tenure,
		money(row.MonetaryAvg), pgtype.Numeric{Int: big.NewInt(row.TotalSpend), Exp: -6, Valid: true},
		row.PAlive, row.ChurnRisk, int16(row.ChurnRiskPct), row.RiskTier, row.ExpectedPurchases, money(row.ExpectedSpend))
	if row.ExpectedNextPurchase != nil {
		v = append(v, dateOf(*row.ExpectedNextPurchase))
	} else {
		v = append(v, nil)
	}
	v = append(v, money(row.CLV), int16(row.CLVPct))
	if row.RecommendedPerk != nil {
		v = append(v, *row.RecommendedPerk)
	} else {
		v = append(v, nil)
	}
	return append(v, row.PAliveP10, row.PAliveP90, row.ChurnRiskP10, row.ChurnRiskP90, money(row.CLVP10), money(row.CLVP90),
		row.PurchasesP10, row.PurchasesP90, row.Model, row.ModelVersion, row.HorizonDays, dateOf(row.AsOf), optional(row.Arm), optional(row.NoPerkReason), optional(row.PAliveNote), x.hashes[i])
}

// optional is a nullable text value.
func optional(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// decimal is f rounded to dec decimals, exactly as a NUMERIC.
func decimal(f float64, dec int) pgtype.Numeric {
	scaled := math.Round(f * math.Pow10(dec))
	i, _ := new(big.Float).SetFloat64(scaled).Int(nil)
	return pgtype.Numeric{Int: i, Exp: int32(-dec), Valid: true}
}

// dateOf is a feed date (days since 1970-01-01) as a DATE.
func dateOf(days int32) pgtype.Date {
	return pgtype.Date{Time: time.Unix(int64(days)*86400, 0).UTC(), Valid: true}
}

// connect opens the connection, retrying a server that cannot be reached
// with doubling backoff; refused credentials or a missing database are
// not retried.
func connect(ctx context.Context, opt Options) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: the database URL %s does not parse: %v", warehouse.ErrOption, redact(opt.URL), err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	attempts := opt.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	wait := opt.Backoff
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	for try := 1; ; try++ {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		var pe *pgconn.PgError
		permanent := errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000")
		if permanent || try >= attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: cannot connect to %s after %d attempt(s): %v", ErrPostgres, redact(opt.URL), try, err)
		}
		opt.Log.Warn("postgres: cannot connect; retrying", "url", redact(opt.URL), "attempt", try, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrPostgres, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// redact is the URL with its password replaced, for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(the database URL)" // a keyword/value string may hold a password anywhere
	}
	return u.Redacted()
}

// password is the URL's password, or "".
func password(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	return ""
}

// scrub removes the password from an error's text, wherever a driver may
// have put it.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), secret, "xxxxx"), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }
