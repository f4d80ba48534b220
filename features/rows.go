package features

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// idKey is a customer's place in id order: the id's first 16 bytes as two
// big-endian integers and its length, compared without touching the
// aggregate; only ids longer than 16 bytes may need the rest to break a tie.
type idKey struct {
	hi, lo uint64
	ref    uint32 // shard << refBits | index of the aggregate in the shard
	len    uint32
}

// refBits is the width of a shard's aggregate index in idKey.ref: up to
// 2²⁶ customers a shard, 2³² in all.
const refBits = 26

func (k idKey) shard() int { return int(k.ref >> refBits) }
func (k idKey) index() int { return int(k.ref & (1<<refBits - 1)) }

// Stream finishes the aggregate without materialising its rows: it returns
// the result (with Count, not Customers) and the rows to iterate in id order.
// The accumulator takes no more transactions afterwards.
func (a *Accumulator) Stream() (*Result, *Rows, error) {
	if a.finished {
		return nil, nil, errors.New("features: accumulator finished twice")
	}
	currencies := a.Currencies()
	for s := range a.shards {
		sh := &a.shards[s]
		if sh.fxOverflow > 0 {
			return nil, nil, fmt.Errorf("%w: converting amounts with --fx overflowed for %d rows; check the rates", ErrCurrencies, sh.fxOverflow)
		}
		if sh.overflow > 0 {
			return nil, nil, fmt.Errorf("a customer has more than %d purchases; features cannot count them", math.MaxInt32)
		}
	}
	if a.opt.FXMicros == nil && len(currencies) > 1 {
		return nil, nil, fmt.Errorf("%w in the warehouse (%s): amounts would be summed across them; pass a rate table with --fx rates.csv", ErrCurrencies, strings.Join(currencies, ", "))
	}
	if a.opt.FXMicros != nil {
		for _, c := range currencies {
			if _, ok := a.opt.FXMicros[c]; !ok {
				return nil, nil, fmt.Errorf("%w: no rate for %q in the rate table", ErrCurrencies, c)
			}
		}
	}
	table := a.opt.Segments
	if table == nil {
		table = DefaultSegments()
	}
	for s := range a.shards {
		if n := a.shards[s].accs.len(); n > 1<<refBits {
			return nil, nil, fmt.Errorf("features: %d customers in one shard; an aggregate holds at most %d in all", n, numShards<<refBits)
		}
	}
	// No more lookups: free the id tables' slots (64 MB for 3 million
	// customers) before the rows' keys and R, F, M values are allocated.
	a.finished = true
	for s := range a.shards {
		a.shards[s].ids.slots = nil
	}
	// Each shard, on every core: fold the last months, and note the key and
	// the R, F and M values of each customer with a purchase.
	total := 0
	offsets := make([]int, numShards+1)
	for s := range a.shards {
		total += a.shards[s].accs.len()
		offsets[s+1] = total
	}
	keys := make([]idKey, total)
	var rfm [3][]int64
	for k := range rfm {
		rfm[k] = make([]int64, total)
	}
	counts := make([]int, numShards)
	var next atomic.Int32
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := int(next.Add(1)) - 1; s < numShards; s = int(next.Add(1)) - 1 {
				lo, hi := offsets[s], offsets[s+1]
				counts[s] = a.finishShard(s, keys[lo:hi], rfm[0][lo:hi], rfm[1][lo:hi], rfm[2][lo:hi])
			}
		}()
	}
	wg.Wait()
	// Close the gaps left by customers without a purchase.
	n := 0
	for s := range a.shards {
		copy(keys[n:], keys[offsets[s]:offsets[s]+counts[s]])
		for k := range rfm {
			copy(rfm[k][n:], rfm[k][offsets[s]:offsets[s]+counts[s]])
		}
		n += counts[s]
	}
	keys = keys[:n]
	// The keys into id order and the R, F, M values into quintiles, at once.
	rows := &Rows{a: a, keys: keys, table: table}
	q := &rows.q
	for k := range rfm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q[k] = quintilesOf(rfm[k][:n])
		}()
	}
	a.sortKeys(keys, &wg)
	wg.Wait()
	res := &Result{
		AsOf:             a.opt.AsOf,
		HoldoutEnd:       a.opt.HoldoutEnd,
		Unit:             a.opt.Unit,
		Currencies:       currencies,
		Count:            n,
		SegmentNames:     table.Names(),
		ExcludedNoOrders: int64(total - n),
		Cuts: RFMCuts{
			RecencyDays: q[0].ranges(func(v int64) float64 { return float64(-v) }),
			Orders:      q[1].ranges(func(v int64) float64 { return float64(v) }),
			Spend:       q[2].ranges(func(v int64) float64 { return float64(v) / 1e6 }),
		},
	}
	for s := range a.shards {
		res.RowsAfterWindow += a.shards[s].ignored
	}
	if a.opt.Tracking {
		res.Tracking = map[int32][2]int64{}
		for s := range a.shards {
			for d, v := range a.shards[s].track {
				w := res.Tracking[d]
				res.Tracking[d] = [2]int64{w[0] + v[0], w[1] + v[1]}
			}
		}
	}
	return res, rows, nil
}

