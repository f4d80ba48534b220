// Package features turns transactions into one row of features per customer:
// the BTYD summary (frequency x, recency t_x, age T, monetary value), RFM
// scores and segments, and the windows and trends a churn model needs.
//
// Every feature is a GROUP BY customer over transactions: an Accumulator
// adds transactions, merges with another Accumulator, and finishes into
// rows, so the same code runs on one core, on two, or on shards of a cluster.
package features

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Unit is the time unit of recency and T.
type Unit int

const (
	// Weeks: days / 7, the unit of the BTYD papers.
	Weeks Unit = iota
	// Days: whole days.
	Days
)

// ParseUnit reads "week" or "day".
func ParseUnit(s string) (Unit, error) {
	switch strings.ToLower(s) {
	case "", "week", "weeks", "w":
		return Weeks, nil
	case "day", "days", "d":
		return Days, nil
	}
	return 0, fmt.Errorf("unit %q: want week or day", s)
}

// Days returns the number of days in one unit.
func (u Unit) Days() float64 {
	if u == Days {
		return 1
	}
	return 7
}

func (u Unit) String() string {
	if u == Days {
		return "day"
	}
	return "week"
}

// Options say what to compute.
type Options struct {
	// AsOf is the last day included, a calendar date in Location.
	AsOf time.Time
	// HoldoutEnd, if set, is the last day of the holdout window (AsOf, HoldoutEnd].
	HoldoutEnd time.Time
	// Location is the reporting time zone of days; nil = UTC.
	Location *time.Location
	// Unit of recency and T.
	Unit Unit
	// FXMicros converts amounts into one reporting currency: rate per
	// currency code, in millionths (1.0 = 1_000_000). Nil: one currency only.
	FXMicros map[string]int64
	// Segments is the RFM segment table; nil = DefaultSegments.
	Segments *SegmentTable
}

// Transaction is what the accumulator needs of one warehouse row.
type Transaction struct {
	CustomerID   string
	TimeMicros   int64 // UTC instant, µs since the Unix epoch
	AmountMicros int64 // millionths of the currency unit; negative = refund
	Currency     string
	Store        string
	Category     string
}

// customerAcc is the running aggregate of one customer.
type customerAcc struct {
	days          []int32 // purchase days (local, days since 1970-01-01), unsorted, may repeat
	firstMicros   int64
	lastMicros    int64
	firstDay      int32
	firstDaySpend int64
	orders        int64
	spend         int64
	refunds       int64
	refundAmount  int64 // sum of refunds, as a positive amount
	orders30      int64
	orders90      int64
	orders365     int64
	spend30       int64
	spend90       int64
	spend365      int64
	spendPrev90   int64 // days (D-180, D-90]
	holdoutOrders int64
	holdoutSpend  int64
	stores        []uint32 // small sets of hashes
	categories    []uint32
}

// Accumulator aggregates transactions per customer. It is not safe for
// concurrent use: give each worker its own and Merge them.
type Accumulator struct {
	opt        Options
	loc        *time.Location
	asOfDay    int32
	holdoutDay int32 // last holdout day, or asOfDay when there is none
	index      map[string]int32
	ids        []string
	accs       accPages
	currencies map[string]int64 // currency → rows
	ignored    int64            // rows after the as-of date outside the holdout
}

// NewAccumulator starts an empty aggregate.
func NewAccumulator(opt Options) *Accumulator {
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	a := &Accumulator{opt: opt, loc: loc, index: map[string]int32{}, currencies: map[string]int64{}}
	a.asOfDay = civilDay(opt.AsOf)
	a.holdoutDay = a.asOfDay
	if !opt.HoldoutEnd.IsZero() {
		a.holdoutDay = civilDay(opt.HoldoutEnd)
	}
	return a
}

