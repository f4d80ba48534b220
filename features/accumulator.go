// Package features turns transactions into one row of features per customer:
// the BTYD summary (frequency x, recency t_x, age T, monetary value), RFM
// scores and segments, and the windows and trends a churn model needs.
//
// Every feature is a GROUP BY customer over transactions: an Accumulator
// adds transactions, merges with another Accumulator, and finishes into
// rows, so the same code runs on one core, on two, or on shards of a cluster.
package features

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
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
	// Tracking asks for the cohort's daily repeat purchases and first
	// purchases (Result.Tracking), for a backtest's tracking plot.
	Tracking bool
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

// customerAcc is the running aggregate of one customer. It holds no Go
// pointers (its lists live in the shard's arenas), so millions of them cost
// the garbage collector nothing.
type customerAcc struct {
	daysHead      int32 // 1 + index of the newest purchase-day node, 0 = none
	storesHead    int32
	catsHead      int32
	firstDay      int32
	stores        int32 // distinct stores
	categories    int32
	firstMicros   int64
	lastMicros    int64
	firstDaySpend int64
	orders        int64
	spend         int64
	refunds       int64
	refundAmount  int64 // sum of refunds, as a positive amount
	orders30      int32
	orders90      int32
	orders365     int32
	holdoutOrders int32
	spend30       int64
	spend90       int64
	spend365      int64
	spendPrev90   int64 // days (D-180, D-90]
	holdoutSpend  int64
}

// listNode links purchase days, or store/category hashes, of one customer.
type listNode struct {
	value int32 // a day number, or a 32-bit hash
	next  int32 // 1 + index of the next node, 0 = end
}

// numShards splits customers by the hash of their id, so workers adding
// batches at once rarely wait for each other, and no merge is needed.
const numShards = 64

// shard is the aggregate of the customers whose id hashes to it.
type shard struct {
	mu         sync.Mutex
	ids        idTable
	accs       accPages
	days       []listNode
	tags       []listNode
	currencies map[string]*int64 // currency → rows
	ignored    int64             // rows after the holdout end (or D)
	fxOverflow int64             // rows whose converted amount does not fit
}

// Accumulator aggregates transactions per customer. Add is for one
// goroutine; AddRecord may be called from several at once.
type Accumulator struct {
	opt        Options
	loc        *time.Location
	asOfDay    int32
	holdoutDay int32 // last holdout day, or asOfDay when there is none
	shards     [numShards]shard
}