// finishShard folds the last month of every customer of shard s, and writes
// the key and the R (last purchase day − D), F (orders) and M (spend) values
// of those with a purchase up to D; it returns how many there are.
func (a *Accumulator) finishShard(s int, keys []idKey, r, f, m []int64) int {
	sh := &a.shards[s]
	k := 0
	for i := 0; i < sh.accs.len(); i++ {
		c := sh.accs.at(i)
		a.fold(sh, c, int32(i))
		if c.orders == 0 {
			continue
		}
		r[k], f[k], m[k] = int64(DayOf(c.lastMicros, a.loc)-a.asOfDay), int64(c.orders), c.spend
		keys[k] = idKey{binary.BigEndian.Uint64(c.idHead[:8]), binary.BigEndian.Uint64(c.idHead[8:]), uint32(s)<<refBits | uint32(i), c.idLen}
		k++
	}
	return k
}

// sortKeys puts keys in id order (strings.Compare of the ids) by an
// in-place MSD radix sort on the ids' first 16 bytes (American flag sort):
// a pass per byte that tells the keys apart, none for bytes they share
// (prefixes, zero padding). Parts of at least parallelSort keys are sorted
// on goroutines of their own, counted in wg. Keys that share all 16 bytes,
// and small parts, are sorted by comparing.
func (a *Accumulator) sortKeys(keys []idKey, wg *sync.WaitGroup) {
	d := 0
	for len(keys) > 32 && d < 16 {
		var count [256]int
		for i := range keys {
			count[keyByte(&keys[i], d)]++
		}
		if count[keyByte(&keys[0], d)] == len(keys) {
			d++
			continue
		}
		var next, end [256]int
		sum := 0
		for b, c := range count {
			next[b] = sum
			sum += c
			end[b] = sum
		}
		// Every key goes to its byte's part by a cycle of swaps; a part's
		// keys before its next position are in place.
		for b := range 256 {
			for next[b] < end[b] {
				k := keys[next[b]]
				for kb := keyByte(&k, d); int(kb) != b; kb = keyByte(&k, d) {
					keys[next[kb]], k = k, keys[next[kb]]
					next[kb]++
				}
				keys[next[b]] = k
				next[b]++
			}
		}
		lo := 0
		for _, hi := range end {
			part := keys[lo:hi]
			lo = hi
			switch {
			case len(part) < 2:
			case len(part) >= parallelSort:
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.sortKeys(part, wg)
				}()
			default:
				a.sortKeys(part, wg)
			}
		}
		return
	}
	slices.SortFunc(keys, a.cmpKeys)
}

// parallelSort is the smallest part of the keys sortKeys gives a goroutine.
var parallelSort = 1 << 15

// keyByte is byte d (0–15) of the id prefix of k.
func keyByte(k *idKey, d int) uint8 {
	if d < 8 {
		return uint8(k.hi >> (56 - 8*d))
	}
	return uint8(k.lo >> (120 - 8*d))
}

