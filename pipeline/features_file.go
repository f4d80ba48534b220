package pipeline

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/churnhq/churn/features"
	"github.com/parquet-go/parquet-go"
)

// FeatureRow is one row of features.parquet. Column names are a contract
// (README, "Features"); money columns are DECIMAL(18,6) millionths.
type FeatureRow struct {
	CustomerID    string  `parquet:"customer_id"`
	FirstPurchase int64   `parquet:"first_purchase,timestamp(microsecond)"`
	LastPurchase  int64   `parquet:"last_purchase,timestamp(microsecond)"`
	Orders        int64   `parquet:"orders"`
	Frequency     int64   `parquet:"frequency"`
	Recency       float64 `parquet:"recency"`
	T             float64 `parquet:"T"`
	MonetaryValue float64 `parquet:"monetary_value"`
	MonetaryAvg   float64 `parquet:"monetary_avg"`
	TotalSpend    int64   `parquet:"total_spend,decimal(6:18)"`
	NetSpend      int64   `parquet:"net_spend,decimal(6:18)"`
	Refunds       int64   `parquet:"refunds"`
	RefundAmount  int64   `parquet:"refund_amount,decimal(6:18)"`
	RScore        int32   `parquet:"r_score"`
	FScore        int32   `parquet:"f_score"`
	MScore        int32   `parquet:"m_score"`
	Segment       string  `parquet:"rfm_segment,dict"`
	Orders30      int64   `parquet:"orders_30d"`
	Orders90      int64   `parquet:"orders_90d"`
	Orders365     int64   `parquet:"orders_365d"`
	Spend30       int64   `parquet:"spend_30d,decimal(6:18)"`
	Spend90       int64   `parquet:"spend_90d,decimal(6:18)"`
	Spend365      int64   `parquet:"spend_365d,decimal(6:18)"`
	SpendTrend    int64   `parquet:"spend_trend_90d,decimal(6:18)"`
	DaysSinceLast int64   `parquet:"days_since_last"`
	GapMeanDays   float64 `parquet:"gap_mean_days"`
	GapStdDays    float64 `parquet:"gap_std_days"`
	TenureDays    int64   `parquet:"tenure_days"`
	Stores        int64   `parquet:"stores"`
	Categories    int64   `parquet:"categories"`
	HoldoutOrders int64   `parquet:"holdout_orders"`
	HoldoutDays   int64   `parquet:"holdout_days"`
	HoldoutSpend  int64   `parquet:"holdout_spend,decimal(6:18)"`
}

func featureRow(c *features.Customer) FeatureRow {
	return FeatureRow{
		CustomerID: c.CustomerID, FirstPurchase: c.FirstPurchase.UnixMicro(), LastPurchase: c.LastPurchase.UnixMicro(),
		Orders: c.Orders, Frequency: c.Frequency, Recency: c.Recency, T: c.T,
		MonetaryValue: c.MonetaryValue, MonetaryAvg: c.MonetaryAvg,
		TotalSpend: c.TotalSpendMicros, NetSpend: c.NetSpendMicros, Refunds: c.Refunds, RefundAmount: c.RefundAmountMicros,
		RScore: int32(c.RScore), FScore: int32(c.FScore), MScore: int32(c.MScore), Segment: c.Segment,
		Orders30: c.Orders30, Orders90: c.Orders90, Orders365: c.Orders365,
		Spend30: c.Spend30Micros, Spend90: c.Spend90Micros, Spend365: c.Spend365Micros, SpendTrend: c.SpendTrendMicros,
		DaysSinceLast: c.DaysSinceLast, GapMeanDays: c.GapMeanDays, GapStdDays: c.GapStdDays, TenureDays: c.TenureDays,
		Stores: c.Stores, Categories: c.Categories, HoldoutOrders: c.HoldoutOrders, HoldoutDays: c.HoldoutDays, HoldoutSpend: c.HoldoutSpendMicros,
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
}

// ComputeFeatures scans the warehouse and aggregates the features of one as-of date.
func ComputeFeatures(ctx context.Context, w *Warehouse, opt FeaturesOptions) (*features.Result, error) {
	return computeFeatures(ctx, w, opt, false)
}

// reportingZone resolves --timezone: UTC when it is empty.
func reportingZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: --timezone %q: %v", ErrOption, name, err)
	}
	return loc, nil
}

