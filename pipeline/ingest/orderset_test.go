package ingest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// TestOrderSetFirstRowWins claims the keys of many chunks from several
// goroutines in random order and checks that exactly the first row of every
// key, in chunk order, is kept: the rows a map finds in one ordered pass.
func TestOrderSetFirstRowWins(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const chunks, perChunk = 64, 500
	keys := make([][]uint64, chunks)
	for c := range keys {
		for range perChunk {
			keys[c] = append(keys[c], rng.Uint64N(9000)) // many repeats, and 0
		}
	}
	s := newOrderSet(0)
	dups := make([][]bool, chunks)
	fresh := make([][]uint64, chunks)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch claimScratch
			for c := range work {
				dups[c] = slices.Clone(s.claimChunk(uint32(c), keys[c], &scratch))
				fresh[c] = slices.Clone(scratch.fresh)
			}
		}()
	}
	for _, c := range rng.Perm(chunks) {
		work <- c
	}
	close(work)
	wg.Wait()

	seen := map[uint64]bool{}
	for c := range keys {
		// A demoted key is demoted for every row of the chunk that has it:
		// after the first, the rows are duplicates within the chunk anyway.
		demoted := map[uint64]bool{}
		for _, k := range s.takeDemoted(uint32(c)) {
			demoted[k] = true
		}
		for i, k := range keys[c] {
			want := seen[k]
			seen[k] = true
			got := dups[c][i] || demoted[k]
			if got != want {
				t.Fatalf("chunk %d row %d key %d: duplicate %v, want %v", c, i, k, got, want)
			}
		}
	}
	// Every key is new to the set exactly once, whichever chunk got in first.
	var all []uint64
	for _, f := range fresh {
		all = append(all, f...)
	}
	slices.Sort(all)
	if len(all) != len(seen) || len(slices.Compact(all)) != len(seen) {
		t.Fatalf("fresh keys: %d, %d distinct, want %d", len(all), len(slices.Compact(all)), len(seen))
	}
	for _, k := range all {
		if !seen[k] {
			t.Fatalf("fresh key %d was never claimed", k)
		}
	}
	// After the file, every key is final: a row of the next file is a duplicate.
	s.endFile()
	for k := range seen {
		if d := s.claimChunk(0, []uint64{k}, &claimScratch{}); !d[0] {
			t.Fatalf("key %d of an earlier file claimed again", k)
		}
	}
	if d := s.claimChunk(0, []uint64{1 << 40}, &claimScratch{}); d[0] {
		t.Fatal("a new key is a duplicate")
	}
	// add (the keys of line-item orders, at the end of their file) makes a
	// key final, whether it was new or held by a chunk.
	s = newOrderSet(0)
	s.claimChunk(3, []uint64{5}, &claimScratch{})
	if s.add(5) || !s.add(0) || s.add(0) {
		t.Fatal("add: a key held by a chunk or added before is new")
	}
	if !s.has(5) || !s.has(0) || s.has(6) {
		t.Fatal("has after add")
	}
	if d := s.claimChunk(0, []uint64{5, 0}, &claimScratch{}); !d[0] || !d[1] {
		t.Fatalf("keys added are claimed again: %v", d)
	}
}

func TestSortKeysAndContainsSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	keys := make([]uint64, 200_000)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	keys[7], keys[8] = 0, ^uint64(0)
	want := slices.Clone(keys)
	slices.Sort(want)
	warehouse.SortKeys(keys)
	if !slices.Equal(keys, want) {
		t.Fatal("sortKeys differs from slices.Sort")
	}
	for i := 0; i < 20_000; i++ {
		k := rng.Uint64()
		_, found := slices.BinarySearch(want, k)
		if warehouse.ContainsSorted(keys, k) != found {
			t.Fatalf("containsSorted(%d) = %v", k, !found)
		}
		k = keys[rng.IntN(len(keys))]
		if !warehouse.ContainsSorted(keys, k) {
			t.Fatalf("containsSorted misses %d", k)
		}
	}
	// Skewed keys (not hashes) are still found.
	skew := []uint64{1, 2, 3, 5, 8, 13, 1 << 62}
	for _, k := range skew {
		if !warehouse.ContainsSorted(skew, k) {
			t.Fatalf("containsSorted misses %d in a skewed set", k)
		}
	}
	if warehouse.ContainsSorted(skew, 4) || warehouse.ContainsSorted(nil, 4) {
		t.Fatal("containsSorted finds a key that is not there")
	}
}