// cmpKeys compares the ids of two keys.
func (a *Accumulator) cmpKeys(x, y idKey) int {
	if c := cmpPrefix(x, y); c != 0 {
		return c
	}
	if x.len <= 16 || y.len <= 16 {
		// Equal first 16 bytes: the shorter id is a prefix of the longer.
		return cmp.Compare(x.len, y.len)
	}
	return bytes.Compare(a.tail(x), a.tail(y))
}

// tail is the bytes after the 16th of a key's id, longer than 16 bytes.
func (a *Accumulator) tail(k idKey) []byte {
	sh := &a.shards[k.shard()]
	c := sh.accs.at(k.index())
	return sh.ids.arena[c.idTail : c.idTail+c.idLen-16]
}

// cmpPrefix compares two ids by their first 16 bytes (0: a tie that the
// full ids break).
func cmpPrefix(x, y idKey) int {
	if x.hi != y.hi {
		return cmp.Compare(x.hi, y.hi)
	}
	return cmp.Compare(x.lo, y.lo)
}

// Rows are a finished aggregate's rows, in customer id order.
type Rows struct {
	a     *Accumulator
	keys  []idKey // sorted
	q     [3]quintiles
	table *SegmentTable
	sink  int64 // keeps build's loads
}

// rowChunk is how many rows Each hands over at a time.
const rowChunk = 4096

// Each calls fn with the rows in id order, a chunk at a time; the chunk is
// reused once fn returns. The chunks are built on every core, a few ahead
// of fn, which runs on the caller's goroutine.
func (r *Rows) Each(fn func(rows []Customer) error) error {
	workers := runtime.GOMAXPROCS(0)
	depth := 2 * workers // chunks built or being built ahead of fn
	type job struct {
		keys []idKey
		out  chan []Customer
	}
	jobs := make(chan job)
	free := make(chan []Customer, depth)
	for range depth {
		free <- make([]Customer, 0, rowChunk)
	}
	var sink atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s int64
			for j := range jobs {
				j.out <- r.build((<-free)[:0], j.keys, &s)
			}
			sink.Add(s)
		}()
	}
	var pending []chan []Customer // in row order
	var err error
	for next := 0; err == nil && (next < len(r.keys) || len(pending) > 0); {
		for len(pending) < depth && next < len(r.keys) {
			end := min(next+rowChunk, len(r.keys))
			out := make(chan []Customer, 1)
			jobs <- job{r.keys[next:end], out}
			pending = append(pending, out)
			next = end
		}
		chunk := <-pending[0]
		pending = pending[1:]
		err = fn(chunk)
		free <- chunk
	}
	close(jobs)
	for _, out := range pending {
		free <- <-out
	}
	wg.Wait()
	r.sink = sink.Load()
	return err
}

// MakeCustomers makes n zero rows, asking the kernel for 2 MiB pages
// (transparent huge pages are commonly "madvise" only): filling millions of
// rows in fresh memory otherwise takes a page fault per 4 KiB, which on a
// virtual machine cost as much as building the rows.
func MakeCustomers(n int) []Customer {
	out := make([]Customer, n)
	adviseHugePages(out)
	return out
}

// All builds every row into one slice, in id order, on every core: each
// chunk is built in its place (copying built rows into the slice took as
// long as building them).
func (r *Rows) All() []Customer {
	out := MakeCustomers(len(r.keys))
	var next, sink atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s int64
			for {
				lo := int(next.Add(rowChunk)) - rowChunk
				if lo >= len(r.keys) {
					break
				}
				hi := min(lo+rowChunk, len(r.keys))
				r.build(out[lo:lo:hi], r.keys[lo:hi], &s)
			}
			sink.Add(s)
		}()
	}
	wg.Wait()
	r.sink = sink.Load()
	return out
}

