// Package features turns transactions into one row of features per customer:
// the BTYD summary (frequency x, recency t_x, age T, monetary value), RFM
// scores and segments, and the windows and trends a churn model needs.
//
// Every feature is a GROUP BY customer over transactions: an Accumulator
// adds transactions, merges with another Accumulator, and finishes into
// rows, so the same code runs on one core, on two, or on shards of a cluster.
//
// Each customer's running aggregate has a fixed size, whatever the number of
// transactions: purchase days are kept as a bit mask over one UTC month and
// folded into counts and sums when the customer's next month begins. That is
// why transactions must come month by month (in order of UTC month, in any
// order within a month), as the warehouse scan delivers them.
package features

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
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
	// ExpectedCustomers, if known, sizes the id tables once instead of
	// doubling them as customers arrive (a guess: too low costs a doubling,
	// too high some idle slots).
	ExpectedCustomers int
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

// ErrOrder is returned when a customer's purchase comes after one of a later
// UTC month, or when merged aggregates share a customer.
var ErrOrder = errors.New("transactions out of month order")

// customerAcc is the running aggregate of one customer: fixed size (136
// bytes), no Go pointers (so millions of them cost the garbage collector
// nothing). What most customers never need — refunds, the holdout window,
// stores and categories — is kept beside it, once used (extras, tagSets).
// The last purchase day is not kept: it is the day of lastMicros.
type customerAcc struct {
	idHead        [16]byte // the id's first 16 bytes, zero padded
	idLen         uint32
	idTail        uint32 // offset in the shard's arena of the id's bytes after the 16th
	firstMicros   int64  // first purchase up to D
	lastMicros    int64  // last purchase up to D
	mask          uint64 // purchase days (to the holdout end) of month maskMonth: bit k = day monthStart−1+k
	spend         int64
	firstDaySpend int64
	spend30       int64
	spend90       int64
	spend365      int64
	spendPrev90   int64 // days (D-180, D-90]
	gapSq         int64 // Σ over consecutive distinct purchase days up to D of (gap in days)²
	maskMonth     int32 // UTC month (year·12 + month − 1) of mask; monthNone before the first purchase
	firstDay      int32 // first purchase day up to D
	lastFolded    int32 // the latest purchase day folded out of a mask (to the holdout end)
	orders        int32
	orders30      int32
	orders90      int32
	orders365     int32
	days          int32 // distinct purchase days up to D, folded so far
}

// extras are the parts of a customer's aggregate that most customers never
// need: refunds, and purchases in the holdout window.
type extras struct {
	refundAmount  int64 // sum of refunds up to D, as a positive amount
	holdoutSpend  int64
	refunds       int32
	holdoutOrders int32
	holdoutDays   int32 // distinct purchase days in the holdout, folded so far
	holdoutFirst  int32 // first purchase day in the holdout
}

const monthNone = math.MinInt32

func newCustomerAcc() customerAcc {
	return customerAcc{firstDay: math.MaxInt32, firstMicros: math.MaxInt64, lastMicros: math.MinInt64,
		maskMonth: monthNone, lastFolded: math.MinInt32}
}

// listNode links the store or category hashes of one customer.
type listNode struct {
	value uint32 // a 32-bit hash
	next  int32  // 1 + index of the next node, 0 = end
}

// tagSets are a customer's distinct stores and categories: list heads and counts.
type tagSets struct {
	storesHead, catsHead int32
	stores, categories   int32
}

// numShards splits customers by the hash of their id, so workers adding
// batches at once rarely wait for each other, and no merge is needed.
const numShards = 64

