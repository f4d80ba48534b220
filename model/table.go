package model

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
)

// table is a fit's patterns prepared for many likelihood evaluations. Real
// summaries have few distinct ages T and recencies t_x (they are whole days),
// so each is listed once and the patterns point at it: an evaluation takes
// the logarithms of α + T and α + t_x once per distinct value instead of
// once per pattern.
type table struct {
	ps    []Pattern // sorted by (x, t_x, T)
	runs  []xRun    // the patterns of each distinct x
	ts    []float64 // distinct T, in the fit's time scale
	txs   []float64 // distinct t_x, in the fit's time scale
	tIdx  []int32   // per pattern: its T in ts
	txIdx []int32   // per pattern: its t_x in txs
}

// xRun is the patterns ps[lo:hi], which share x and hold count customers.
type xRun struct {
	x      float64
	lo, hi int
	count  float64
}

// newTable indexes patterns sorted by (x, t_x, T); times are multiplied by
// scale (the fitter's rescaling, which leaves the optimum unchanged).
func newTable(ps []Pattern, scale float64) *table {
	tb := &table{ps: ps, tIdx: make([]int32, len(ps)), txIdx: make([]int32, len(ps))}
	var tOf, txOf floatIndex
	lastTX, lastTXIdx := -1.0, int32(-1)
	for i, p := range ps {
		if i == 0 || p.X != ps[i-1].X {
			tb.runs = append(tb.runs, xRun{x: p.X, lo: i})
		}
		run := &tb.runs[len(tb.runs)-1]
		run.hi, run.count = i+1, run.count+p.Count
		j, added := tOf.index(p.T)
		if added {
			tb.ts = append(tb.ts, p.T*scale)
		}
		tb.tIdx[i] = j
		if p.TX != lastTX { // t_x is sorted within a run of x
			k, added := txOf.index(p.TX)
			if added {
				tb.txs = append(tb.txs, p.TX*scale)
			}
			lastTX, lastTXIdx = p.TX, k
		}
		tb.txIdx[i] = lastTXIdx
	}
	return tb
}

// floatIndex numbers distinct float64 values in first-seen order: an
// open-addressing table on the values' bits, small enough for the few
// hundred distinct days of a fit to stay in the first-level cache.
type floatIndex struct {
	shift uint // 64 − log2(len(keys)): Fibonacci hashing takes the top bits
	keys  []uint64
	vals  []int32  // number + 1; 0 is an empty slot
	order []uint64 // the keys by number
}

// index returns v's number and whether v was new.
func (f *floatIndex) index(v float64) (int32, bool) {
	if 2*(len(f.order)+1) > len(f.keys) {
		f.grow()
	}
	k := math.Float64bits(v)
	mask := uint64(len(f.keys) - 1)
	for h := (k * 0x9E3779B97F4A7C15) >> f.shift; ; h = (h + 1) & mask {
		switch {
		case f.vals[h] == 0:
			f.order = append(f.order, k)
			f.keys[h], f.vals[h] = k, int32(len(f.order))
			return int32(len(f.order) - 1), true
		case f.keys[h] == k:
			return f.vals[h] - 1, false
		}
	}
}

// grow doubles the table, keeping every value's number.
func (f *floatIndex) grow() {
	size := max(64, 2*len(f.keys))
	f.keys, f.vals = make([]uint64, size), make([]int32, size)
	f.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := uint64(size - 1)
	for n, k := range f.order {
		h := (k * 0x9E3779B97F4A7C15) >> f.shift
		for f.vals[h] != 0 {
			h = (h + 1) & mask
		}
		f.keys[h], f.vals[h] = k, int32(n+1)
	}
}

// sample is a table of every k-th pattern (with its count): a cheap problem
// whose optimum is close to the full one, to start the full fit from.
func (tb *table) sample(k int, scale float64) *table {
	ps := make([]Pattern, 0, len(tb.ps)/k+1)
	for i := 0; i < len(tb.ps); i += k {
		ps = append(ps, tb.ps[i])
	}
	return newTable(ps, scale)
}

// customers is the number of customers in the table.
func (tb *table) customers() float64 {
	var n float64
	for _, r := range tb.runs {
		n += r.count
	}
	return n
}

// sums is one worker's share of Σ count · LL, its gradient and its Hessian
// (upper triangle, row by row) in the natural parameters.
type sums struct {
	ll float64
	g  [4]float64
	h  [10]float64
}

// hIndex is the position of H[i][j], i ≤ j, in sums.h.
func hIndex(i, j int) int {
	if i > j {
		i, j = j, i
	}
	return i*4 - i*(i-1)/2 + (j - i)
}

func (s *sums) add(o *sums) {
	s.ll += o.ll
	for i := range s.g {
		s.g[i] += o.g[i]
	}
	for i := range s.h {
		s.h[i] += o.h[i]
	}
}

// overRuns splits the table's x-runs into contiguous shares of about equal
// pattern counts, one per core, calls f on each share and adds the results.
func (tb *table) overRuns(f func(runs []xRun, out *sums)) sums {
	workers := runtime.GOMAXPROCS(0)
	if len(tb.ps) < 20_000 || workers < 2 || len(tb.runs) < 2 {
		var s sums
		f(tb.runs, &s)
		return s
	}
	var shares [][]xRun
	lo := 0
	for k := 1; k <= workers && lo < len(tb.runs); k++ {
		target := k * len(tb.ps) / workers
		hi := lo + 1
		for hi < len(tb.runs) && tb.runs[hi-1].hi < target {
			hi++
		}
		if k == workers {
			hi = len(tb.runs)
		}
		shares = append(shares, tb.runs[lo:hi])
		lo = hi
	}
	out := make([]sums, len(shares))
	var wg sync.WaitGroup
	for i := range shares {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f(shares[i], &out[i])
		}(i)
	}
	wg.Wait()
	var s sums
	for i := range out {
		s.add(&out[i])
	}
	return s
}
