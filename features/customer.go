package features

import "time"

// Customer is one row of features: everything up to the as-of date D
// (inclusive, in the reporting time zone), purchases being transactions with
// amount ≥ 0. Money is in millionths of the currency unit (…Micros) until a
// mean makes it a float in currency units. The row is kept small (216
// bytes: counts in 32 bits, instants in µs), as a night holds millions.
type Customer struct {
	CustomerID string
	Segment    string // from the RFM segment table

	FirstPurchaseMicros int64 // instant of the first purchase, µs since the Unix epoch
	LastPurchaseMicros  int64 // instant of the last purchase up to D

	// BTYD summary, as in Fader, Hardie & Lee (2005) and lifetimes:
	Recency       float64 // t_x: last purchase day − first purchase day, in Unit
	T             float64 // D − first purchase day, in Unit
	MonetaryValue float64 // mean spend of the repeat purchase days (first day excluded); 0 when x = 0
	MonetaryAvg   float64 // mean spend per order

	TotalSpendMicros   int64 // sum of purchases
	NetSpendMicros     int64 // purchases minus refunds
	RefundAmountMicros int64 // refunds up to D, as a positive amount

	Spend30Micros, Spend90Micros, Spend365Micros int64
	SpendTrendMicros                             int64   // spend in the last 90 days − spend in the 90 before
	HoldoutSpendMicros                           int64   // spend in (D, holdout end]
	GapMeanDays, GapStdDays                      float64 // mean and population s.d. of days between purchase days; 0 when x = 0

	Orders                        int32 // purchases up to D
	Frequency                     int32 // x: distinct purchase days − 1
	Refunds                       int32 // refund transactions up to D
	Orders30, Orders90, Orders365 int32 // purchases in the last 30/90/365 days (D included)
	DaysSinceLast                 int32 // D − last purchase day
	TenureDays                    int32 // D − first purchase day
	Stores, Categories            int32 // distinct stores and categories bought from (0 when unknown)

	HoldoutOrders int32 // purchases in (D, holdout end]
	HoldoutDays   int32 // distinct purchase days in (D, holdout end]: the BTYD holdout count
	HoldoutFirst  int32 // days from D to the first purchase day in (D, holdout end]; 0 when none

	RScore, FScore, MScore int8 // 1–5, 5 best
}

// FirstPurchase is the instant of the first purchase, in UTC.
func (c *Customer) FirstPurchase() time.Time { return time.UnixMicro(c.FirstPurchaseMicros).UTC() }

// LastPurchase is the instant of the last purchase up to D, in UTC.
func (c *Customer) LastPurchase() time.Time { return time.UnixMicro(c.LastPurchaseMicros).UTC() }

// Result is the features of one as-of date.
type Result struct {
	Customers  []Customer // sorted by CustomerID; nil from Accumulator.Stream
	Count      int        // customers with a purchase up to AsOf: the rows
	AsOf       time.Time
	HoldoutEnd time.Time // zero when there is no holdout
	Unit       Unit
	Currencies []string
	Cuts       RFMCuts
	// Tracking, when Options.Tracking is set: per day (DayOf numbering),
	// [customers whose first purchase is that day, repeat purchase days
	// that day] over the cohort of Customers, to the holdout end.
	Tracking map[int32][2]int64
	// SegmentNames are the names of the segment table, in table order.
	SegmentNames []string
	// ExcludedNoOrders counts customers seen only through refunds or only after D.
	ExcludedNoOrders int64
	// RowsAfterWindow counts transactions after D (and after the holdout end).
	RowsAfterWindow int64
}