// shard is the aggregate of the customers whose id hashes to it.
type shard struct {
	mu           sync.Mutex
	ids          idTable // id → index in accs
	accs         pages[customerAcc]
	tagSets      pages[tagSets] // one per customer, once a store or category is seen
	extras       pages[extras]  // one per customer, once a refund or holdout purchase is seen
	tags         []listNode
	currencies   map[string]*int64 // currency → rows
	lastCurrency string            // the currency of the shard's last row
	lastCount    *int64            // its count in currencies
	ignored      int64             // rows after the holdout end (or D)
	fxOverflow   int64             // rows whose converted amount does not fit
	overflow     int64             // rows beyond a customer's 2³¹−1 purchases
	track        map[int32][2]int64
	sink         uint64 // keeps warm's loads
}

// Accumulator aggregates transactions per customer. Add is for one
// goroutine; AddRecord may be called from several at once.
type Accumulator struct {
	opt        Options
	loc        *time.Location
	asOfDay    int32
	holdoutDay int32 // last holdout day, or asOfDay when there is none
	shards     [numShards]shard
	finished   bool // Stream (or Finish) ran: no more transactions
}

var errFinished = errors.New("features: transaction added to a finished accumulator")

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
		if opt.Tracking {
			a.shards[i].track = map[int32][2]int64{}
		}
		if opt.ExpectedCustomers > 0 {
			a.shards[i].ids.slots = make([]uint64, slotsFor(opt.ExpectedCustomers/numShards))
		}
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
		return int32(floorDiv(micros, microsPerDay))
	}
	t := time.UnixMicro(micros).In(loc)
	_, off := t.Zone()
	return int32(floorDiv(micros+int64(off)*1_000_000, microsPerDay))
}

const microsPerDay = 86_400_000_000

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// monthCache maps UTC days to UTC months (year·12 + month − 1) for a run of
// days in one month, the common case of a batch; lo is the month's first day.
type monthCache struct{ lo, hi, month int32 }

func (m *monthCache) of(utcDay int32) int32 {
	if utcDay < m.lo || utcDay >= m.hi {
		m.month = MonthOfDay(utcDay)
		m.lo, m.hi = MonthStart(m.month), MonthStart(m.month+1)
	}
	return m.month
}

// MonthOfDay is the month index (year·12 + month − 1) of a day number (days
// since 1970-01-01), by integer arithmetic: civil-from-days, proleptic
// Gregorian, the inverse of MonthStart.
func MonthOfDay(day int32) int32 {
	z := int64(day) + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153 // month from March = 0
	y, m := yoe+era*400, mp+3
	if mp >= 10 {
		y, m = y+1, mp-9
	}
	return int32(y*12 + m - 1)
}

// MonthStart is the day number (days since 1970-01-01) of the first day of
// a month index (year·12 + month − 1): days-from-civil, proleptic Gregorian.
func MonthStart(month int32) int32 {
	y := floorDiv(int64(month), 12)
	m := int64(month) - 12*y + 1
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	doy := (153*((m+9)%12) + 2) / 5 // day of the year from 1 March
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// hashID is 64-bit FNV-1a of a customer id: its top bits pick the shard.
func hashID[ID string | []byte](id ID) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	// FNV's multiply carries a last byte's change only upwards, and weakly
	// into the middle bits the table's homes are taken from: consecutive ids
	// would crowd the same slots. A finaliser (SplitMix64's) spreads it.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	return h
}

func shardOf(h uint64) int { return int(h >> 58) }

// Add folds one transaction into the aggregate. A customer's purchases must
// come month by month (see the package comment); one of an earlier UTC
// month than a purchase already added is refused with ErrOrder.
func (a *Accumulator) Add(t Transaction) error {
	if a.finished {
		return errFinished
	}
	h := hashID(t.CustomerID)
	var mc monthCache
	return a.add(&a.shards[shardOf(h)], &t, h, &mc)
}

