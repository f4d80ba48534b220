// Package night holds the steps of a night over the customers of one as-of
// date: the feature snapshots of one warehouse scan (features.parquet), the
// purchase and spend fits (model.json), the scores (scores.parquet), the
// supervised risk model and the backtest.
package night

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/churnhq/churn/features"
	"github.com/parquet-go/parquet-go"
)

// FeatureRow is one row of features.parquet. Column names are a contract
// (README, "Features"); money columns are DECIMAL(18,6) millionths.
type FeatureRow struct {
	CustomerID    string  `parquet:"customer_id,delta"`
	FirstPurchase int64   `parquet:"first_purchase,timestamp(microsecond),delta"`
	LastPurchase  int64   `parquet:"last_purchase,timestamp(microsecond),delta"`
	Orders        int64   `parquet:"orders,delta"`
	Frequency     int64   `parquet:"frequency,delta"`
	Recency       float64 `parquet:"recency"`
	T             float64 `parquet:"T"`
	MonetaryValue float64 `parquet:"monetary_value"`
	MonetaryAvg   float64 `parquet:"monetary_avg"`
	TotalSpend    int64   `parquet:"total_spend,decimal(6:18),delta"`
	NetSpend      int64   `parquet:"net_spend,decimal(6:18),delta"`
	Refunds       int64   `parquet:"refunds,delta"`
	RefundAmount  int64   `parquet:"refund_amount,decimal(6:18),delta"`
	RScore        int32   `parquet:"r_score,delta"`
	FScore        int32   `parquet:"f_score,delta"`
	MScore        int32   `parquet:"m_score,delta"`
	Segment       string  `parquet:"rfm_segment,dict"`
	Orders30      int64   `parquet:"orders_30d,delta"`
	Orders90      int64   `parquet:"orders_90d,delta"`
	Orders365     int64   `parquet:"orders_365d,delta"`
	Spend30       int64   `parquet:"spend_30d,decimal(6:18),delta"`
	Spend90       int64   `parquet:"spend_90d,decimal(6:18),delta"`
	Spend365      int64   `parquet:"spend_365d,decimal(6:18),delta"`
	SpendTrend    int64   `parquet:"spend_trend_90d,decimal(6:18),delta"`
	DaysSinceLast int64   `parquet:"days_since_last,delta"`
	GapMeanDays   float64 `parquet:"gap_mean_days"`
	GapStdDays    float64 `parquet:"gap_std_days"`
	TenureDays    int64   `parquet:"tenure_days,delta"`
	Stores        int64   `parquet:"stores,delta"`
	Categories    int64   `parquet:"categories,delta"`
	HoldoutOrders int64   `parquet:"holdout_orders,delta"`
	HoldoutDays   int64   `parquet:"holdout_days,delta"`
	HoldoutSpend  int64   `parquet:"holdout_spend,decimal(6:18),delta"`
}

func featureRow(c *features.Customer) FeatureRow {
	return FeatureRow{
		CustomerID: c.CustomerID, FirstPurchase: c.FirstPurchaseMicros, LastPurchase: c.LastPurchaseMicros,
		Orders: int64(c.Orders), Frequency: int64(c.Frequency), Recency: c.Recency, T: c.T,
		MonetaryValue: c.MonetaryValue, MonetaryAvg: c.MonetaryAvg,
		TotalSpend: c.TotalSpendMicros, NetSpend: c.NetSpendMicros, Refunds: int64(c.Refunds), RefundAmount: c.RefundAmountMicros,
		RScore: int32(c.RScore), FScore: int32(c.FScore), MScore: int32(c.MScore), Segment: c.Segment,
		Orders30: int64(c.Orders30), Orders90: int64(c.Orders90), Orders365: int64(c.Orders365),
		Spend30: c.Spend30Micros, Spend90: c.Spend90Micros, Spend365: c.Spend365Micros, SpendTrend: c.SpendTrendMicros,
		DaysSinceLast: int64(c.DaysSinceLast), GapMeanDays: c.GapMeanDays, GapStdDays: c.GapStdDays, TenureDays: int64(c.TenureDays),
		Stores: int64(c.Stores), Categories: int64(c.Categories), HoldoutOrders: int64(c.HoldoutOrders), HoldoutDays: int64(c.HoldoutDays),
		HoldoutSpend: c.HoldoutSpendMicros,
	}
}