// NewAccumulator starts an empty aggregate.
func NewAccumulator(opt Options) *Accumulator {
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	a := &Accumulator{opt: opt, loc: loc}
	a.asOfDay = civilDay(opt.AsOf)
	a.holdoutDay = a.asOfDay
	if !opt.HoldoutEnd.IsZero() {
		a.holdoutDay = civilDay(opt.HoldoutEnd)
	}
	for i := range a.shards {
		a.shards[i].currencies = map[string]*int64{}
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

// hashID is 64-bit FNV-1a of a customer id: its top bits pick the shard.
func hashID(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

func shardOf(h uint64) int { return int(h >> 58) }

// Add folds one transaction into the aggregate.
func (a *Accumulator) Add(t Transaction) {
	h := hashID(t.CustomerID)
	a.add(&a.shards[shardOf(h)], &t, h)
}

// add folds t into sh; the caller holds sh's lock or is the only writer.
func (a *Accumulator) add(sh *shard, t *Transaction, h uint64) {
	day := DayOf(t.TimeMicros, a.loc)
	if day > a.holdoutDay {
		sh.ignored++
		return
	}
	// Assigning to an existing string key replaces the stored key, and the
	// batch's strings are recycled after the batch: count through a pointer.
	if n := sh.currencies[t.Currency]; n != nil {
		*n++
	} else {
		one := int64(1)
		sh.currencies[strings.Clone(t.Currency)] = &one
	}
	i, found := sh.ids.find(t.CustomerID, h)
	if !found {
		i = sh.ids.insert(t.CustomerID, h)
		sh.accs.add(customerAcc{firstDay: math.MaxInt32, firstMicros: math.MaxInt64, lastMicros: math.MinInt64})
	}
	c := sh.accs.at(int(i))
	amount := t.AmountMicros
	if a.opt.FXMicros != nil {
		var ok bool
		if amount, ok = convert(amount, a.opt.FXMicros[t.Currency]); !ok {
			sh.fxOverflow++
			return
		}
	}
	if day > a.asOfDay {
		if amount >= 0 {
			c.holdoutOrders++
			c.holdoutSpend += amount
			sh.days = append(sh.days, listNode{value: day, next: c.daysHead})
			c.daysHead = int32(len(sh.days))
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
	sh.days = append(sh.days, listNode{value: day, next: c.daysHead})
	c.daysHead = int32(len(sh.days))
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
		c.storesHead, c.stores = sh.addTag(c.storesHead, c.stores, hash32(t.Store))
	}
	if t.Category != "" {
		c.catsHead, c.categories = sh.addTag(c.catsHead, c.categories, hash32(t.Category))
	}
}

// addTag adds a hash to a customer's small set unless it is there.
func (sh *shard) addTag(head, n int32, h uint32) (int32, int32) {
	for i := head; i != 0; i = sh.tags[i-1].next {
		if uint32(sh.tags[i-1].value) == h {
			return head, n
		}
	}
	sh.tags = append(sh.tags, listNode{value: int32(h), next: head})
	return int32(len(sh.tags)), n + 1
}

// hash32 folds hashID for the small per-customer sets of stores and categories.
func hash32(s string) uint32 { return uint32(hashID(s) >> 32) }

// convert applies an FX rate in millionths exactly, rounding half away from
// zero (a float product would lose cents above 2^53 micro-units).
// ok is false when the result does not fit in int64.
func convert(amount, rateMicros int64) (v int64, ok bool) {
	neg := (amount < 0) != (rateMicros < 0)
	hi, lo := bits.Mul64(absU(amount), absU(rateMicros))
	if hi >= 1_000_000 {
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, 1_000_000)
	if rem >= 500_000 {
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(q), true
	}
	return int64(q), true
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

// Merge folds b into a, shard by shard; b must not be used afterwards. It
// is how aggregates computed apart (other processes, other machines) join.
func (a *Accumulator) Merge(b *Accumulator) {
	for s := range b.shards {
		src, dst := &b.shards[s], &a.shards[s]
		for cur, n := range src.currencies {
			if d := dst.currencies[cur]; d != nil {
				*d += *n
			} else {
				dst.currencies[cur] = n
			}
		}
		dst.ignored += src.ignored
		dst.fxOverflow += src.fxOverflow
		for j := 0; j < src.accs.len(); j++ {
			id := src.ids.id(int32(j))
			h := hashID(id)
			i, found := dst.ids.find(id, h)
			sc := src.accs.at(j)
			if !found {
				i = dst.ids.insert(id, h)
				dst.accs.add(customerAcc{firstDay: math.MaxInt32, firstMicros: math.MaxInt64, lastMicros: math.MinInt64})
			}
			c := dst.accs.at(int(i))
			for k := sc.daysHead; k != 0; k = src.days[k-1].next {
				dst.days = append(dst.days, listNode{value: src.days[k-1].value, next: c.daysHead})
				c.daysHead = int32(len(dst.days))
			}
			for k := sc.storesHead; k != 0; k = src.tags[k-1].next {
				c.storesHead, c.stores = dst.addTag(c.storesHead, c.stores, uint32(src.tags[k-1].value))
			}
			for k := sc.catsHead; k != 0; k = src.tags[k-1].next {
				c.catsHead, c.categories = dst.addTag(c.catsHead, c.categories, uint32(src.tags[k-1].value))
			}
			c.firstMicros = min(c.firstMicros, sc.firstMicros)
			c.lastMicros = max(c.lastMicros, sc.lastMicros)
			switch {
			case sc.firstDay < c.firstDay:
				c.firstDay, c.firstDaySpend = sc.firstDay, sc.firstDaySpend
			case sc.firstDay == c.firstDay:
				c.firstDaySpend += sc.firstDaySpend
			}
			c.orders += sc.orders
			c.spend += sc.spend
			c.refunds += sc.refunds
			c.refundAmount += sc.refundAmount
			c.orders30 += sc.orders30
			c.orders90 += sc.orders90
			c.orders365 += sc.orders365
			c.spend30 += sc.spend30
			c.spend90 += sc.spend90
			c.spend365 += sc.spend365
			c.spendPrev90 += sc.spendPrev90
			c.holdoutOrders += sc.holdoutOrders
			c.holdoutSpend += sc.holdoutSpend
		}
	}
}

// Currencies returns the currencies seen, sorted.
func (a *Accumulator) Currencies() []string {
	seen := map[string]bool{}
	for i := range a.shards {
		for c := range a.shards[i].currencies {
			seen[c] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ErrCurrencies is returned when amounts in several currencies would be summed.
var ErrCurrencies = errors.New("several currencies")

// Finish computes the rows of every customer with a purchase on or before
// the as-of date, sorted by customer id, with RFM scores and segments.
func (a *Accumulator) Finish() (*Result, error) {
	currencies := a.Currencies()
	for s := range a.shards {
		if n := a.shards[s].fxOverflow; n > 0 {
			return nil, fmt.Errorf("%w: converting amounts with --fx overflowed for %d rows; check the rates", ErrCurrencies, n)
		}
	}
	if a.opt.FXMicros == nil && len(currencies) > 1 {
		return nil, fmt.Errorf("%w in the warehouse (%s): amounts would be summed across them; pass a rate table with --fx rates.csv", ErrCurrencies, strings.Join(currencies, ", "))
	}
	if a.opt.FXMicros != nil {
		for _, c := range currencies {
			if _, ok := a.opt.FXMicros[c]; !ok {
				return nil, fmt.Errorf("%w: no rate for %q in the rate table", ErrCurrencies, c)
			}
		}
	}
	// Rows are built shard by shard (each shard's arenas fit in cache), two
	// shards at a time, and each shard is freed once its rows exist, so the
	// peak is the rows plus a shard, not the rows plus every aggregate.
	var excluded, ignored int64
	offsets := make([]int, numShards+1)
	for s := range a.shards {
		sh := &a.shards[s]
		ignored += sh.ignored
		n := 0
		for i := 0; i < sh.accs.len(); i++ {
			if sh.accs.at(i).orders > 0 {
				n++
			}
		}
		excluded += int64(sh.accs.len() - n)
		offsets[s+1] = offsets[s] + n
	}
	rows := make([]Customer, offsets[numShards])
	var wg sync.WaitGroup
	var tracks [2]map[int32][2]int64
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var track map[int32][2]int64
			if a.opt.Tracking {
				track = map[int32][2]int64{}
				tracks[g] = track
			}
			var days []int32
			for s := g; s < numShards; s += 2 {
				sh := &a.shards[s]
				k := offsets[s]
				// The shard's ids as one string, each row's id a slice of it:
				// one allocation per shard rather than one per customer (a
				// goroutine that allocates while the collector runs must help
				// it, and with a million rows to scan that help was most of
				// the time here).
				ids := string(sh.ids.arena)
				for i := 0; i < sh.accs.len(); i++ {
					c := sh.accs.at(i)
					if c.orders == 0 {
						continue
					}
					days = days[:0]
					for n := c.daysHead; n != 0; n = sh.days[n-1].next {
						days = append(days, sh.days[n-1].value)
					}
					slices.Sort(days)
					days = slices.Compact(days)
					rows[k] = a.row(sh.ids.idIn(ids, int32(i)), c, days)
					k++
					if track != nil {
						// days are sorted and distinct: the first is the first purchase.
						for j, d := range days {
							v := track[d]
							v[min(j, 1)]++
							track[d] = v
						}
					}
				}
				sh.ids, sh.accs, sh.days, sh.tags = idTable{}, accPages{}, nil, nil
			}
		}(g)
	}
	wg.Wait()
	sortByID(rows)
	res := &Result{
		Customers:        rows,
		AsOf:             a.opt.AsOf,
		HoldoutEnd:       a.opt.HoldoutEnd,
		Unit:             a.opt.Unit,
		Currencies:       currencies,
		ExcludedNoOrders: excluded,
		RowsAfterWindow:  ignored,
	}
	table := a.opt.Segments
	if table == nil {
		table = DefaultSegments()
	}
	if a.opt.Tracking {
		res.Tracking = map[int32][2]int64{}
		for _, t := range tracks {
			for d, v := range t {
				w := res.Tracking[d]
				res.Tracking[d] = [2]int64{w[0] + v[0], w[1] + v[1]}
			}
		}
	}
	res.Cuts = ScoreRFM(rows, table)
	res.SegmentNames = table.Names()
	return res, nil
}

// sortByID sorts rows by customer id without a second copy of them: sort a
// permutation, then apply it in place by following its cycles. The
// permutation is sorted on the ids' first 16 bytes as two big-endian
// integers kept beside it (contiguous, compared without touching the rows),
// the full ids only breaking ties between longer ones; the two halves are
// sorted on both cores and merged.
func sortByID(rows []Customer) {
	type entry struct {
		hi, lo uint64
		i      int32
	}
	es := make([]entry, len(rows))
	for i := range rows {
		id := rows[i].CustomerID
		es[i] = entry{prefix8(id, 0), prefix8(id, 8), int32(i)}
	}
	cmpEntry := func(a, b entry) int {
		if a.hi != b.hi {
			return cmp.Compare(a.hi, b.hi)
		}
		if a.lo != b.lo {
			return cmp.Compare(a.lo, b.lo)
		}
		return strings.Compare(rows[a.i].CustomerID, rows[b.i].CustomerID)
	}
	half := len(es) / 2
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); slices.SortFunc(es[:half], cmpEntry) }()
	go func() { defer wg.Done(); slices.SortFunc(es[half:], cmpEntry) }()
	wg.Wait()
	perm := make([]int32, 0, len(rows))
	a, b := es[:half], es[half:]
	for len(a) > 0 && len(b) > 0 {
		if cmpEntry(a[0], b[0]) <= 0 {
			perm, a = append(perm, a[0].i), a[1:]
		} else {
			perm, b = append(perm, b[0].i), b[1:]
		}
	}
	for _, e := range a {
		perm = append(perm, e.i)
	}
	for _, e := range b {
		perm = append(perm, e.i)
	}
	es = nil
	// rows[i] must become old rows[perm[i]].
	for i := range perm {
		if perm[i] < 0 {
			continue
		}
		tmp := rows[i]
		j := i
		for {
			src := int(perm[j])
			perm[j] = -1
			if src == i {
				rows[j] = tmp
				break
			}
			rows[j] = rows[src]
			j = src
		}
	}
}

// prefix8 is bytes [from, from+8) of s as a big-endian integer, zero
// padded: comparing them compares those bytes as strings.Compare does, up
// to ties that the full strings break.
func prefix8(s string, from int) uint64 {
	var v uint64
	for k := from; k < from+8; k++ {
		v <<= 8
		if k < len(s) {
			v |= uint64(s[k])
		}
	}
	return v
}

// row finishes one customer; days are its distinct purchase days up to the
// holdout end, sorted.
func (a *Accumulator) row(id string, c *customerAcc, days []int32) Customer {
	unit := a.opt.Unit.Days()
	cal, _ := slices.BinarySearch(days, a.asOfDay+1)
	holdoutDays := len(days) - cal
	holdoutFirst := int64(0)
	if holdoutDays > 0 {
		holdoutFirst = int64(days[cal] - a.asOfDay)
	}
	days = days[:cal]
	lastDay := days[len(days)-1]
	r := Customer{
		CustomerID:         id,
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
		Orders30:           int64(c.orders30),
		Orders90:           int64(c.orders90),
		Orders365:          int64(c.orders365),
		Spend30Micros:      c.spend30,
		Spend90Micros:      c.spend90,
		Spend365Micros:     c.spend365,
		SpendTrendMicros:   c.spend90 - c.spendPrev90,
		DaysSinceLast:      int64(a.asOfDay - lastDay),
		TenureDays:         int64(a.asOfDay - c.firstDay),
		Stores:             int64(c.stores),
		Categories:         int64(c.categories),
		HoldoutOrders:      int64(c.holdoutOrders),
		HoldoutDays:        int64(holdoutDays),
		HoldoutFirst:       holdoutFirst,
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
	return r
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

// idTable maps customer ids to dense indices. Ids live in one byte arena and
// the table holds integers only: no pointer per customer for the GC to chase.
type idTable struct {
	arena  []byte
	ends   []uint32 // end offset of id i in arena; it starts at ends[i-1]
	hashes []uint64
	slots  []int32 // 1 + index, 0 = empty
}

func (t *idTable) id(i int32) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return string(t.arena[start:t.ends[i]])
}

// idIn is id i as a slice of all, a string copy of the arena.
func (t *idTable) idIn(all string, i int32) string {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return all[start:t.ends[i]]
}

func (t *idTable) equal(i int32, id string) bool {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return string(t.arena[start:t.ends[i]]) == id
}

func (t *idTable) find(id string, h uint64) (int32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for k := h & mask; ; k = (k + 1) & mask {
		v := t.slots[k]
		if v == 0 {
			return 0, false
		}
		if t.hashes[v-1] == h && t.equal(v-1, id) {
			return v - 1, true
		}
	}
}

// insert adds an id known to be absent and returns its index.
func (t *idTable) insert(id string, h uint64) int32 {
	if 10*(len(t.hashes)+1) > 7*len(t.slots) {
		t.grow()
	}
	i := int32(len(t.hashes))
	t.arena = append(t.arena, id...)
	t.ends = append(t.ends, uint32(len(t.arena)))
	t.hashes = append(t.hashes, h)
	mask := uint64(len(t.slots) - 1)
	k := h & mask
	for t.slots[k] != 0 {
		k = (k + 1) & mask
	}
	t.slots[k] = i + 1
	return i
}

func (t *idTable) grow() {
	size := 2 * len(t.slots)
	if size == 0 {
		size = 1024
	}
	t.slots = make([]int32, size)
	mask := uint64(size - 1)
	for i, h := range t.hashes {
		k := h & mask
		for t.slots[k] != 0 {
			k = (k + 1) & mask
		}
		t.slots[k] = int32(i) + 1
	}
}