// add folds t into sh; the caller holds sh's lock or is the only writer.
func (a *Accumulator) add(sh *shard, t *Transaction, h uint64, mc *monthCache) error {
	day := DayOf(t.TimeMicros, a.loc)
	if day > a.holdoutDay {
		sh.ignored++
		return nil
	}
	// Assigning to an existing string key replaces the stored key, and the
	// batch's strings are recycled after the batch: count through a pointer,
	// the last currency's kept at hand (rows rarely change currency).
	if sh.lastCount == nil || t.Currency != sh.lastCurrency {
		key := strings.Clone(t.Currency)
		n := sh.currencies[key]
		if n == nil {
			n = new(int64)
			sh.currencies[key] = n
		}
		sh.lastCurrency, sh.lastCount = key, n
	}
	*sh.lastCount++
	i, found := sh.find(t.CustomerID, h)
	if !found {
		i = sh.insert(t.CustomerID, h, newCustomerAcc())
	}
	c := sh.accs.at(int(i))
	amount := t.AmountMicros
	if a.opt.FXMicros != nil {
		var ok bool
		if amount, ok = convert(amount, a.opt.FXMicros[t.Currency]); !ok {
			sh.fxOverflow++
			return nil
		}
	}
	if amount < 0 {
		if day <= a.asOfDay {
			e := sh.extra(i)
			e.refunds++
			e.refundAmount -= amount
		}
		return nil
	}
	var hold *extras // the extras of a holdout purchase
	count := &c.orders
	if day > a.asOfDay {
		hold = sh.extra(i)
		count = &hold.holdoutOrders
	}
	if *count == math.MaxInt32 {
		sh.overflow++
		return nil
	}
	// The purchase day goes into the month's mask; a new month folds the last.
	month := mc.of(int32(floorDiv(t.TimeMicros, microsPerDay)))
	if month != c.maskMonth {
		if month < c.maskMonth {
			return fmt.Errorf("%w: customer %q has a purchase on %s after one in a later month (the accumulator takes transactions month by month)",
				ErrOrder, t.CustomerID, time.UnixMicro(t.TimeMicros).UTC().Format(time.RFC3339))
		}
		a.fold(sh, c, i)
		c.maskMonth = month
	}
	c.mask |= 1 << uint(day-mc.lo+1) // a local day is within a day of its UTC day
	if hold != nil {
		hold.holdoutOrders++
		hold.holdoutSpend += amount
		return nil
	}
	c.orders++
	c.spend += amount
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
	if t.Store != "" || t.Category != "" {
		for sh.tagSets.len() <= int(i) {
			sh.tagSets.add(tagSets{})
		}
		ts := sh.tagSets.at(int(i))
		if t.Store != "" {
			ts.storesHead, ts.stores = sh.addTag(ts.storesHead, ts.stores, hash32(t.Store))
		}
		if t.Category != "" {
			ts.catsHead, ts.categories = sh.addTag(ts.catsHead, ts.categories, hash32(t.Category))
		}
	}
	return nil
}

// fold moves the days of c's mask into its counts, in day order: distinct
// days, the squares of the gaps between them, the holdout days. A day equal
// to the last one folded (a local day that spans two UTC months) counts once.
func (a *Accumulator) fold(sh *shard, c *customerAcc, i int32) {
	if c.mask == 0 {
		return
	}
	base := MonthStart(c.maskMonth) - 1
	for m := c.mask; m != 0; m &= m - 1 {
		day := base + int32(bits.TrailingZeros64(m))
		if day == c.lastFolded {
			continue
		}
		if day > a.asOfDay {
			e := sh.extra(i)
			if e.holdoutDays == 0 {
				e.holdoutFirst = day
			}
			e.holdoutDays++
			if sh.track != nil && c.days > 0 {
				sh.trackDay(day, 1)
			}
		} else {
			if c.days > 0 {
				g := int64(day - c.lastFolded)
				c.gapSq += g * g
			}
			if sh.track != nil {
				sh.trackDay(day, min(int(c.days), 1))
			}
			c.days++
		}
		c.lastFolded = day
	}
	c.mask = 0
}

