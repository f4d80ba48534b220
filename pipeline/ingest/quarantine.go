package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// The reasons a row is rejected. Every rejected row carries exactly one, and
// Reason maps it to the code written in the quarantine file and the logs.
var (
	// ErrFieldCount: a delimited row has more or fewer fields than the header.
	ErrFieldCount = errors.New("wrong field count")
	// ErrMalformed: a row that is not valid CSV (bad quoting) or JSON.
	ErrMalformed = errors.New("malformed record")
	// ErrEncoding: the row is not valid UTF-8 (pass --encoding for older exports).
	ErrEncoding = errors.New("invalid encoding")
	// ErrEmptyCustomer: the customer id is empty.
	ErrEmptyCustomer = errors.New("empty customer id")
	// ErrEmptyOrder: the source has an order id column but this row's is empty.
	ErrEmptyOrder = errors.New("empty order id")
	// ErrBadQuantity: a quantity that is not an exact number.
	ErrBadQuantity = errors.New("bad quantity")
	// ErrDuplicateOrder: the order id is already in the warehouse or earlier in this ingest.
	ErrDuplicateOrder = errors.New("duplicate order id")
	// ErrCurrencyMismatch: line items of one order in different currencies,
	// or an amount written in another currency than the row's.
	ErrCurrencyMismatch = errors.New("currency mismatch within order")
)

// reasonCodes is the fixed, documented list of quarantine reasons.
var reasonCodes = []struct {
	err  error
	code string
}{
	{ErrFieldCount, "wrong_field_count"},
	{ErrMalformed, "malformed_record"},
	{ErrEncoding, "invalid_encoding"},
	{ErrEmptyCustomer, "empty_customer_id"},
	{ErrEmptyOrder, "empty_order_id"},
	{ErrBadTime, "unparseable_time"},
	{warehouse.ErrBadAmount, "bad_amount"},
	{ErrBadQuantity, "bad_quantity"},
	{ErrDuplicateOrder, "duplicate_order_id"},
	{ErrCurrencyMismatch, "currency_mismatch"},
	// Not rejections: the reasons of the excluded file.
	{ErrCancelled, "cancelled_order"},
	{ErrGuest, "guest_customer"},
	{ErrTotalsRow, "totals_row"},
}

// ReasonCodes lists every quarantine reason code in a fixed order.
func ReasonCodes() []string {
	out := make([]string, len(reasonCodes))
	for i, r := range reasonCodes {
		out[i] = r.code
	}
	return out
}

// Reason returns the quarantine code of a rejection error.
func Reason(err error) string {
	for _, r := range reasonCodes {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "other"
}

// Rejected is one quarantined row: where it came from, why, and its text
// exactly as read.
type Rejected struct {
	Source string
	Line   int64 // 1-based line of the row's first character; for Parquet sources, the row number
	Err    error
	Raw    string
	// Order is the row's order id, when it has one (excluded rows: their
	// order's further lines are excluded with them).
	Order string
}

// quarantineHeader is the header of DATA/quarantine/<ingest-id>.csv, and
// of DATA/excluded/<ingest-id>.csv.
var quarantineHeader = []string{"source", "line", "reason", "detail", "raw"}

// quarantineWriter streams rejected rows as CSV into an AtomicFile. Raw
// text is written as-is inside a quoted field, so a spreadsheet shows it and
// a script reads it back byte for byte. The first error is kept and
// returned by commit, so the hot path does not check one per row.
type quarantineWriter struct {
	f   *warehouse.AtomicFile
	w   *csv.Writer
	err error
}

func newQuarantineWriter(path string) *quarantineWriter {
	q := &quarantineWriter{}
	if q.f, q.err = warehouse.CreateAtomic(path); q.err != nil {
		return q
	}
	q.w = csv.NewWriter(q.f)
	q.err = q.w.Write(quarantineHeader)
	return q
}

func (q *quarantineWriter) write(r Rejected) {
	if q.err == nil {
		q.err = q.w.Write([]string{r.Source, strconv.FormatInt(r.Line, 10), Reason(r.Err), r.Err.Error(), r.Raw})
	}
}

// commit flushes and makes the file visible.
func (q *quarantineWriter) commit() error {
	if q.f == nil {
		return fmt.Errorf("quarantine: %w", q.err)
	}
	return q.f.CommitAfter(func() error { return q.err }, func() error {
		q.w.Flush()
		return q.w.Error()
	})
}

func (q *quarantineWriter) abort() {
	if q.f != nil {
		q.f.Abort()
	}
}
