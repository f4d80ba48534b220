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
			m := &part[h]
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
				m.x, m.tx, m.T = max(m.x, a), max(m.tx, b), max(m.T, c)
				keys[i] = a<<48 | b<<24 | c
			}
			m.ok = true
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
	for i, k := range keys { // the same order, packed tightly: fewer radix passes
		keys[i] = (k>>48)<<(bTX+bT) | (k>>24&(maxDays-1))<<bT | k&(maxDays-1)
	}
	var idx []int32
	if wantIndex {
		idx = make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
	}
	keys, idx = radixSort(keys, idx, width)
	if wantIndex {
		of = make([]int32, n)
	}
	maskT, maskTX := uint64(1)<<bT-1, uint64(1)<<bTX-1
	runs := 0
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			runs++
		}
	}
	ps = make([]Pattern, 0, runs)
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			ps = append(ps, Pattern{
				X:  float64(k >> (bTX + bT)),
				TX: float64(k>>bT&maskTX) / 7,
				T:  float64(k&maskT) / 7,
			})
		}
		ps[len(ps)-1].Count++
		if wantIndex {
			of[idx[i]] = int32(len(ps) - 1)
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
