// Package model holds the buy-till-you-die models and their fitting: pure
// computation on slices and structs, no file I/O.
//
// Every fitter works on compressed data: customers with the same (x, t_x, T)
// are one Pattern with a Count, so a fit costs the number of distinct
// patterns, not of customers — and the patterns are what a GROUP BY on a
// cluster returns.
package model

import (
	"cmp"
	"slices"
)

// Pattern is one distinct BTYD summary and how many customers share it.
// Times are in one unit (weeks by default) for every pattern of a fit.
type Pattern struct {
	X     float64 // frequency: repeat purchase days
	TX    float64 // recency: time of the last purchase since the first
	T     float64 // age: time from the first purchase to the end of calibration
	Count float64 // customers with this pattern (a weight)
}

// Compress groups customers with equal (x, t_x, T) into weighted patterns,
// sorted by (x, t_x, T).
func Compress(x, tx, T []float64) []Pattern {
	type key struct{ x, tx, T float64 }
	idx := map[key]int{}
	var out []Pattern
	for i := range x {
		k := key{x[i], tx[i], T[i]}
		if j, ok := idx[k]; ok {
			out[j].Count++
			continue
		}
		idx[k] = len(out)
		out = append(out, Pattern{X: x[i], TX: tx[i], T: T[i], Count: 1})
	}
	slices.SortFunc(out, func(a, b Pattern) int {
		if c := cmp.Compare(a.X, b.X); c != 0 {
			return c
		}
		if c := cmp.Compare(a.TX, b.TX); c != 0 {
			return c
		}
		return cmp.Compare(a.T, b.T)
	})
	return out
}

// customers is the total weight of the patterns.
func customers(ps []Pattern) float64 {
	var n float64
	for _, p := range ps {
		n += p.Count
	}
	return n
}