// FeaturesMeta is features.json, written next to features.parquet.
type FeaturesMeta struct {
	AsOf             string           `json:"as_of"`
	HoldoutEnd       string           `json:"holdout_end,omitempty"`
	Timezone         string           `json:"timezone"`
	Unit             string           `json:"unit"`
	Currency         string           `json:"currency"`
	Customers        int              `json:"customers"`
	ExcludedNoOrders int64            `json:"customers_without_purchases"`
	RowsAfterWindow  int64            `json:"transactions_after_window"`
	RFMCuts          features.RFMCuts `json:"rfm_cuts"`
	Segments         map[string]int   `json:"segments"`
	// Provenance: the warehouse state (Warehouse.State) and the settings
	// (FeaturesOptions.Settings) the features were computed from; a later
	// command reuses features.parquet only when both are unchanged.
	WarehouseState string `json:"warehouse_state,omitempty"`
	Settings       string `json:"settings,omitempty"`
}

// FeaturesOptions are the inputs of `churn features`.
type FeaturesOptions struct {
	AsOf       time.Time
	HoldoutEnd time.Time
	Timezone   string
	Unit       features.Unit
	// FXFile is a CSV of currency,rate (to the reporting currency); empty = none.
	FXFile   string
	Segments *features.SegmentTable
	Workers  int // scan workers; 0 = GOMAXPROCS
	// Snapshots, when not nil, holds features computed earlier in the same
	// scan (ScanSnapshots); a request it holds is answered without a scan.
	Snapshots *Snapshots
}

// Snapshot names the features of one as-of date that a night needs: the
// as-of date, the end of a holdout after it (zero for none), and whether
// the backtest's daily tracking counts are wanted.
type Snapshot struct {
	AsOf, HoldoutEnd time.Time
	Tracking         bool
}

// Snapshots are the features of several snapshots, accumulated in one
// warehouse scan: every feature is a GROUP BY customer, so one pass over the
// transactions feeds an accumulator per snapshot. Each is finished into
// rows when first asked for, so the rows of one snapshot and the aggregates
// of another are not all in memory at once; a caller done with them lets
// the whole set go.
type Snapshots struct {
	specs   []Snapshot
	accs    []*features.Accumulator // nil once finished
	results []*features.Result
}

// find returns the result for a request — same dates, and tracking counts
// if it wants them — finishing its accumulator the first time.
func (s *Snapshots) find(want Snapshot) (*features.Result, error) {
	if s == nil {
		return nil, nil
	}
	for i, sp := range s.specs {
		if sp.AsOf.Equal(want.AsOf) && sp.HoldoutEnd.Equal(want.HoldoutEnd) && (sp.Tracking || !want.Tracking) {
			if s.accs[i] != nil {
				res, err := s.accs[i].Finish()
				if err != nil {
					return nil, err
				}
				s.accs[i], s.results[i] = nil, res // the aggregates go as soon as the rows are built
			}
			return s.results[i], nil
		}
	}
	return nil, nil
}

// ScanSnapshots accumulates the features of every snapshot in one scan of
// the warehouse (the options' AsOf and HoldoutEnd are those of each
// snapshot; the rest is shared). Repeated snapshots are accumulated once.
func ScanSnapshots(ctx context.Context, w *warehouse.Warehouse, opt FeaturesOptions, wants []Snapshot) (*Snapshots, error) {
	s := &Snapshots{}
	for _, want := range wants {
		dup := false
		for i, sp := range s.specs {
			if sp.AsOf.Equal(want.AsOf) && sp.HoldoutEnd.Equal(want.HoldoutEnd) {
				s.specs[i].Tracking = sp.Tracking || want.Tracking
				dup = true
			}
		}
		if !dup {
			s.specs = append(s.specs, want)
		}
	}
	accs, err := accumulateFeatures(ctx, w, opt, s.specs)
	if err != nil {
		return nil, err
	}
	s.accs, s.results = accs, make([]*features.Result, len(accs))
	return s, nil
}

