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
	// Format forces csv, tsv, jsonl, parquet or xlsx; empty = from the file name.
	Format string `yaml:"format"`
	// Delimiter of delimited text: one character, "tab", or "whitespace"
	// (runs of blanks, no quoting). Empty = ',' (tab for .tsv).
	Delimiter string `yaml:"delimiter"`
	// NoHeader says the first row is data; Columns then names the fields
	// (empty = "1", "2", …).
	NoHeader bool     `yaml:"no-header"`
	Columns  []string `yaml:"columns"`
	// Sheet is the worksheet of an Excel workbook; empty = the first.
	Sheet string `yaml:"sheet"`
	// Column names; empty = recognised from common header names. In JSON
	// Lines, a dotted path names a value inside an object (customer.id).
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
	// StatusCol holds the order status; rows whose status is one of
	// ExcludeStatus (empty = DefaultExcludeStatus) never happened.
	StatusCol     string   `yaml:"status-col"`
	ExcludeStatus []string `yaml:"exclude-status"`
	// CancelledCol holds a cancellation time: a row with one never happened.
	CancelledCol string `yaml:"cancelled-col"`
	// RefundCol holds the order's refunded amount, RefundTimeCol when.
	RefundCol     string `yaml:"refund-col"`
	RefundTimeCol string `yaml:"refund-time-col"`
	// GuestCol keys the orders whose customer id is a guest placeholder
	// ("0", "guest", an empty e-mail); without it they are excluded.
	GuestCol string `yaml:"guest-col"`
	// TimeFormat and Timezone: see NewTimeParser. Empty = detect, UTC.
	TimeFormat string `yaml:"time-format"`
	Timezone   string `yaml:"timezone"`
	// DecimalComma reads "1.234,56". Without it, a file whose amounts are
	// all written with a decimal comma is read so, and said so.
	DecimalComma bool `yaml:"decimal-comma"`
	// AmountUnit is "major" (12.34) or "minor" (1234 cents; yen as whole
	// units); empty = major, minor for Stripe's charge objects.
	AmountUnit string `yaml:"amount-unit"`
	// Encoding of text files: utf-8 (default, strict), latin1, windows-1252.
	Encoding string `yaml:"encoding"`
	// Currency is the ISO code for rows without a currency column; empty = none recorded.
	Currency string `yaml:"currency"`
	// Dedupe is "order" (by order id; the default) or "content": rows
	// without an order id are keyed by customer, time and amount, so
	// overlapping exports without ids are read once.
	Dedupe string `yaml:"dedupe"`
}

// DefaultExcludeStatus are the order statuses that mean an order never
// happened, as Shopify, WooCommerce, Stripe and German, Dutch and French
// shop systems write them (compared case-insensitively, '_' and '-' as spaces).
var DefaultExcludeStatus = []string{
	"voided", "void", "cancelled", "canceled", "failed", "declined", "expired",
	"pending payment", "wc pending", "wc cancelled", "wc failed", "checkout draft", "draft", "trash",
	"storniert", "abgebrochen", "annulliert", "fehlgeschlagen", "abgelehnt",
	"geannuleerd", "mislukt", "annule", "annulee", "echoue", "echec", "refuse",
}

// normaliseStatus folds a status for comparison: "Pending_Payment" is
// "pending payment". A status that is folded already, the usual case, is
// returned as it is.
func normaliseStatus(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == ' ' && i > 0 && s[i-1] != ' ' && i < len(s)-1) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	s = foldAccents.Replace(strings.ToLower(strings.TrimSpace(s)))
	s = statusSeparators.Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

var statusSeparators = strings.NewReplacer("_", " ", "-", " ")

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
	case "", "csv", "txt", "tsv", "jsonl", "parquet", "xlsx":
	default:
		return fmt.Errorf("%w: --format %q (want csv, tsv, jsonl, parquet or xlsx)", ErrUnknownFormat, o.Format)
	}
	switch o.AmountUnit {
	case "", "major", "minor":
	default:
		return fmt.Errorf("%w: --amount-unit %q: want major or minor", warehouse.ErrOption, o.AmountUnit)
	}
	switch o.Dedupe {
	case "", "order", "content":
	default:
		return fmt.Errorf("%w: --dedupe %q: want order or content", warehouse.ErrOption, o.Dedupe)
	}
	return nil
}