func computeFeatures(ctx context.Context, w *Warehouse, opt FeaturesOptions, tracking bool) (*features.Result, error) {
	loc, err := reportingZone(opt.Timezone)
	if err != nil {
		return nil, err
	}
	fo := features.Options{AsOf: opt.AsOf, HoldoutEnd: opt.HoldoutEnd, Location: loc, Unit: opt.Unit, Segments: opt.Segments, Tracking: tracking}
	if opt.FXFile != "" {
		rates, err := readFX(opt.FXFile)
		if err != nil {
			return nil, err
		}
		fo.FXMicros = rates
	}
	return features.Compute(ctx, func(ctx context.Context, fn func(int, arrow.Record) error) error {
		_, err := w.Scan(ctx, ScanOptions{Workers: opt.Workers, NoOrderID: true}, fn)
		return err
	}, fo)
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
		v, err := ParseAmount(r[1], false)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--fx %s line %d: rate %q: want a positive decimal", path, i+1, r[1])
		}
		rates[strings.ToUpper(strings.TrimSpace(r[0]))] = v
	}
	return rates, nil
}

// WriteFeatures writes features.parquet and features.json into dir atomically.
func WriteFeatures(dir string, res *features.Result, timezone string) error {
	if err := WriteFeaturesParquet(filepath.Join(dir, "features.parquet"), res); err != nil {
		return err
	}
	meta := featuresMeta(res, timezone)
	return WriteFileAtomic(filepath.Join(dir, "features.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(meta)
	})
}

func featuresMeta(res *features.Result, timezone string) FeaturesMeta {
	m := FeaturesMeta{
		AsOf: res.AsOf.Format("2006-01-02"), Timezone: cmpOr(timezone, "UTC"), Unit: res.Unit.String(),
		Currency: strings.Join(res.Currencies, ","), Customers: len(res.Customers),
		ExcludedNoOrders: res.ExcludedNoOrders, RowsAfterWindow: res.RowsAfterWindow,
		RFMCuts: res.Cuts, Segments: map[string]int{},
	}
	if !res.HoldoutEnd.IsZero() {
		m.HoldoutEnd = res.HoldoutEnd.Format("2006-01-02")
	}
	for i := range res.Customers {
		m.Segments[res.Customers[i].Segment]++
	}
	return m
}

// WriteFeaturesParquet writes the rows, sorted by customer id, atomically.
func WriteFeaturesParquet(path string, res *features.Result) error {
	return WriteFileAtomic(path, func(f io.Writer) error {
		w := parquet.NewGenericWriter[FeatureRow](f, parquet.Compression(zstdCodec))
		buf := make([]FeatureRow, 0, 4096)
		for i := range res.Customers {
			buf = append(buf, featureRow(&res.Customers[i]))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return w.Close()
	})
}

// featureCSVHeader is the header of the features CSV (--out FILE.csv).
var featureCSVHeader = []string{"customer_id", "first_purchase", "last_purchase", "orders", "frequency", "recency", "T",
	"monetary_value", "monetary_avg", "total_spend", "net_spend", "refunds", "refund_amount", "r_score", "f_score", "m_score",
	"rfm_segment", "orders_30d", "orders_90d", "orders_365d", "spend_30d", "spend_90d", "spend_365d", "spend_trend_90d",
	"days_since_last", "gap_mean_days", "gap_std_days", "tenure_days", "stores", "categories", "holdout_orders", "holdout_days", "holdout_spend"}

// WriteFeaturesCSV writes the rows as CSV: timestamps RFC 3339 UTC, money
// with the currency's decimals, text cells spreadsheet-safe.
func WriteFeaturesCSV(path string, res *features.Result) error {
	dec := 2
	if len(res.Currencies) == 1 {
		dec = CurrencyDecimals(res.Currencies[0])
	}
	money := func(v int64) string { return FormatAmount(v, dec) }
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	return WriteFileAtomic(path, func(f io.Writer) error {
		bw := bufio.NewWriter(f)
		w := NewSafeCSVWriter(bw)
		if err := w.Write(featureCSVHeader); err != nil {
			return err
		}
		for i := range res.Customers {
			c := &res.Customers[i]
			rec := []string{c.CustomerID, ts(c.FirstPurchase), ts(c.LastPurchase), i64(c.Orders), i64(c.Frequency),
				num(c.Recency), num(c.T), num(c.MonetaryValue), num(c.MonetaryAvg), money(c.TotalSpendMicros),
				money(c.NetSpendMicros), i64(c.Refunds), money(c.RefundAmountMicros), strconv.Itoa(c.RScore),
				strconv.Itoa(c.FScore), strconv.Itoa(c.MScore), c.Segment, i64(c.Orders30), i64(c.Orders90),
				i64(c.Orders365), money(c.Spend30Micros), money(c.Spend90Micros), money(c.Spend365Micros),
				money(c.SpendTrendMicros), i64(c.DaysSinceLast), num(c.GapMeanDays), num(c.GapStdDays),
				i64(c.TenureDays), i64(c.Stores), i64(c.Categories), i64(c.HoldoutOrders), i64(c.HoldoutDays), money(c.HoldoutSpendMicros)}
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return bw.Flush()
	})
}
