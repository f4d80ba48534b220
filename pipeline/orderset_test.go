package pipeline

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
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
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				dups[c] = s.claimChunk(uint32(c), keys[c])
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
		for i, k := range keys[c] {
			want := seen[k]
			seen[k] = true
			got := dups[c][i] || s.isDemoted(k, uint32(c))
			if got != want {
				t.Fatalf("chunk %d row %d key %d: duplicate %v, want %v", c, i, k, got, want)
			}
		}
	}
	all := s.keys()
	if len(all) != len(seen) || !slices.IsSorted(all) {
		t.Fatalf("keys: %d sorted=%v, want %d sorted", len(all), slices.IsSorted(all), len(seen))
	}
	// After the file, every key is final: a row of the next file is a duplicate.
	s.endFile()
	for k := range seen {
		if d := s.claimChunk(0, []uint64{k}); !d[0] {
			t.Fatalf("key %d of an earlier file claimed again", k)
		}
	}
	if d := s.claimChunk(0, []uint64{1 << 40}); d[0] {
		t.Fatal("a new key is a duplicate")
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
	sortKeys(keys)
	if !slices.Equal(keys, want) {
		t.Fatal("sortKeys differs from slices.Sort")
	}
	for i := 0; i < 20_000; i++ {
		k := rng.Uint64()
		_, found := slices.BinarySearch(want, k)
		if containsSorted(keys, k) != found {
			t.Fatalf("containsSorted(%d) = %v", k, !found)
		}
		k = keys[rng.IntN(len(keys))]
		if !containsSorted(keys, k) {
			t.Fatalf("containsSorted misses %d", k)
		}
	}
	// Skewed keys (not hashes) are still found.
	skew := []uint64{1, 2, 3, 5, 8, 13, 1 << 62}
	for _, k := range skew {
		if !containsSorted(skew, k) {
			t.Fatalf("containsSorted misses %d in a skewed set", k)
		}
	}
	if containsSorted(skew, 4) || containsSorted(nil, 4) {
		t.Fatal("containsSorted finds a key that is not there")
	}
}

func TestUTCMonth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(us int64) {
		tm := time.UnixMicro(us).UTC()
		if got, want := utcMonth(us), tm.Year()*12+int(tm.Month())-1; got != want {
			t.Fatalf("utcMonth(%d) (%s) = %d, want %d", us, tm, got, want)
		}
	}
	for i := 0; i < 200_000; i++ {
		check(rng.Int64N(2*100_000*365*86_400_000_000) - 100_000*365*86_400_000_000)
	}
	for _, d := range []string{"1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z", "2000-02-29T12:00:00Z", "2024-03-01T00:00:00Z", "1600-02-29T00:00:00Z", "0001-01-01T00:00:00Z"} {
		tm, _ := time.Parse(time.RFC3339Nano, d)
		check(tm.UnixMicro())
		check(tm.UnixMicro() - 1)
	}
}