// ComputeFeatures scans the warehouse and aggregates the features of one as-of date.
func ComputeFeatures(ctx context.Context, w *warehouse.Warehouse, opt FeaturesOptions) (*features.Result, error) {
	return computeFeatures(ctx, w, opt, false)
}

// ReportingZone resolves --timezone: UTC when it is empty.
func ReportingZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: --timezone %q: %v", warehouse.ErrOption, name, err)
	}
	return loc, nil
}

func computeFeatures(ctx context.Context, w *warehouse.Warehouse, opt FeaturesOptions, tracking bool) (*features.Result, error) {
	want := Snapshot{AsOf: opt.AsOf, HoldoutEnd: opt.HoldoutEnd, Tracking: tracking}
	if res, err := opt.Snapshots.find(want); res != nil || err != nil {
		return res, err
	}
	accs, err := accumulateFeatures(ctx, w, opt, []Snapshot{want})
	if err != nil {
		return nil, err
	}
	return accs[0].Finish()
}

// StreamFeatures scans the warehouse and finishes the features without
// materialising the rows: the result (Count, not Customers) and the rows to
// iterate in id order. `churn features` writes them this way, so its memory
// is the per-customer aggregates, not a second copy as rows.
func StreamFeatures(ctx context.Context, w *warehouse.Warehouse, opt FeaturesOptions) (*features.Result, *features.Rows, error) {
	accs, err := accumulateFeatures(ctx, w, opt, []Snapshot{{AsOf: opt.AsOf, HoldoutEnd: opt.HoldoutEnd}})
	if err != nil {
		return nil, nil, err
	}
	return accs[0].Stream()
}

