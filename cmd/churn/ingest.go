package main

import (
	"context"
	"encoding/json"

	"github.com/churnhq/churn/pipeline/ingest"

	"github.com/churnhq/churn/pipeline"
	"github.com/spf13/pflag"
)

const ingestExamples = `  churn ingest --data ./churn-data exports/orders-2024-*.csv.gz
  churn ingest --config shop.yaml --time-format '%d/%m/%Y %H:%M' --timezone Europe/Berlin sales.csv
  churn ingest --delimiter whitespace --customer-col customer_id --time-col date \
      --amount-col dollar_value CDNOW_master.txt
  churn ingest --quantity-col Quantity --price-col UnitPrice online_retail.csv   # line items
`

// dataFlag registers --data and --config, shared by every warehouse command.
func dataFlags(fs *pflag.FlagSet) (data, config *string) {
	data = fs.String("data", "./churn-data", "warehouse directory")
	config = fs.String("config", "", "config file (YAML; keys are the long flag names)")
	return data, config
}

// sourceFlags registers the column and parsing flags of an export.
func sourceFlags(fs *pflag.FlagSet, o *ingest.SourceOptions) {
	fs.StringVar(&o.Format, "format", "", "input format: csv, tsv, jsonl, parquet or xlsx (default: from the file name)")
	fs.StringVar(&o.Delimiter, "delimiter", "", "field delimiter: one character, tab, or whitespace (default ',' and tab for .tsv)")
	fs.BoolVar(&o.NoHeader, "no-header", false, "the first row is data; name the fields with --columns")
	fs.StringSliceVar(&o.Columns, "columns", nil, "field names of a headerless file, comma-separated")
	fs.StringVar(&o.CustomerCol, "customer-col", "", "customer id column (default: recognised from the header)")
	fs.StringVar(&o.OrderCol, "order-col", "", "order id column; without one, ids are derived from file hash and line")
	fs.StringVar(&o.TimeCol, "time-col", "", "order time column")
	fs.StringVar(&o.AmountCol, "amount-col", "", "order amount column (negative = refund)")
	fs.StringVar(&o.CurrencyCol, "currency-col", "", "ISO currency code column")
	fs.StringVar(&o.QuantityCol, "quantity-col", "", "item quantity column")
	fs.StringVar(&o.PriceCol, "price-col", "", "unit price column: rows are product lines, summed per order")
	fs.StringVar(&o.CategoryCol, "category-col", "", "product category column")
	fs.StringVar(&o.ChannelCol, "channel-col", "", "sales channel column")
	fs.StringVar(&o.StoreCol, "store-col", "", "store column")
	fs.StringVar(&o.StatusCol, "status-col", "", "order status column: rows with an --exclude-status value are not purchases")
	fs.StringSliceVar(&o.ExcludeStatus, "exclude-status", nil, "statuses of orders that never happened, comma-separated (default: voided, cancelled, failed, pending payment, storniert, … see README)")
	fs.StringVar(&o.CancelledCol, "cancelled-col", "", "cancellation time column: a row with one is not a purchase")
	fs.StringVar(&o.RefundCol, "refund-col", "", "refunded amount of the order: recorded as a refund of it")
	fs.StringVar(&o.RefundTimeCol, "refund-time-col", "", "when the order was refunded (default: at the order)")
	fs.StringVar(&o.GuestCol, "guest-col", "", "keys orders whose customer id is a guest placeholder (0, guest, empty e-mail); without it they are excluded")
	fs.StringVar(&o.AmountUnit, "amount-unit", "", "major (12.34) or minor (1234 cents; default for Stripe charge objects)")
	fs.StringVar(&o.Dedupe, "dedupe", "", "order (by order id, default) or content: rows without order ids keyed by customer, time and amount")
	fs.StringVar(&o.Sheet, "sheet", "", "worksheet of an .xlsx workbook (default: the first)")
	fs.StringVar(&o.TimeFormat, "time-format", "", "strftime pattern or Go layout, or epoch, epoch_ms, dayfirst, monthfirst, mixed (default: detect one form per file)")
	fs.StringVar(&o.Timezone, "timezone", "", "IANA zone of times written without an offset (default UTC)")
	fs.BoolVar(&o.DecimalComma, "decimal-comma", false, "amounts are written 1.234,56 (default: detected when every deciding amount says so)")
	fs.StringVar(&o.Encoding, "encoding", "", "text encoding: utf-8 (strict), latin1 or windows-1252")
	fs.StringVar(&o.Currency, "currency", "", "ISO currency of rows without a currency column")
}