// civilDay is the day number of a calendar date, whatever its location.
func civilDay(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DayOf returns the local calendar day of an instant as days since 1970-01-01.
func DayOf(micros int64, loc *time.Location) int32 {
	if loc == time.UTC {
		return int32(floorDiv(micros, 86_400_000_000))
	}
	t := time.UnixMicro(micros).In(loc)
	_, off := t.Zone()
	return int32(floorDiv(micros+int64(off)*1_000_000, 86_400_000_000))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Add folds one transaction into the aggregate.
func (a *Accumulator) Add(t Transaction) {
	day := DayOf(t.TimeMicros, a.loc)
	if day > a.holdoutDay {
		a.ignored++
		return
	}
	if n, ok := a.currencies[t.Currency]; ok {
		a.currencies[t.Currency] = n + 1
	} else {
		a.currencies[strings.Clone(t.Currency)] = 1
	}
	i, ok := a.index[t.CustomerID]
	if !ok {
		i = int32(a.accs.len())
		id := strings.Clone(t.CustomerID)
		a.index[id] = i
		a.ids = append(a.ids, id)
		a.accs.add(customerAcc{firstDay: math.MaxInt32, firstMicros: math.MaxInt64, lastMicros: math.MinInt64})
	}
	c := a.accs.at(int(i))
	amount := t.AmountMicros
	if a.opt.FXMicros != nil {
		amount = convert(amount, a.opt.FXMicros[t.Currency])
	}
	if day > a.asOfDay {
		if amount >= 0 {
			c.holdoutOrders++
			c.holdoutSpend += amount
		}
		return
	}
	if amount < 0 {
		c.refunds++
		c.refundAmount -= amount
		return
	}
	c.orders++
	c.spend += amount
	c.days = append(c.days, day)
	if t.TimeMicros < c.firstMicros {
		c.firstMicros = t.TimeMicros
	}
	if t.TimeMicros > c.lastMicros {
		c.lastMicros = t.TimeMicros
	}
	switch {
	case day < c.firstDay:
		c.firstDay, c.firstDaySpend = day, amount
	case day == c.firstDay:
		c.firstDaySpend += amount
	}
	age := a.asOfDay - day // 0 on the as-of day
	if age < 30 {
		c.orders30++
		c.spend30 += amount
	}
	if age < 90 {
		c.orders90++
		c.spend90 += amount
	} else if age < 180 {
		c.spendPrev90 += amount
	}
	if age < 365 {
		c.orders365++
		c.spend365 += amount
	}
	if t.Store != "" {
		c.stores = addHash(c.stores, t.Store)
	}
	if t.Category != "" {
		c.categories = addHash(c.categories, t.Category)
	}
}

// convert applies an FX rate in millionths, rounding half away from zero.
func convert(amount, rateMicros int64) int64 {
	p := float64(amount) * float64(rateMicros) / 1e6
	return int64(math.Round(p))
}

func addHash(set []uint32, s string) []uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	if !slices.Contains(set, h) {
		set = append(set, h)
	}
	return set
}

// Merge folds b into a; b must not be used afterwards.
func (a *Accumulator) Merge(b *Accumulator) {
	for cur, n := range b.currencies {
		a.currencies[cur] += n
	}
	a.ignored += b.ignored
	for j, id := range b.ids {
		src := b.accs.at(j)
		i, ok := a.index[id]
		if !ok {
			a.index[id] = int32(a.accs.len())
			a.ids = append(a.ids, id)
			a.accs.add(*src)
			continue
		}
		c := a.accs.at(int(i))
		c.days = append(c.days, src.days...)
		c.firstMicros = min(c.firstMicros, src.firstMicros)
		c.lastMicros = max(c.lastMicros, src.lastMicros)
		switch {
		case src.firstDay < c.firstDay:
			c.firstDay, c.firstDaySpend = src.firstDay, src.firstDaySpend
		case src.firstDay == c.firstDay:
			c.firstDaySpend += src.firstDaySpend
		}
		c.orders += src.orders
		c.spend += src.spend
		c.refunds += src.refunds
		c.refundAmount += src.refundAmount
		c.orders30 += src.orders30
		c.orders90 += src.orders90
		c.orders365 += src.orders365
		c.spend30 += src.spend30
		c.spend90 += src.spend90
		c.spend365 += src.spend365
		c.spendPrev90 += src.spendPrev90
		c.holdoutOrders += src.holdoutOrders
		c.holdoutSpend += src.holdoutSpend
		for _, h := range src.stores {
			if !slices.Contains(c.stores, h) {
				c.stores = append(c.stores, h)
			}
		}
		for _, h := range src.categories {
			if !slices.Contains(c.categories, h) {
				c.categories = append(c.categories, h)
			}
		}
	}
}

// Currencies returns the currencies seen, sorted.
func (a *Accumulator) Currencies() []string {
	out := make([]string, 0, len(a.currencies))
	for c := range a.currencies {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ErrCurrencies is returned when amounts in several currencies would be summed.
var ErrCurrencies = fmt.Errorf("several currencies")

// Finish computes the rows of every customer with a purchase on or before
// the as-of date, sorted by customer id, with RFM scores and segments.
func (a *Accumulator) Finish() (*Result, error) {
	if a.opt.FXMicros == nil && len(a.currencies) > 1 {
		return nil, fmt.Errorf("%w in the warehouse (%s): amounts would be summed across them; pass a rate table with --fx rates.csv", ErrCurrencies, strings.Join(a.Currencies(), ", "))
	}
	if a.opt.FXMicros != nil {
		for _, c := range a.Currencies() {
			if _, ok := a.opt.FXMicros[c]; !ok {
				return nil, fmt.Errorf("%w: no rate for %q in the rate table", ErrCurrencies, c)
			}
		}
	}
	unit := a.opt.Unit.Days()
	order := make([]int, 0, a.accs.len())
	var excluded int64
	for i := 0; i < a.accs.len(); i++ {
		if a.accs.at(i).orders > 0 {
			order = append(order, i)
		} else {
			excluded++
		}
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(a.ids[x], a.ids[y]) })
	rows := make([]Customer, len(order))
	for k, i := range order {
		c := a.accs.at(i)
		days := c.days
		slices.Sort(days)
		days = slices.Compact(days)
		lastDay := days[len(days)-1]
		r := Customer{
			CustomerID:         a.ids[i],
			FirstPurchase:      time.UnixMicro(c.firstMicros).UTC(),
			LastPurchase:       time.UnixMicro(c.lastMicros).UTC(),
			Orders:             c.orders,
			Frequency:          int64(len(days) - 1),
			Recency:            float64(lastDay-c.firstDay) / unit,
			T:                  float64(a.asOfDay-c.firstDay) / unit,
			TotalSpendMicros:   c.spend,
			NetSpendMicros:     c.spend - c.refundAmount,
			Refunds:            c.refunds,
			RefundAmountMicros: c.refundAmount,
			Orders30:           c.orders30,
			Orders90:           c.orders90,
			Orders365:          c.orders365,
			Spend30Micros:      c.spend30,
			Spend90Micros:      c.spend90,
			Spend365Micros:     c.spend365,
			SpendTrendMicros:   c.spend90 - c.spendPrev90,
			DaysSinceLast:      int64(a.asOfDay - lastDay),
			TenureDays:         int64(a.asOfDay - c.firstDay),
			Stores:             int64(len(c.stores)),
			Categories:         int64(len(c.categories)),
			HoldoutOrders:      c.holdoutOrders,
			HoldoutSpendMicros: c.holdoutSpend,
		}
		r.MonetaryAvg = float64(c.spend) / float64(c.orders) / 1e6
		if r.Frequency > 0 {
			r.MonetaryValue = float64(c.spend-c.firstDaySpend) / float64(r.Frequency) / 1e6
			var sum, sq float64
			for j := 1; j < len(days); j++ {
				g := float64(days[j] - days[j-1])
				sum += g
				sq += g * g
			}
			n := float64(len(days) - 1)
			r.GapMeanDays = sum / n
			r.GapStdDays = math.Sqrt(math.Max(0, sq/n-r.GapMeanDays*r.GapMeanDays))
		}
		rows[k] = r
	}
	res := &Result{
		Customers:        rows,
		AsOf:             a.opt.AsOf,
		HoldoutEnd:       a.opt.HoldoutEnd,
		Unit:             a.opt.Unit,
		Currencies:       a.Currencies(),
		ExcludedNoOrders: excluded,
		RowsAfterWindow:  a.ignored,
	}
	table := a.opt.Segments
	if table == nil {
		table = DefaultSegments()
	}
	res.Cuts = ScoreRFM(rows, table)
	return res, nil
}

// accPages stores customer aggregates in fixed pages, so growing to millions
// of customers never copies the ones already there.
type accPages struct {
	pages [][]customerAcc
	n     int
}

const accPageSize = 4096

func (p *accPages) len() int { return p.n }

func (p *accPages) at(i int) *customerAcc { return &p.pages[i/accPageSize][i%accPageSize] }

func (p *accPages) add(c customerAcc) {
	if p.n%accPageSize == 0 {
		p.pages = append(p.pages, make([]customerAcc, 0, accPageSize))
	}
	last := &p.pages[len(p.pages)-1]
	*last = append(*last, c)
	p.n++
}