// accumulateFeatures streams the warehouse's transactions, month by month,
// on all cores, into one accumulator per snapshot: one scan, whatever their
// number.
func accumulateFeatures(ctx context.Context, w *warehouse.Warehouse, opt FeaturesOptions, snaps []Snapshot) ([]*features.Accumulator, error) {
	loc, err := ReportingZone(opt.Timezone)
	if err != nil {
		return nil, err
	}
	fo := features.Options{Location: loc, Unit: opt.Unit, Segments: opt.Segments}
	// Sized from the ingests' customer sketches; a few per cent over the
	// estimate, since a table one short of it would double.
	if n, err := w.EstimateCustomers(); err != nil {
		slog.Debug("no customer estimate: tables grow as customers come", "err", err)
	} else {
		fo.ExpectedCustomers = n + n/16
	}
	if opt.FXFile != "" {
		rates, err := readFX(opt.FXFile)
		if err != nil {
			return nil, err
		}
		fo.FXMicros = rates
	}
	accs := make([]*features.Accumulator, len(snaps))
	for i, sp := range snaps {
		o := fo
		o.AsOf, o.HoldoutEnd, o.Tracking = sp.AsOf, sp.HoldoutEnd, sp.Tracking
		accs[i] = features.NewAccumulator(o)
	}
	_, err = w.Scan(ctx, warehouse.ScanOptions{Workers: opt.Workers, NoOrderID: true}, func(_ int, rec arrow.Record) error {
		for _, acc := range accs {
			if err := acc.AddRecord(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return accs, nil
}

// readFX reads a rate table: currency,rate — how many reporting-currency
// units one unit of currency is worth.
func readFX(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("--fx %s: %w", path, err)
	}
	rates := map[string]int64{}
	for i, r := range recs {
		if len(r) < 2 {
			return nil, fmt.Errorf("--fx %s line %d: want currency,rate", path, i+1)
		}
		if i == 0 && strings.EqualFold(strings.TrimSpace(r[0]), "currency") {
			continue
		}
		v, err := warehouse.ParseAmount(r[1], false)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--fx %s line %d: rate %q: want a positive decimal", path, i+1, r[1])
		}
		rates[strings.ToUpper(strings.TrimSpace(r[0]))] = v
	}
	return rates, nil
}

// WriteFeatures writes features.parquet and features.json into dir atomically.
func WriteFeatures(dir string, res *features.Result, prov Provenance) error {
	return WriteFeaturesStream(dir, res, eachOf(res.Customers), prov, "")
}

// Provenance is where features come from: the warehouse state and the
// settings, as features.json records them.
type Provenance struct {
	Timezone, WarehouseState, Settings string
}

// ProvenanceOf is the provenance of features computed now from w with opt.
func ProvenanceOf(w *warehouse.Warehouse, opt FeaturesOptions) (Provenance, error) {
	state, err := w.State()
	if err != nil {
		return Provenance{}, err
	}
	settings, err := opt.Settings()
	return Provenance{Timezone: opt.Timezone, WarehouseState: state, Settings: settings}, err
}

// Settings is a fingerprint of everything besides the warehouse that the
// features depend on: the dates, the time zone, the unit, the segment table
// and the contents of the FX file.
func (opt FeaturesOptions) Settings() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "as_of=%s holdout_end=%s timezone=%s unit=%s\n", opt.AsOf.Format(time.RFC3339), opt.HoldoutEnd.Format(time.RFC3339), cmp.Or(opt.Timezone, "UTC"), opt.Unit)
	seg := opt.Segments
	if seg == nil {
		seg = features.DefaultSegments()
	}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				fmt.Fprintf(h, "%s|", seg.Segment(r, f, m))
			}
		}
	}
	fmt.Fprintf(h, "%q\n", seg.Names())
	if opt.FXFile != "" {
		b, err := os.ReadFile(opt.FXFile)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReuseOrComputeFeatures returns the features of opt: read from dir's
// features.parquet when its features.json records the same settings and the
// warehouse state it was computed from is still the warehouse's (no ingest
// since), else computed by a scan. The string says which, and why. With
// only, a reused file gives just those columns (the other fields are zero),
// for a caller that needs no others (FitColumns).
func ReuseOrComputeFeatures(ctx context.Context, w *warehouse.Warehouse, dir string, opt FeaturesOptions, only ...string) (*features.Result, string, error) {
	prov, err := ProvenanceOf(w, opt)
	if err != nil {
		return nil, "", err
	}
	why := "recomputed: no features.json"
	meta, err := warehouse.ReadJSONFile[FeaturesMeta](filepath.Join(dir, "features.json"))
	if err != nil {
		why = "recomputed: " + err.Error()
	}
	if meta != nil {
		switch {
		case meta.Settings != prov.Settings:
			why = "recomputed: features.json was computed with other settings"
		case meta.WarehouseState != prov.WarehouseState:
			why = "recomputed: the warehouse changed since features.json was written"
		case !opt.HoldoutEnd.IsZero():
			why = "recomputed: features with a holdout are not reused"
		default:
			res, err := readFeatures(dir, meta, opt, only)
			if err == nil {
				return res, "reused features.parquet (same settings, warehouse unchanged)", nil
			}
			why = "recomputed: " + err.Error()
		}
	}
	res, err := ComputeFeatures(ctx, w, opt)
	return res, why, err
}

// readFeatures reads features.parquet back into rows, column by column
// (parquet-go's row reader took longer than computing them again), with the
// result's other fields from features.json.
func readFeatures(dir string, meta *FeaturesMeta, opt FeaturesOptions, only []string) (*features.Result, error) {
	path := filepath.Join(dir, "features.parquet")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	n := int(pf.NumRows())
	if n != meta.Customers {
		return nil, fmt.Errorf("%s has %d rows, features.json says %d", path, n, meta.Customers)
	}
	rows := features.MakeCustomers(n)
	fields := featureColumns(rows)
	for name := range fields {
		if _, ok := pf.Schema().Lookup(name); !ok {
			return nil, fmt.Errorf("%s has no column %s (written by an older churn)", path, name)
		}
		if len(only) > 0 && !slices.Contains(only, name) {
			delete(fields, name)
		}
	}
	base := 0
	buf := make([]parquet.Value, 4096)
	for _, rg := range pf.RowGroups() {
		for c, chunk := range rg.ColumnChunks() {
			set := fields[pf.Schema().Fields()[c].Name()]
			if set == nil {
				continue
			}
			i := base
			pages := chunk.Pages()
			for {
				p, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					pages.Close()
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				vr := p.Values()
				for {
					k, err := vr.ReadValues(buf)
					for _, v := range buf[:k] {
						set(i, v)
						i++
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						parquet.Release(p)
						pages.Close()
						return nil, fmt.Errorf("%s: %w", path, err)
					}
				}
				parquet.Release(p)
			}
			pages.Close()
			if i != base+int(rg.NumRows()) {
				return nil, fmt.Errorf("%s: column %d has %d values in a row group of %d", path, c, i-base, rg.NumRows())
			}
		}
		base += int(rg.NumRows())
	}
	seg := opt.Segments
	if seg == nil {
		seg = features.DefaultSegments()
	}
	res := &features.Result{Customers: rows, Count: n, AsOf: opt.AsOf, Unit: opt.Unit,
		Cuts: meta.RFMCuts, SegmentNames: seg.Names(), ExcludedNoOrders: meta.ExcludedNoOrders, RowsAfterWindow: meta.RowsAfterWindow}
	if meta.Currency != "" {
		res.Currencies = strings.Split(meta.Currency, ",")
	}
	return res, nil
}

// FitColumns are the features the fits use: the BTYD summary, the
// monetary value and the first purchase (the calibration window's start).
var FitColumns = []string{"first_purchase", "frequency", "recency", "T", "monetary_value"}

// featureColumns are the setters of the rows' fields by column name.
func featureColumns(rows []features.Customer) map[string]func(i int, v parquet.Value) {
	i64 := func(field func(c *features.Customer) *int64) func(int, parquet.Value) {
		return func(i int, v parquet.Value) { *field(&rows[i]) = v.Int64() }
	}
	f64 := func(field func(c *features.Customer) *float64) func(int, parquet.Value) {
		return func(i int, v parquet.Value) { *field(&rows[i]) = v.Double() }
	}
	// Counts are int64 columns, kept in 32 bits in memory.
	count := func(field func(c *features.Customer) *int32) func(int, parquet.Value) {
		return func(i int, v parquet.Value) { *field(&rows[i]) = int32(v.Int64()) }
	}
	score := func(field func(c *features.Customer) *int8) func(int, parquet.Value) {
		return func(i int, v parquet.Value) { *field(&rows[i]) = int8(v.Int32()) }
	}
	// Repeated segment names share one string each.
	segments := map[string]string{}
	type C = features.Customer
	return map[string]func(int, parquet.Value){
		"customer_id": func(i int, v parquet.Value) { rows[i].CustomerID = string(v.ByteArray()) },
		"rfm_segment": func(i int, v parquet.Value) {
			b := v.ByteArray()
			s, ok := segments[string(b)]
			if !ok {
				s = string(b)
				segments[s] = s
			}
			rows[i].Segment = s
		},
		"first_purchase":  i64(func(c *C) *int64 { return &c.FirstPurchaseMicros }),
		"last_purchase":   i64(func(c *C) *int64 { return &c.LastPurchaseMicros }),
		"orders":          count(func(c *C) *int32 { return &c.Orders }),
		"frequency":       count(func(c *C) *int32 { return &c.Frequency }),
		"recency":         f64(func(c *C) *float64 { return &c.Recency }),
		"T":               f64(func(c *C) *float64 { return &c.T }),
		"monetary_value":  f64(func(c *C) *float64 { return &c.MonetaryValue }),
		"monetary_avg":    f64(func(c *C) *float64 { return &c.MonetaryAvg }),
		"total_spend":     i64(func(c *C) *int64 { return &c.TotalSpendMicros }),
		"net_spend":       i64(func(c *C) *int64 { return &c.NetSpendMicros }),
		"refunds":         count(func(c *C) *int32 { return &c.Refunds }),
		"refund_amount":   i64(func(c *C) *int64 { return &c.RefundAmountMicros }),
		"r_score":         score(func(c *C) *int8 { return &c.RScore }),
		"f_score":         score(func(c *C) *int8 { return &c.FScore }),
		"m_score":         score(func(c *C) *int8 { return &c.MScore }),
		"orders_30d":      count(func(c *C) *int32 { return &c.Orders30 }),
		"orders_90d":      count(func(c *C) *int32 { return &c.Orders90 }),
		"orders_365d":     count(func(c *C) *int32 { return &c.Orders365 }),
		"spend_30d":       i64(func(c *C) *int64 { return &c.Spend30Micros }),
		"spend_90d":       i64(func(c *C) *int64 { return &c.Spend90Micros }),
		"spend_365d":      i64(func(c *C) *int64 { return &c.Spend365Micros }),
		"spend_trend_90d": i64(func(c *C) *int64 { return &c.SpendTrendMicros }),
		"days_since_last": count(func(c *C) *int32 { return &c.DaysSinceLast }),
		"gap_mean_days":   f64(func(c *C) *float64 { return &c.GapMeanDays }),
		"gap_std_days":    f64(func(c *C) *float64 { return &c.GapStdDays }),
		"tenure_days":     count(func(c *C) *int32 { return &c.TenureDays }),
		"stores":          count(func(c *C) *int32 { return &c.Stores }),
		"categories":      count(func(c *C) *int32 { return &c.Categories }),
		"holdout_orders":  count(func(c *C) *int32 { return &c.HoldoutOrders }),
		"holdout_days":    count(func(c *C) *int32 { return &c.HoldoutDays }),
		"holdout_spend":   i64(func(c *C) *int64 { return &c.HoldoutSpendMicros }),
	}
}

// eachOf iterates materialised rows the way features.Rows.Each streams them.
func eachOf(rows []features.Customer) func(func([]features.Customer) error) error {
	return func(fn func([]features.Customer) error) error { return fn(rows) }
}

// WriteFeaturesFile writes the rows of a features stream to one .parquet
// or .csv file only (a reader's --out: nothing in the warehouse).
func WriteFeaturesFile(path string, res *features.Result, each func(func([]features.Customer) error) error) error {
	f, err := newFeatureFile(path, res)
	if err != nil {
		return err
	}
	if err := each(f.write); err != nil {
		f.abort()
		return err
	}
	return f.commit()
}

// WriteFeaturesStream writes features.parquet and features.json into dir, and
// the same rows to extra (.parquet or .csv) when it is not empty, in one
// pass over the rows that each yields (features.Rows.Each, or eachOf). Each
// file appears whole or not at all.
func WriteFeaturesStream(dir string, res *features.Result, each func(func([]features.Customer) error) error, prov Provenance, extra string) error {
	files := []featureFile{}
	main, err := newFeatureFile(filepath.Join(dir, "features.parquet"), res)
	if err != nil {
		return err
	}
	files = append(files, main)
	if extra != "" {
		f, err := newFeatureFile(extra, res)
		if err != nil {
			main.abort()
			return err
		}
		files = append(files, f)
	}
	segments := map[string]int{}
	err = each(func(rows []features.Customer) error {
		for i := range rows {
			segments[rows[i].Segment]++
		}
		for _, f := range files {
			if err := f.write(rows); err != nil {
				return err
			}
		}
		return nil
	})
	for _, f := range files {
		if err == nil {
			err = f.commit()
		} else {
			f.abort()
		}
	}
	if err != nil {
		return err
	}
	meta := featuresMeta(res, prov.Timezone, segments)
	meta.WarehouseState, meta.Settings = prov.WarehouseState, prov.Settings
	return warehouse.WriteFileAtomic(filepath.Join(dir, "features.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(meta)
	})
}

func featuresMeta(res *features.Result, timezone string, segments map[string]int) FeaturesMeta {
	m := FeaturesMeta{
		AsOf: res.AsOf.Format("2006-01-02"), Timezone: cmp.Or(timezone, "UTC"), Unit: res.Unit.String(),
		Currency: strings.Join(res.Currencies, ","), Customers: res.Count,
		ExcludedNoOrders: res.ExcludedNoOrders, RowsAfterWindow: res.RowsAfterWindow,
		RFMCuts: res.Cuts, Segments: segments,
	}
	if !res.HoldoutEnd.IsZero() {
		m.HoldoutEnd = res.HoldoutEnd.Format("2006-01-02")
	}
	return m
}

// featureFile is one features file being written.
type featureFile interface {
	write(rows []features.Customer) error
	commit() error
	abort()
}

// newFeatureFile starts path: CSV when it ends in .csv, Parquet otherwise.
func newFeatureFile(path string, res *features.Result) (featureFile, error) {
	f, err := warehouse.CreateOutput(path)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return newFeatureCSV(f, res)
	}
	w := warehouse.NewParallelParquet[FeatureRow](f, FeatureRowGroup, runtime.GOMAXPROCS(0), parquet.Compression(&warehouse.FastSnappy{}))
	return &featureParquet{f: f, w: w}, nil
}