// mergeSource fills the options not set on the command line from the config file.
func mergeSource(fs *pflag.FlagSet, o *ingest.SourceOptions, c *ingest.SourceOptions) {
	set := func(name string, dst *string, v string) {
		if !fs.Changed(name) && v != "" {
			*dst = v
		}
	}
	set("format", &o.Format, c.Format)
	set("delimiter", &o.Delimiter, c.Delimiter)
	set("customer-col", &o.CustomerCol, c.CustomerCol)
	set("order-col", &o.OrderCol, c.OrderCol)
	set("time-col", &o.TimeCol, c.TimeCol)
	set("amount-col", &o.AmountCol, c.AmountCol)
	set("currency-col", &o.CurrencyCol, c.CurrencyCol)
	set("quantity-col", &o.QuantityCol, c.QuantityCol)
	set("price-col", &o.PriceCol, c.PriceCol)
	set("category-col", &o.CategoryCol, c.CategoryCol)
	set("channel-col", &o.ChannelCol, c.ChannelCol)
	set("store-col", &o.StoreCol, c.StoreCol)
	set("status-col", &o.StatusCol, c.StatusCol)
	set("cancelled-col", &o.CancelledCol, c.CancelledCol)
	set("refund-col", &o.RefundCol, c.RefundCol)
	set("refund-time-col", &o.RefundTimeCol, c.RefundTimeCol)
	set("guest-col", &o.GuestCol, c.GuestCol)
	set("amount-unit", &o.AmountUnit, c.AmountUnit)
	set("dedupe", &o.Dedupe, c.Dedupe)
	set("sheet", &o.Sheet, c.Sheet)
	if !fs.Changed("exclude-status") && len(c.ExcludeStatus) > 0 {
		o.ExcludeStatus = c.ExcludeStatus
	}
	set("time-format", &o.TimeFormat, c.TimeFormat)
	set("timezone", &o.Timezone, c.Timezone)
	set("encoding", &o.Encoding, c.Encoding)
	set("currency", &o.Currency, c.Currency)
	if !fs.Changed("no-header") && c.NoHeader {
		o.NoHeader = true
	}
	if !fs.Changed("columns") && len(c.Columns) > 0 {
		o.Columns = c.Columns
	}
	if !fs.Changed("decimal-comma") && c.DecimalComma {
		o.DecimalComma = true
	}
}

// loadConfig reads --config (if any) and applies its data key.
func loadConfig(fs *pflag.FlagSet, path string, data *string) (*pipeline.Config, error) {
	if path == "" {
		return &pipeline.Config{}, nil
	}
	c, err := pipeline.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if !fs.Changed("data") && c.Data != "" {
		*data = c.Data
	}
	return c, nil
}

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", "[--data DIR] [--config FILE] [column flags] FILE|DIR|GLOB...", ingestExamples)
	data, config := dataFlags(fs)
	var opt ingest.IngestOptions
	sourceFlags(fs, &opt.Source)
	fs.BoolVar(&opt.Force, "force", false, "re-read files already in the manifest (their orders become duplicates)")
	fs.Float64Var(&opt.MaxBadFraction, "max-bad-fraction", 0.01, "share of rejected rows (duplicates aside) above which nothing is committed (exit 3)")
	jsonOut := fs.Bool("json", false, "print a machine-readable summary to stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no input files")
	}
	if opt.MaxBadFraction < 0 || opt.MaxBadFraction > 1 {
		return usagef("--max-bad-fraction must be between 0 and 1")
	}
	cfg, err := loadConfig(fs, *config, data)
	if err != nil {
		return usagef("%v", err)
	}
	mergeSource(fs, &opt.Source, &cfg.SourceOptions)
	opt.Sources = cfg.Sources
	if !fs.Changed("max-bad-fraction") && cfg.MaxBadFraction != nil {
		opt.MaxBadFraction = *cfg.MaxBadFraction
	}
	opt.Log = e.log
	opt.Command = "churn ingest"
	sum, err := ingest.Ingest(ctx, *data, fs.Args(), opt)
	if sum != nil && *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(sum); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		return err
	}
	e.log.Info("ingest done", "ingest_id", sum.IngestID, "committed", sum.Committed, "read", sum.RowsRead,
		"accepted", sum.Accepted, "rejected", sum.Rejected, "duplicates", sum.Duplicates, "quarantine", sum.Quarantine)
	return nil
}
