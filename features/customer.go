package features

import "time"

// Customer is one row of features: everything up to the as-of date D
// (inclusive, in the reporting time zone), purchases being transactions with
// amount ≥ 0. Money is in millionths of the currency unit (…Micros) until a
// mean makes it a float in currency units.
type Customer struct {
	CustomerID    string
	FirstPurchase time.Time // instant of the first purchase, UTC
	LastPurchase  time.Time // instant of the last purchase up to D, UTC
	Orders        int64     // purchases up to D
	// BTYD summary, as in Fader, Hardie & Lee (2005) and lifetimes:
	Frequency     int64   // x: distinct purchase days − 1
	Recency       float64 // t_x: last purchase day − first purchase day, in Unit
	T             float64 // D − first purchase day, in Unit
	MonetaryValue float64 // mean spend of the repeat purchase days (first day excluded); 0 when x = 0
	MonetaryAvg   float64 // mean spend per order

	TotalSpendMicros   int64 // sum of purchases
	NetSpendMicros     int64 // purchases minus refunds
	Refunds            int64 // refund transactions up to D
	RefundAmountMicros int64 // their total, as a positive amount

	RScore, FScore, MScore int    // 1–5, 5 best
	Segment                string // from the RFM segment table

	Orders30, Orders90, Orders365                int64 // purchases in the last 30/90/365 days (D included)
	Spend30Micros, Spend90Micros, Spend365Micros int64
	SpendTrendMicros                             int64   // spend in the last 90 days − spend in the 90 before
	DaysSinceLast                                int64   // D − last purchase day
	GapMeanDays, GapStdDays                      float64 // mean and population s.d. of days between purchase days; 0 when x = 0
	TenureDays                                   int64   // D − first purchase day
	Stores, Categories                           int64   // distinct stores and categories bought from (0 when unknown)

	HoldoutOrders      int64 // purchases in (D, holdout end]
	HoldoutDays        int64 // distinct purchase days in (D, holdout end]: the BTYD holdout count
	HoldoutFirst       int64 // days from D to the first purchase day in (D, holdout end]; 0 when none
	HoldoutSpendMicros int64
}

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