// FeatureRowGroup is the rows of one row group of features.parquet; a few
// are in memory at once, being encoded side by side.
const FeatureRowGroup = 32 * 1024

type featureParquet struct {
	f *warehouse.AtomicFile
	w *warehouse.ParallelParquet[FeatureRow]
}

func (p *featureParquet) write(rows []features.Customer) error {
	for i := range rows {
		if err := p.w.Add(featureRow(&rows[i])); err != nil {
			return fmt.Errorf("write %s: %w", p.f.Path, err)
		}
	}
	return nil
}

func (p *featureParquet) commit() error { return p.f.CommitAfter(p.w.Close) }

func (p *featureParquet) abort() {
	p.w.Stop()
	p.f.Abort()
}

// featureCSVHeader is the header of the features CSV (--out FILE.csv).
var featureCSVHeader = []string{"customer_id", "first_purchase", "last_purchase", "orders", "frequency", "recency", "T",
	"monetary_value", "monetary_avg", "total_spend", "net_spend", "refunds", "refund_amount", "r_score", "f_score", "m_score",
	"rfm_segment", "orders_30d", "orders_90d", "orders_365d", "spend_30d", "spend_90d", "spend_365d", "spend_trend_90d",
	"days_since_last", "gap_mean_days", "gap_std_days", "tenure_days", "stores", "categories", "holdout_orders", "holdout_days", "holdout_spend"}