// extra returns the extras of customer i, making room for them.
func (sh *shard) extra(i int32) *extras {
	for sh.extras.len() <= int(i) {
		sh.extras.add(extras{})
	}
	return sh.extras.at(int(i))
}

// extrasOf returns the extras of customer i (zero when there are none).
func (sh *shard) extrasOf(i int) extras {
	if i < sh.extras.len() {
		return *sh.extras.at(i)
	}
	return extras{}
}

// trackDay counts a first purchase day (k = 0) or a repeat one (k = 1).
func (sh *shard) trackDay(day int32, k int) {
	v := sh.track[day]
	v[k]++
	sh.track[day] = v
}

// addTag adds a hash to a customer's small set unless it is there.
func (sh *shard) addTag(head, n int32, h uint32) (int32, int32) {
	for i := head; i != 0; i = sh.tags[i-1].next {
		if sh.tags[i-1].value == h {
			return head, n
		}
	}
	sh.tags = append(sh.tags, listNode{value: h, next: head})
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

// Merge folds b into a; b must not be used afterwards. It joins aggregates of
// disjoint sets of customers — computed apart, on other processes or
// machines, from transactions split by customer as the shards split them. A
// customer in both is refused with ErrOrder: its purchase days were folded
// apart and cannot be joined exactly. Both must have the same Options.
func (a *Accumulator) Merge(b *Accumulator) error {
	if a.finished || b.finished {
		return errFinished
	}
	for s := range b.shards {
		src, dst := &b.shards[s], &a.shards[s]
		for j := 0; j < src.accs.len(); j++ {
			id := src.id(int32(j))
			if _, found := dst.find(id, hashID(id)); found {
				return fmt.Errorf("%w: merge: customer %q is in both aggregates (merge aggregates of disjoint customers)", ErrOrder, id)
			}
		}
	}
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
		dst.overflow += src.overflow
		for d, v := range src.track {
			w := dst.track[d]
			dst.track[d] = [2]int64{w[0] + v[0], w[1] + v[1]}
		}
		for j := 0; j < src.accs.len(); j++ {
			id := src.id(int32(j))
			i := dst.insert(id, hashID(id), *src.accs.at(j))
			if j < src.extras.len() {
				*dst.extra(i) = *src.extras.at(j)
			}
			if j < src.tagSets.len() {
				ts := *src.tagSets.at(j)
				for dst.tagSets.len() <= int(i) {
					dst.tagSets.add(tagSets{})
				}
				nt := dst.tagSets.at(int(i))
				for k := ts.storesHead; k != 0; k = src.tags[k-1].next {
					nt.storesHead, nt.stores = dst.addTag(nt.storesHead, nt.stores, src.tags[k-1].value)
				}
				for k := ts.catsHead; k != 0; k = src.tags[k-1].next {
					nt.catsHead, nt.categories = dst.addTag(nt.catsHead, nt.categories, src.tags[k-1].value)
				}
			}
		}
	}
	return nil
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
	res, rows, err := a.Stream()
	if err != nil {
		return nil, err
	}
	res.Customers = rows.All()
	return res, nil
}

// pages store values in fixed pages, so growing to millions never copies
// the ones already there.
type pages[T any] struct {
	pages [][]T
	n     int
}

// pageSize is the values of one page: 16Ki aggregates are 2.2 MB, so each
// page is backed by a huge page (adviseHugePages), and reading the
// aggregates in id order, which jumps between pages, misses the TLB far
// less.
const pageSize = 16 * 1024

func (p *pages[T]) len() int { return p.n }

func (p *pages[T]) at(i int) *T { return &p.pages[i/pageSize][i%pageSize] }

func (p *pages[T]) add(v T) {
	if p.n%pageSize == 0 {
		page := make([]T, pageSize)
		adviseHugePages(page)
		p.pages = append(p.pages, page[:0])
	}
	last := &p.pages[len(p.pages)-1]
	*last = append(*last, v)
	p.n++
}

