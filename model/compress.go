package model

import (
	"math"
	"math/bits"
	"sync"
)

// Customers' summaries are nearly always whole days: t_x and T are day
// counts, in days or divided by 7 for weeks. compressDays uses that: it
// packs each customer's (x, t_x, T) into one integer key, sorts the keys
// with a radix sort and counts the runs — a few passes over memory instead
// of a hash-table probe per customer. It declines (ok = false) as soon as a
// value is not exactly k/7 for a whole k (checked bit for bit, so the
// patterns it returns hold the callers' values exactly); Compress then uses
// the general path.
func compressDays(x, tx, T []float64, wantIndex bool) (ps []Pattern, of []int32, ok bool) {
	const maxDays, maxX = 1 << 24, 1 << 24
	n := len(x)
	keys := make([]uint64, n)
	// Two halves in parallel: each checks its values, packs its keys and
	// keeps its maxima.
	type maxima struct {
		x, tx, T uint64
		ok       bool
	}
	var part [2]maxima
	var wg sync.WaitGroup
	for h := range part {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			var mx, mtx, mT uint64 // locals: the two halves' maxima share a cache line
			defer func() { part[h].x, part[h].tx, part[h].T = mx, mtx, mT }()
			for i := h * n / 2; i < (h+1)*n/2; i++ {
				// v ≥ 0, so floor(v·7 + ½) is the rounding; the check after
				// it is exact.
				xi, di, dT := x[i], math.Floor(tx[i]*7+0.5), math.Floor(T[i]*7+0.5)
				if !(xi >= 0 && xi < maxX && xi == math.Trunc(xi)) ||
					!(di >= 0 && di < maxDays && di/7 == tx[i]) ||
					!(dT >= 0 && dT < maxDays && dT/7 == T[i]) {
					return
				}
				a, b, c := uint64(xi), uint64(di), uint64(dT)
				mx, mtx, mT = max(mx, a), max(mtx, b), max(mT, c)
				keys[i] = a<<48 | b<<24 | c
			}
			part[h].ok = true
		}(h)
	}
	wg.Wait()
	if !part[0].ok || !part[1].ok {
		return nil, nil, false
	}
	maxXv, maxTX, maxT := max(part[0].x, part[1].x), max(part[0].tx, part[1].tx), max(part[0].T, part[1].T)
	bT, bTX := uint(bits.Len64(maxT)), uint(bits.Len64(maxTX))
	width := int(bT) + int(bTX) + bits.Len64(maxXv)
	if width > 64 {
		return nil, nil, false
	}
	// Each half is packed tightly (the same order in fewer radix passes)
	// and sorted on its own core; the two sorted halves are then merged
	// while counting runs.
	var halves [2][]uint64
	var hidx [2][]int32
	var runs [2]int
	for h := range halves {
		wg.Add(1)
		go func(h int) {
			defer wg.Done()
			lo, hi := h*n/2, (h+1)*n/2
			ks := keys[lo:hi]
			for i, k := range ks {
				ks[i] = (k>>48)<<(bTX+bT) | (k>>24&(maxDays-1))<<bT | k&(maxDays-1)
			}
			var idx []int32
			if wantIndex {
				idx = make([]int32, hi-lo)
				for i := range idx {
					idx[i] = int32(lo + i)
				}
			}
			halves[h], hidx[h] = radixSort(ks, idx, width)
			for i, k := range halves[h] {
				if i == 0 || k != halves[h][i-1] {
					runs[h]++
				}
			}
		}(h)
	}
	wg.Wait()
	if wantIndex {
		of = make([]int32, n)
	}
	maskT, maskTX := uint64(1)<<bT-1, uint64(1)<<bTX-1
	ps = make([]Pattern, 0, runs[0]+runs[1])
	a, b := halves[0], halves[1]
	i, j := 0, 0
	last := ^uint64(0)
	for i < len(a) || j < len(b) {
		var k uint64
		var c int32
		if j == len(b) || i < len(a) && a[i] <= b[j] {
			k = a[i]
			if wantIndex {
				c = hidx[0][i]
			}
			i++
		} else {
			k = b[j]
			if wantIndex {
				c = hidx[1][j]
			}
			j++
		}
		if k != last || len(ps) == 0 {
			last = k
			ps = append(ps, Pattern{
				X:  float64(k >> (bTX + bT)),
				TX: float64(k>>bT&maskTX) / 7,
				T:  float64(k&maskT) / 7,
			})
		}
		ps[len(ps)-1].Count++
		if wantIndex {
			of[c] = int32(len(ps) - 1)
		}
	}
	return ps, of, true
}

// radixSort sorts keys of the given bit width (and idx alongside, when not
// nil) by least-significant-digit radix sort on 11-bit digits; it returns
// the sorted slices, which may be the scratch copies.
func radixSort(keys []uint64, idx []int32, width int) ([]uint64, []int32) {
	const digit = 11
	n := len(keys)
	tmpK := make([]uint64, n)
	var tmpI []int32
	if idx != nil {
		tmpI = make([]int32, n)
	}
	var count [1 << digit]int
	for shift := 0; shift < width; shift += digit {
		count = [1 << digit]int{}
		for _, k := range keys {
			count[k>>shift&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i, k := range keys {
			d := k >> shift & (1<<digit - 1)
			tmpK[count[d]] = k
			if idx != nil {
				tmpI[count[d]] = idx[i]
			}
			count[d]++
		}
		keys, tmpK = tmpK, keys
		idx, tmpI = tmpI, idx
	}
	return keys, idx
}