type featureCSV struct {
	f   *warehouse.AtomicFile
	bw  *bufio.Writer
	w   *sheet.SafeCSVWriter
	dec int
}

func newFeatureCSV(f *warehouse.AtomicFile, res *features.Result) (*featureCSV, error) {
	c := &featureCSV{f: f, bw: bufio.NewWriter(f), dec: 2}
	if len(res.Currencies) == 1 {
		c.dec = warehouse.CurrencyDecimals(res.Currencies[0])
	}
	c.w = sheet.NewSafeCSVWriter(c.bw)
	if err := c.w.Write(featureCSVHeader); err != nil {
		f.Abort()
		return nil, err
	}
	return c, nil
}

func (c *featureCSV) write(rows []features.Customer) error {
	money := func(v int64) string { return warehouse.FormatAmount(v, c.dec) }
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	i64 := func(v int32) string { return strconv.FormatInt(int64(v), 10) }
	score := func(v int8) string { return strconv.Itoa(int(v)) }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	for i := range rows {
		r := &rows[i]
		rec := []string{r.CustomerID, ts(r.FirstPurchase()), ts(r.LastPurchase()), i64(r.Orders), i64(r.Frequency),
			num(r.Recency), num(r.T), num(r.MonetaryValue), num(r.MonetaryAvg), money(r.TotalSpendMicros),
			money(r.NetSpendMicros), i64(r.Refunds), money(r.RefundAmountMicros), score(r.RScore),
			score(r.FScore), score(r.MScore), r.Segment, i64(r.Orders30), i64(r.Orders90),
			i64(r.Orders365), money(r.Spend30Micros), money(r.Spend90Micros), money(r.Spend365Micros),
			money(r.SpendTrendMicros), i64(r.DaysSinceLast), num(r.GapMeanDays), num(r.GapStdDays),
			i64(r.TenureDays), i64(r.Stores), i64(r.Categories), i64(r.HoldoutOrders), i64(r.HoldoutDays), money(r.HoldoutSpendMicros)}
		if err := c.w.Write(rec); err != nil {
			return fmt.Errorf("write %s: %w", c.f.Path, err)
		}
	}
	return nil
}

func (c *featureCSV) commit() error { return c.f.CommitAfter(c.w.Flush, c.bw.Flush) }

func (c *featureCSV) abort() { c.f.Abort() }