// build appends the rows of keys to dst. The ids of the chunk are one
// string, so a row's id costs no allocation of its own.
func (r *Rows) build(dst []Customer, keys []idKey, sink *int64) []Customer {
	a := r.a
	size := 0
	for _, k := range keys {
		size += int(k.len)
	}
	b := make([]byte, 0, size)
	var head [16]byte
	for _, k := range keys {
		if k.len <= 16 {
			binary.BigEndian.PutUint64(head[:8], k.hi)
			binary.BigEndian.PutUint64(head[8:], k.lo)
			b = append(b, head[:k.len]...)
		} else {
			sh := &a.shards[k.shard()]
			b = sh.appendID(b, sh.accs.at(k.index()))
		}
	}
	ids := string(b)
	// Rows are built in runs of a few hundred customers: their aggregates
	// are loaded first, in one pass of independent loads that the
	// processor overlaps, then read in cache.
	const run = 256
	end := 0
	for lo := 0; lo < len(keys); lo += run {
		hi := min(lo+run, len(keys))
		for _, k := range keys[lo:hi] {
			c := a.shards[k.shard()].accs.at(k.index())
			*sink += c.firstMicros + int64(c.days)
		}
		for _, k := range keys[lo:hi] {
			sh := &a.shards[k.shard()]
			idx := k.index()
			var tags tagSets
			if idx < sh.tagSets.len() {
				tags = *sh.tagSets.at(idx)
			}
			start := end
			end += int(k.len)
			dst = append(dst, a.row(ids[start:end], sh.accs.at(idx), sh.extrasOf(idx), tags, &r.q, r.table))
		}
	}
	return dst
}

// row finishes one customer whose months are all folded.
func (a *Accumulator) row(id string, c *customerAcc, e extras, tags tagSets, q *[3]quintiles, table *SegmentTable) Customer {
	unit := a.opt.Unit.Days()
	lastDay := DayOf(c.lastMicros, a.loc)
	r := Customer{
		CustomerID:          id,
		FirstPurchaseMicros: c.firstMicros,
		LastPurchaseMicros:  c.lastMicros,
		Orders:              c.orders,
		Frequency:           c.days - 1,
		Recency:             float64(lastDay-c.firstDay) / unit,
		T:                   float64(a.asOfDay-c.firstDay) / unit,
		TotalSpendMicros:    c.spend,
		NetSpendMicros:      c.spend - e.refundAmount,
		Refunds:             e.refunds,
		RefundAmountMicros:  e.refundAmount,
		Orders30:            c.orders30,
		Orders90:            c.orders90,
		Orders365:           c.orders365,
		Spend30Micros:       c.spend30,
		Spend90Micros:       c.spend90,
		Spend365Micros:      c.spend365,
		SpendTrendMicros:    c.spend90 - c.spendPrev90,
		DaysSinceLast:       a.asOfDay - lastDay,
		TenureDays:          a.asOfDay - c.firstDay,
		Stores:              int32(tags.stores),
		Categories:          int32(tags.categories),
		HoldoutOrders:       e.holdoutOrders,
		HoldoutDays:         e.holdoutDays,
		HoldoutSpendMicros:  e.holdoutSpend,
	}
	if e.holdoutDays > 0 {
		r.HoldoutFirst = e.holdoutFirst - a.asOfDay
	}
	r.MonetaryAvg = float64(c.spend) / float64(c.orders) / 1e6
	if r.Frequency > 0 {
		n := float64(r.Frequency)
		r.MonetaryValue = float64(c.spend-c.firstDaySpend) / n / 1e6
		// The gaps between consecutive purchase days sum to last − first.
		r.GapMeanDays = float64(lastDay-c.firstDay) / n
		r.GapStdDays = math.Sqrt(math.Max(0, float64(c.gapSq)/n-r.GapMeanDays*r.GapMeanDays))
	}
	rs, fs, ms := q[0].score(int64(lastDay-a.asOfDay)), q[1].score(int64(c.orders)), q[2].score(c.spend)
	r.RScore, r.FScore, r.MScore = int8(rs), int8(fs), int8(ms)
	r.Segment = table.Segment(rs, fs, ms)
	return r
}