// rowOutcome is what a row of a source is.
type rowOutcome int

const (
	rowAccepted rowOutcome = iota // a purchase or refund, maybe with a refund of its own
	rowExcluded                   // not a purchase (cancelled, a guest, a totals line): kept aside with its reason
	rowBlank                      // no value at all: skipped and counted
	rowLine                       // another line of the order above it (fields on its first line only)
)

// converted is what a row becomes: its transaction and order key, and the
// refund its refunded-amount column makes.
type converted struct {
	t         warehouse.Transaction
	key       uint64
	hasRefund bool
	refund    warehouse.Transaction
	refundKey uint64
}

// rowConverter maps the fields of one source row to a Transaction.
type rowConverter struct {
	cols        columnMap
	times       *TimeParser
	refundTimes *TimeParser // the refund dates' own parser: no family of their own to enforce
	decComma    bool
	minorUnits  bool
	currency    string
	exclude     map[string]bool // normalised statuses of orders that never happened
	content     bool            // --dedupe content: rows without order ids keyed by their content
	// derivedPrefix makes order ids for sources without one: "~<sha256 prefix>:<line>".
	derivedPrefix string
}

func newRowConverter(cols columnMap, times *TimeParser, o *SourceOptions, sha string) *rowConverter {
	c := &rowConverter{
		cols: cols, times: times, decComma: o.DecimalComma, currency: strings.ToUpper(o.Currency),
		minorUnits: o.AmountUnit == "minor" || o.AmountUnit == "" && cols.minorUnits,
		content:    o.Dedupe == "content",
		exclude:    map[string]bool{},
	}
	rt := *times
	rt.Family = familyAny
	c.refundTimes = &rt
	list := o.ExcludeStatus
	if len(list) == 0 {
		list = DefaultExcludeStatus
	}
	for _, s := range list {
		c.exclude[normaliseStatus(s)] = true
	}
	if sha != "" {
		c.derivedPrefix = "~" + sha[:16] + ":"
	}
	return c
}

