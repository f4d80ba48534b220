package warehouse

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// The order keys of the warehouse: 64-bit hashes of order ids, kept sorted
// in each ingest's key file (_ingest/keys/<id>.bin) for deduplication.

// OrderKey hashes an order id for the deduplication set (64-bit FNV-1a).
func OrderKey(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// SortKeys sorts order keys on every core: one counting pass puts them in
// buckets by their top byte, and the buckets are sorted side by side. Keys
// are hashes, so the buckets are even.
func SortKeys(keys []uint64) {
	if len(keys) < 1<<16 {
		slices.Sort(keys)
		return
	}
	var counts [257]int
	for _, k := range keys {
		counts[k>>56+1]++
	}
	for i := 1; i <= 256; i++ {
		counts[i] += counts[i-1]
	}
	tmp := make([]uint64, len(keys))
	next := counts
	for _, k := range keys {
		tmp[next[k>>56]] = k
		next[k>>56]++
	}
	var wg sync.WaitGroup
	var bucket atomic.Int32
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := int(bucket.Add(1) - 1); b < 256; b = int(bucket.Add(1) - 1) {
				sortByByte6(tmp[counts[b]:counts[b+1]], keys[counts[b]:counts[b+1]])
			}
		}()
	}
	wg.Wait()
}

// sortByByte6 sorts src, keys that share their top byte, into dst: one
// counting pass on the next byte, then a comparison sort of each small run.
func sortByByte6(src, dst []uint64) {
	var counts [257]int
	for _, k := range src {
		counts[(k>>48)&0xff+1]++
	}
	for i := 1; i <= 256; i++ {
		counts[i] += counts[i-1]
	}
	next := counts
	for _, k := range src {
		b := (k >> 48) & 0xff
		dst[next[b]] = k
		next[b]++
	}
	for b := 0; b < 256; b++ {
		slices.Sort(dst[counts[b]:counts[b+1]])
	}
}

// ContainsSorted reports whether sorted holds k. Keys are hashes, spread
// evenly, so the search starts where k would be if they were exactly even
// and usually finds it within a cache line or two.
func ContainsSorted(sorted []uint64, k uint64) bool {
	n := len(sorted)
	if n == 0 {
		return false
	}
	hi, _ := bits.Mul64(k, uint64(n))
	i := int(hi)
	// Gallop from the guess to a bracket, then binary search within it.
	lo, up := i, i+1
	for step := 1; lo > 0 && sorted[lo] > k; step *= 2 {
		lo = max(0, lo-step)
	}
	for step := 1; up < n && sorted[up-1] < k; step *= 2 {
		up = min(n, up+step)
	}
	_, found := slices.BinarySearch(sorted[lo:up], k)
	return found
}

// Mix spreads FNV hashes over the table (a 64-bit finaliser, from SplitMix64).
func Mix(k uint64) uint64 {
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	return k ^ (k >> 31)
}
