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
	if ps, _, ok := compressDays(x, tx, T, false); ok {
		return ps
	}
	ps, _ := compressHashed(x, tx, T)
	sortPatterns(ps)
	return ps
}

// CompressIndexed groups customers into patterns and returns, per customer,
// the index of its pattern — so per-pattern results (scores) can be joined
// back without a sort. Summaries in whole days come back sorted by
// (x, t_x, T); others in first-seen order.
func CompressIndexed(x, tx, T []float64) ([]Pattern, []int32) {
	if ps, of, ok := compressDays(x, tx, T, true); ok {
		return ps, of
	}
	return compressHashed(x, tx, T)
}

// compressHashed groups customers by a hash of their (x, t_x, T), in
// first-seen order.
func compressHashed(x, tx, T []float64) ([]Pattern, []int32) {
	type key struct{ x, tx, T float64 }
	idx := map[key]int32{}
	of := make([]int32, len(x))
	var out []Pattern
	for i := range x {
		k := key{x[i], tx[i], T[i]}
		j, ok := idx[k]
		if !ok {
			j = int32(len(out))
			idx[k] = j
			out = append(out, Pattern{X: x[i], TX: tx[i], T: T[i]})
		}
		out[j].Count++
		of[i] = j
	}
	return out, of
}

// sortPatterns sorts by (x, t_x, T), so the likelihoods' per-x terms are
// computed once per distinct x.
func sortPatterns(ps []Pattern) {
	slices.SortFunc(ps, comparePatterns)
}

func comparePatterns(a, b Pattern) int {
	if c := cmp.Compare(a.X, b.X); c != 0 {
		return c
	}
	if c := cmp.Compare(a.TX, b.TX); c != 0 {
		return c
	}
	return cmp.Compare(a.T, b.T)
}

// customers is the total weight of the patterns.
func customers(ps []Pattern) float64 {
	var n float64
	for _, p := range ps {
		n += p.Count
	}
	return n
}