func (c *rowConverter) field(fields []string, ro role) string {
	i := c.cols.idx[ro]
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

// The reasons a row is not a purchase, though nothing is wrong with it.
var (
	// ErrCancelled: the order's status or cancellation time says it never happened.
	ErrCancelled = errors.New("cancelled order")
	// ErrGuest: the customer id is a guest placeholder, not one customer.
	ErrGuest = errors.New("guest customer")
	// ErrTotalsRow: a totals line under the rows of a spreadsheet.
	ErrTotalsRow = errors.New("totals row")
)

// guestIDs are customer ids that stand for "no customer account".
var guestIDs = map[string]bool{
	"0": true, "-": true, "--": true, "guest": true, "gast": true, "gastkunde": true, "invite": true, "gast klant": true,
	"n/a": true, "na": true, "none": true, "null": true, "nil": true, "anonymous": true, "anonym": true,
	"unknown": true, "unbekannt": true, "guest customer": true, "(guest)": true, "(none)": true,
}

// isGuestID reports whether a customer id is a guest placeholder, without
// allocating on the path of every row.
func isGuestID(id string) bool {
	if len(id) == 0 || len(id) > 16 {
		return false
	}
	var buf [16]byte
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return guestIDs[string(buf[:len(id)])]
}

// totalsWords start the label of a totals line.
var totalsWords = []string{"total", "totals", "grand total", "sum", "summe", "gesamt", "gesamtsumme", "totaal", "totalt", "total general", "somme"}

// allEmpty reports whether every field is blank.
func allEmpty(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// isTotalsRow reports whether a row whose time cannot be read is a
// spreadsheet's totals line: its customer, order or first field is a
// totals label.
func (c *rowConverter) isTotalsRow(f []string) bool {
	label := ""
	for _, v := range []string{c.field(f, roleCustomer), c.field(f, roleOrder), firstValue(f)} {
		if v != "" {
			label = normaliseStatus(strings.TrimRight(v, ":"))
			break
		}
	}
	if label == "" {
		return false
	}
	for _, w := range totalsWords {
		if label == w || strings.HasPrefix(label, w+" ") {
			return true
		}
	}
	return false
}

func firstValue(f []string) string {
	for _, v := range f {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// convert fills out with what one row is, or returns the reason it is
// rejected (out is then partly filled). For rowExcluded the error is the
// reason it is kept aside. A row that cannot be read may be a
// spreadsheet's totals line, which is not data.
func (c *rowConverter) convert(rec *rawRecord, out *converted) (rowOutcome, error) {
	outcome, err := c.convertRow(rec, out)
	if err != nil && outcome == rowAccepted && c.isTotalsRow(rec.fields) {
		return rowExcluded, ErrTotalsRow
	}
	return outcome, err
}

func (c *rowConverter) convertRow(rec *rawRecord, out *converted) (rowOutcome, error) {
	f := rec.fields
	t := &out.t
	out.hasRefund = false
	t.CustomerID = c.field(f, roleCustomer)
	ts := c.field(f, roleTime)
	if t.CustomerID == "" && ts == "" {
		if allEmpty(f) {
			return rowBlank, nil
		}
		if c.cols.has(roleOrder) {
			if t.OrderID = c.field(f, roleOrder); t.OrderID != "" && c.field(f, roleStatus) == "" {
				// Another line of an order whose fields are on its first line.
				return rowLine, c.lineAmount(f, t)
			}
		}
	}
	if c.cols.has(roleStatus) {
		if st := c.field(f, roleStatus); st != "" && c.exclude[normaliseStatus(st)] {
			return rowExcluded, fmt.Errorf("%w: status %q", ErrCancelled, clip(st))
		}
	}
	if c.cols.has(roleCancelled) {
		if v := c.field(f, roleCancelled); v != "" {
			return rowExcluded, fmt.Errorf("%w: cancelled at %q", ErrCancelled, clip(v))
		}
	}
	if isGuestID(t.CustomerID) || t.CustomerID == "" && c.cols.emailCustomer {
		g := ""
		if c.cols.has(roleGuest) {
			g = c.field(f, roleGuest)
		}
		if g == "" {
			return rowExcluded, fmt.Errorf("%w: customer id %q is a guest placeholder (pass --guest-col to key guests by another column)", ErrGuest, t.CustomerID)
		}
		t.CustomerID = g
	}
	if t.CustomerID == "" {
		if c.cols.has(roleGuest) {
			t.CustomerID = c.field(f, roleGuest)
		}
		if t.CustomerID == "" {
			return rowAccepted, ErrEmptyCustomer
		}
	}
	if c.cols.has(roleOrder) {
		if t.OrderID = c.field(f, roleOrder); t.OrderID == "" {
			return rowAccepted, ErrEmptyOrder
		}
	}
	us, err := c.times.ParseMicros(ts)
	if err != nil {
		return rowAccepted, err
	}
	t.TimeMicros = us
	t.Currency = c.currency
	if cur := c.field(f, roleCurrency); cur != "" {
		t.Currency = upperCode(cur)
	}
	if err := c.lineAmount(f, t); err != nil {
		return rowAccepted, err
	}
	t.Category = c.field(f, roleCategory)
	t.Channel = c.field(f, roleChannel)
	t.Store = c.field(f, roleStore)
	switch {
	case c.cols.has(roleOrder) && t.AmountMicros < 0:
		// A negative row that reuses its order's id is a refund of that
		// order: keyed by its time and amount, so two refunds of one order
		// are both kept and the same refund exported twice is read once.
		out.key = refundKey(warehouse.OrderKey(t.OrderID), t.TimeMicros, t.AmountMicros)
	case c.cols.has(roleOrder):
		out.key = warehouse.OrderKey(t.OrderID)
	case c.content:
		k := warehouse.OrderKey(t.CustomerID)
		k = extendKey(k, "\x00")
		k = extendInt(extendInt(k, t.TimeMicros), t.AmountMicros)
		t.OrderID = "~c" + strconv.FormatUint(k, 16)
		out.key = k
	default:
		t.OrderID = c.derivedPrefix + strconv.FormatInt(rec.line, 10)
		out.key = warehouse.OrderKey(t.OrderID)
	}
	if c.cols.has(roleRefund) && t.AmountMicros >= 0 {
		return rowAccepted, c.refundOf(f, out)
	}
	return rowAccepted, nil
}

// lineAmount fills the quantity and amount of a row: its amount, or
// quantity × unit price for a line item.
func (c *rowConverter) lineAmount(f []string, t *warehouse.Transaction) error {
	t.QuantityMicros = 0
	if c.cols.has(roleQuantity) {
		q, err := warehouse.ParseAmount(c.field(f, roleQuantity), c.decComma)
		if err != nil {
			if c.field(f, roleQuantity) == "" && !c.cols.lineItems() {
				q, err = 0, nil
			} else {
				return fmt.Errorf("%w: %q", ErrBadQuantity, clip(c.field(f, roleQuantity)))
			}
		}
		t.QuantityMicros = q
	}
	if c.cols.lineItems() {
		price, err := c.money(c.field(f, rolePrice), t)
		if err != nil {
			return err
		}
		if t.AmountMicros, err = mulMicros(t.QuantityMicros, price); err != nil {
			return fmt.Errorf("%w: %s × %s: %v", warehouse.ErrBadAmount, clip(c.field(f, roleQuantity)), clip(c.field(f, rolePrice)), err)
		}
		return nil
	}
	v := c.field(f, roleAmount)
	if v == "" && t.CustomerID == "" {
		t.AmountMicros = 0 // a line of an order: the order's total is on its first line
		return nil
	}
	var err error
	t.AmountMicros, err = c.money(v, t)
	return err
}

// money reads an amount of t's currency: major units, or with minor units
// the currency's smallest unit (cents; yen are whole). A currency written
// with the amount ("61,56 €") fills an empty currency.
func (c *rowConverter) money(s string, t *warehouse.Transaction) (int64, error) {
	v, ok := warehouse.ParsePlainAmount(s, c.decComma)
	if !ok {
		var code string
		var err error
		if v, code, err = warehouse.ParseMoney(s, c.decComma); err != nil {
			return 0, err
		}
		switch {
		case code == "":
		case t.Currency == "":
			t.Currency = code
		case code != t.Currency:
			return 0, fmt.Errorf("%w: %q is written in %s, but the row's currency is %s", ErrCurrencyMismatch, clip(s), code, t.Currency)
		}
	}
	if !c.minorUnits {
		return v, nil
	}
	if v%warehouse.AmountUnit != 0 {
		return 0, fmt.Errorf("%w: %q is not a whole number of minor units", warehouse.ErrBadAmount, clip(s))
	}
	if t.Currency == "" {
		return 0, fmt.Errorf("%w: %q is in minor units of no currency (pass --currency or --currency-col)", warehouse.ErrBadAmount, clip(s))
	}
	for range warehouse.CurrencyDecimals(t.Currency) {
		v /= 10
	}
	return v, nil
}

// refundOf adds the refund the refunded-amount column of an order's row
// makes: a refund of that order, dated by the refund-time column or else
// at the order, keyed by the order so that the order's later exports do
// not add it again.
func (c *rowConverter) refundOf(f []string, out *converted) error {
	v := c.field(f, roleRefund)
	if v == "" {
		return nil
	}
	r := &out.refund
	*r = out.t
	amt, err := c.money(v, r)
	if err != nil {
		return fmt.Errorf("refunded amount: %w", err)
	}
	if amt < 0 {
		amt = -amt
	}
	if amt == 0 {
		return nil
	}
	r.AmountMicros = -amt
	r.QuantityMicros = 0
	if ts := c.field(f, roleRefundTime); ts != "" {
		us, err := c.refundTimes.ParseMicros(ts)
		if err != nil {
			return fmt.Errorf("refund time: %w", err)
		}
		r.TimeMicros = us
	}
	out.hasRefund = true
	out.refundKey = extendKey(out.key, "\x00refund")
	return nil
}

// extendKey continues the FNV-1a hash of an order key over s:
// extendKey(OrderKey(a), b) == OrderKey(a + b).
func extendKey(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// extendInt continues an order key over the 8 bytes of v.
func extendInt(h uint64, v int64) uint64 {
	for i := 0; i < 8; i++ {
		h ^= uint64(byte(v >> (8 * i)))
		h *= 1099511628211
	}
	return h
}

// refundKey keys a refund row of an order by its time and amount.
func refundKey(order uint64, us, amount int64) uint64 {
	return extendInt(extendInt(extendKey(order, "\x00refund\x00"), us), amount)
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
