package ingest

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// SourceOptions say how to read the rows of an export. Each field is a
// `churn ingest` flag and a key of the config file with the same name.
type SourceOptions struct {
	// Format forces csv, tsv, jsonl or parquet; empty = from the file name.
	Format string `yaml:"format"`
	// Delimiter of delimited text: one character, "tab", or "whitespace"
	// (runs of blanks, no quoting). Empty = ',' (tab for .tsv).
	Delimiter string `yaml:"delimiter"`
	// NoHeader says the first row is data; Columns then names the fields
	// (empty = "1", "2", …).
	NoHeader bool     `yaml:"no-header"`
	Columns  []string `yaml:"columns"`
	// Column names; empty = recognised from common header names.
	CustomerCol string `yaml:"customer-col"`
	OrderCol    string `yaml:"order-col"`
	TimeCol     string `yaml:"time-col"`
	AmountCol   string `yaml:"amount-col"`
	CurrencyCol string `yaml:"currency-col"`
	QuantityCol string `yaml:"quantity-col"`
	PriceCol    string `yaml:"price-col"`
	CategoryCol string `yaml:"category-col"`
	ChannelCol  string `yaml:"channel-col"`
	StoreCol    string `yaml:"store-col"`
	// TimeFormat and Timezone: see NewTimeParser. Empty = detect, UTC.
	TimeFormat string `yaml:"time-format"`
	Timezone   string `yaml:"timezone"`
	// DecimalComma reads "1.234,56".
	DecimalComma bool `yaml:"decimal-comma"`
	// Encoding of text files: utf-8 (default, strict), latin1, windows-1252.
	Encoding string `yaml:"encoding"`
	// Currency is the ISO code for rows without a currency column; empty = none recorded.
	Currency string `yaml:"currency"`
}

// Validate checks the option values that do not depend on a file, so a
// mistake is reported before anything is read.
func (o *SourceOptions) Validate() error {
	if _, err := NewTimeParser(o.TimeFormat, o.Timezone); err != nil {
		return err
	}
	if _, err := parseDelimiter(o.Delimiter, FormatCSV); err != nil {
		return err
	}
	if _, err := decodeText(nil, o.Encoding); err != nil {
		return err
	}
	switch strings.ToLower(o.Format) {
	case "", "csv", "txt", "tsv", "jsonl", "parquet":
	default:
		return fmt.Errorf("%w: --format %q (want csv, tsv, jsonl or parquet)", ErrUnknownFormat, o.Format)
	}
	return nil
}

// rowConverter maps the fields of one source row to a Transaction.
type rowConverter struct {
	cols     columnMap
	times    *TimeParser
	decComma bool
	currency string
	// derivedPrefix makes order ids for sources without one: "~<sha256 prefix>:<line>".
	derivedPrefix string
}

func (c *rowConverter) field(fields []string, ro role) string {
	i := c.cols[ro]
	if i < 0 || i >= len(fields) {
		return ""
	}
	return trimSpace(fields[i])
}

// trimSpace is strings.TrimSpace with a fast path for the usual field, one
// that starts and ends with a visible ASCII character.
func trimSpace(v string) string {
	if n := len(v); n > 0 && v[0] > ' ' && v[0] < utf8.RuneSelf && v[n-1] > ' ' && v[n-1] < utf8.RuneSelf {
		return v
	}
	return strings.TrimSpace(v)
}

// upperCode is strings.ToUpper with a fast path for a code that is
// upper-case already, like most currency codes.
func upperCode(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] < 'A' || v[i] > 'Z' {
			return strings.ToUpper(v)
		}
	}
	return v
}

// convert fills t with the transaction of one row, or returns the reason
// it is rejected (t is then partly filled).
func (c *rowConverter) convert(rec *rawRecord, t *warehouse.Transaction) error {
	f := rec.fields
	t.CustomerID = c.field(f, roleCustomer)
	if t.CustomerID == "" {
		return ErrEmptyCustomer
	}
	if c.cols[roleOrder] >= 0 {
		if t.OrderID = c.field(f, roleOrder); t.OrderID == "" {
			return ErrEmptyOrder
		}
	} else {
		t.OrderID = c.derivedPrefix + strconv.FormatInt(rec.line, 10)
	}
	ts, err := c.times.ParseMicros(c.field(f, roleTime))
	if err != nil {
		return err
	}
	t.TimeMicros = ts
	t.QuantityMicros = 0
	if c.cols[roleQuantity] >= 0 {
		q, err := warehouse.ParseAmount(c.field(f, roleQuantity), c.decComma)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrBadQuantity, c.field(f, roleQuantity))
		}
		t.QuantityMicros = q
	}
	if c.cols.lineItems() {
		price, err := warehouse.ParseAmount(c.field(f, rolePrice), c.decComma)
		if err != nil {
			return err
		}
		if t.AmountMicros, err = mulMicros(t.QuantityMicros, price); err != nil {
			return fmt.Errorf("%w: %s × %s: %v", warehouse.ErrBadAmount, c.field(f, roleQuantity), c.field(f, rolePrice), err)
		}
	} else {
		if t.AmountMicros, err = warehouse.ParseAmount(c.field(f, roleAmount), c.decComma); err != nil {
			return err
		}
	}
	t.Currency = c.currency
	if cur := c.field(f, roleCurrency); cur != "" {
		t.Currency = upperCode(cur)
	}
	t.Category = c.field(f, roleCategory)
	t.Channel = c.field(f, roleChannel)
	t.Store = c.field(f, roleStore)
	return nil
}

// mulMicros multiplies two millionth-unit numbers exactly, or fails.
func mulMicros(a, b int64) (int64, error) {
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi >= warehouse.AmountUnit {
		return 0, errors.New("too large")
	}
	q, r := bits.Div64(hi, lo, warehouse.AmountUnit)
	if r != 0 {
		return 0, fmt.Errorf("more than %d decimals", warehouse.AmountScale)
	}
	if q > math.MaxInt64 {
		return 0, errors.New("too large")
	}
	if neg {
		return -int64(q), nil
	}
	return int64(q), nil
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}