// idTable maps customer ids to indices in the shard's accs. It holds
// integers only, no pointer per customer for the GC to chase. A slot holds
// 32 bits of the id's hash beside the index, so a probe that meets another id
// rarely looks further; the id itself is in the aggregate (its first 16
// bytes) and the arena (the rest), so a match costs no extra memory access
// for ids of up to 16 bytes.
type idTable struct {
	slots []uint64 // hash bits 26–57 << 32 | (1 + index); 0 = empty
	arena []byte   // bytes after the 16th of the longer ids
}

func slotTag(h uint64) uint64 { return (h >> 26) << 32 }

// home is the first slot an id's probe looks at. It is taken from the
// tag's bits, so that growing the table can place every slot again from
// the slot alone, without reading or hashing the id.
func home(h uint64, mask uint64) uint64 { return (h >> 26) & mask }

// idIs reports whether c's id is id.
func (sh *shard) idIs(c *customerAcc, id string) bool {
	if int(c.idLen) != len(id) {
		return false
	}
	if len(id) <= 16 {
		return string(c.idHead[:len(id)]) == id
	}
	return string(c.idHead[:]) == id[:16] && string(sh.ids.arena[c.idTail:int(c.idTail)+len(id)-16]) == id[16:]
}

// appendID appends c's id to b.
func (sh *shard) appendID(b []byte, c *customerAcc) []byte {
	if c.idLen <= 16 {
		return append(b, c.idHead[:c.idLen]...)
	}
	b = append(b, c.idHead[:]...)
	return append(b, sh.ids.arena[c.idTail:c.idTail+c.idLen-16]...)
}

// id is the id of customer i, as a new string.
func (sh *shard) id(i int32) string { return string(sh.appendID(nil, sh.accs.at(int(i)))) }

func (sh *shard) find(id string, h uint64) (int32, bool) {
	t := &sh.ids
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	tag := slotTag(h)
	for k := home(h, mask); ; k = (k + 1) & mask {
		v := t.slots[k]
		if v == 0 {
			return 0, false
		}
		if v&^(1<<32-1) == tag {
			i := int32(uint32(v)) - 1
			if sh.idIs(sh.accs.at(int(i)), id) {
				return i, true
			}
		}
	}
}

// insert adds the aggregate c of an id known to be absent, and returns its index.
func (sh *shard) insert(id string, h uint64, c customerAcc) int32 {
	t := &sh.ids
	if 10*(sh.accs.len()+1) > 7*len(t.slots) {
		sh.grow()
	}
	copy(c.idHead[:], id)
	c.idLen = uint32(len(id))
	if len(id) > 16 {
		c.idTail = uint32(len(t.arena))
		t.arena = append(t.arena, id[16:]...)
	}
	i := int32(sh.accs.len())
	sh.accs.add(c)
	t.place(h, i)
	return i
}

// slotsFor is the table size for n ids at a load of at most 0.7.
func slotsFor(n int) int {
	size := 1024
	for 10*n > 7*size {
		size <<= 1
	}
	return size
}

func (t *idTable) place(h uint64, i int32) {
	t.put(slotTag(h) | uint64(i+1))
}

// put stores a slot value at the first free slot from its home.
func (t *idTable) put(v uint64) {
	mask := uint64(len(t.slots) - 1)
	k := (v >> 32) & mask // home(h, mask): the tag is h >> 26
	for t.slots[k] != 0 {
		k = (k + 1) & mask
	}
	t.slots[k] = v
}

// grow doubles the slots and puts every slot value again. The values hold
// the bits their home is made of, so no id is read: one shard's table fits
// in the cache, and growing costs next to nothing.
func (sh *shard) grow() {
	t := &sh.ids
	old := t.slots
	size := 2 * len(old)
	if size == 0 {
		size = 1024
	}
	t.slots = make([]uint64, size)
	for _, v := range old {
		if v != 0 {
			t.put(v)
		}
	}
}
