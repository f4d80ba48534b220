package ingest

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/churnhq/churn/pipeline/warehouse"
)

// orderSet holds the order keys of one ingest. The parse workers check their
// rows against it at once, so it is split into shards with a lock each, and
// every key remembers the chunk that holds its first row: when a worker on
// an earlier chunk finds a key a later chunk got in first, the earlier row
// takes the key and the later one is marked demoted. Chunks are consumed in
// order, so the consumer learns of every demotion before it reaches the
// demoted row, and "the first row of an order is kept" holds however the
// workers interleave.
type orderSet struct {
	shards  [orderShards]orderShard
	mu      sync.Mutex
	demoted map[uint32][]uint64 // chunk → keys its rows lost to earlier chunks
	nDemote atomic.Int64        // len(demoted), read without the lock
}

// orderShards splits the set by the top bits of the mixed key.
const orderShards = 256

// orderShard is an open-addressing table. keys[i] == 0 is an empty slot (the
// zero key is kept aside); seqs[i] is 1 + the chunk that holds the key's
// first row, or 0 for a key of an earlier file, which no row can take.
type orderShard struct {
	mu      sync.Mutex
	keys    []uint64
	seqs    []uint32
	n       int
	hasZero bool
	zeroSeq uint32
}

func newOrderSet(capacity int) *orderSet {
	s := &orderSet{demoted: map[uint32][]uint64{}}
	for i := range s.shards {
		s.shards[i].init(capacity / orderShards)
	}
	return s
}

func (sh *orderShard) init(capacity int) {
	size := 64
	for 10*capacity > 7*size {
		size <<= 1
	}
	sh.keys = make([]uint64, size)
	sh.seqs = make([]uint32, size)
	touchPages(sh.keys)
	touchPages(sh.seqs)
}

// touchPages writes to every memory page of s. A large table comes fresh
// from the system, and the claims would first touch most of its pages with
// a read (warmSlots, probe): the system maps a shared page of zeros, and the
// write that follows faults a second time to replace it. Writing first
// faults each page once: 10M claims took 0.6 CPU-s less.
func touchPages[T uint32 | uint64](s []T) {
	step := max(1, 4096/int(unsafe.Sizeof(T(0))))
	for i := 0; i < len(s); i += step {
		s[i] = 0
	}
}

func shardOf(k uint64) int { return int(warehouse.Mix(k) >> 56) }

// probe returns the slot holding k (nonzero), or the empty slot where it
// goes.
func (sh *orderShard) probe(k uint64) int {
	return sh.probeFrom(k, warehouse.Mix(k))
}

// probeFrom is probe given the mixed key.
func (sh *orderShard) probeFrom(k, mixed uint64) int {
	mask := uint64(len(sh.keys) - 1)
	i := mixed & mask
	for sh.keys[i] != k && sh.keys[i] != 0 {
		i = (i + 1) & mask
	}
	return int(i)
}

// reserve grows the table until n more keys fit at a load of at most 0.7.
func (sh *orderShard) reserve(n int) {
	for 10*(sh.n+n) > 7*len(sh.keys) {
		sh.grow()
	}
}

// claim records a row with key k, of the chunk with tag seq (1 + the chunk,
// or 0 for an earlier file), and reports whether it is the first row of its
// order so far. A key held by a later chunk is taken from it; that chunk's
// tag is returned as loser.
func (sh *orderShard) claim(k uint64, seq uint32) (first bool, loser uint32) {
	sh.reserve(1)
	return sh.claimMixed(k, warehouse.Mix(k), seq)
}

// claimMixed is claim given the mixed key, in a table with room for k.
func (sh *orderShard) claimMixed(k, mixed uint64, seq uint32) (first bool, loser uint32) {
	if k == 0 {
		switch {
		case !sh.hasZero:
			sh.hasZero, sh.zeroSeq = true, seq
			return true, 0
		case sh.zeroSeq > seq:
			loser, sh.zeroSeq = sh.zeroSeq, seq
			return true, loser
		}
		return false, 0
	}
	i := sh.probeFrom(k, mixed)
	switch {
	case sh.keys[i] == 0:
		sh.keys[i], sh.seqs[i] = k, seq
		sh.n++
		return true, 0
	case sh.seqs[i] > seq:
		loser, sh.seqs[i] = sh.seqs[i], seq
		return true, loser
	}
	return false, 0
}

func (sh *orderShard) has(k uint64) bool {
	if k == 0 {
		return sh.hasZero
	}
	return sh.keys[sh.probe(k)] == k
}

func (sh *orderShard) grow() {
	oldKeys, oldSeqs := sh.keys, sh.seqs
	sh.keys = make([]uint64, 2*len(oldKeys))
	sh.seqs = make([]uint32, 2*len(oldKeys))
	touchPages(sh.keys)
	touchPages(sh.seqs)
	for j, k := range oldKeys {
		if k != 0 {
			i := sh.probe(k)
			sh.keys[i], sh.seqs[i] = k, oldSeqs[j]
		}
	}
}

// claimScratch is the memory of the claims of a chunk, reused by the next.
type claimScratch struct {
	dup   []bool
	shard []uint8
	order []int32
	mixed []uint64 // mix of each key
	slots []uint32 // warmSlots' home slots
	// The rows' keys, mixed keys and claims, grouped by shard.
	gKeys, gMixed []uint64
	gDup          []bool
	keys          []uint64 // the chunk's keys in row order (batcher.keys)
	at            []int32  // batcher.at
	fresh         []uint64 // the keys the last claimChunk added to the set
	stage         rowStage // batcher.stage
}

// claimChunk claims the keys of rows of one chunk, in row order, and
// returns for each whether it is a duplicate of an earlier row; the keys
// new to the set are left in scratch.fresh. Keys are grouped by shard so
// that each shard is locked once per call. The result is memory of
// scratch, valid until its next use.
func (s *orderSet) claimChunk(seq uint32, keys []uint64, scratch *claimScratch) []bool {
	n := len(keys)
	dup := resize(scratch.dup, n)
	shard := resize(scratch.shard, n)
	mixed := resize(scratch.mixed, n)
	// The rows grouped by shard, in row order within one: their index, key,
	// mixed key and claim. The claims read these in order; reading the
	// row-order arrays at random, between loads all over the table, missed
	// the address-translation cache as often as the table did.
	order := resize(scratch.order, n)
	gKeys := resize(scratch.gKeys, n)
	gMixed := resize(scratch.gMixed, n)
	gDup := resize(scratch.gDup, n)
	scratch.dup, scratch.shard, scratch.mixed, scratch.order = dup, shard, mixed, order
	scratch.gKeys, scratch.gMixed, scratch.gDup = gKeys, gMixed, gDup
	fresh := scratch.fresh[:0]
	var counts [orderShards + 1]int32
	for i, k := range keys {
		mixed[i] = warehouse.Mix(k)
		shard[i] = uint8(mixed[i] >> 56)
		counts[int(shard[i])+1]++
	}
	for i := 1; i <= orderShards; i++ {
		counts[i] += counts[i-1]
	}
	next := counts
	for i, k := range keys {
		j := next[shard[i]]
		order[j], gKeys[j], gMixed[j] = int32(i), k, mixed[i]
		next[shard[i]]++
	}
	type demotion struct {
		key uint64
		seq uint32
	}
	var losers []demotion
	for si := range s.shards {
		lo, hi := counts[si], counts[si+1]
		if lo == hi {
			continue
		}
		sh := &s.shards[si]
		sh.mu.Lock()
		sh.reserve(int(hi - lo))
		warmSlots(sh, gMixed[lo:hi], scratch)
		for j := lo; j < hi; j++ {
			k := gKeys[j]
			first, loser := sh.claimMixed(k, gMixed[j], seq+1)
			gDup[j] = !first
			switch {
			case loser != 0:
				losers = append(losers, demotion{k, loser - 1})
			case first:
				fresh = append(fresh, k)
			}
		}
		sh.mu.Unlock()
	}
	for j, r := range order {
		dup[r] = gDup[j]
	}
	scratch.fresh = fresh
	if len(losers) > 0 {
		s.mu.Lock()
		for _, d := range losers {
			s.demoted[d.seq] = append(s.demoted[d.seq], d.key)
		}
		s.nDemote.Store(int64(len(s.demoted)))
		s.mu.Unlock()
	}
	return dup
}

// resize returns b with length n, reusing its memory when it is large enough.
func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// warmSink keeps warmSlots' loads from being optimised away.
var warmSink atomic.Uint64

// warmSlots touches the home slot of every row's key before the claims walk
// them: the loads are independent, so the processor overlaps their cache
// misses, where the claims, one after another, would wait for each in turn.
// The slots are found first and then loaded in a loop of a few
// instructions, so that the processor runs far enough ahead to have many
// loads in flight (twice as fast as finding and loading in one loop).
func warmSlots(sh *orderShard, mixed []uint64, scratch *claimScratch) {
	mask := uint64(len(sh.keys) - 1)
	slots := resize(scratch.slots, len(mixed))
	scratch.slots = slots
	for i, m := range mixed {
		slots[i] = uint32(m & mask)
	}
	var x uint64
	for _, i := range slots {
		x += sh.keys[i] + uint64(sh.seqs[i])
	}
	warmSink.Add(x & 1)
}

// takeDemoted returns the keys that rows of chunk seq lost to earlier
// chunks, once: the consumer calls it when it reaches the chunk, by which
// time every earlier chunk has made its claims.
func (s *orderSet) takeDemoted(seq uint32) []uint64 {
	if s.nDemote.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.demoted[seq]
	delete(s.demoted, seq)
	s.nDemote.Store(int64(len(s.demoted)))
	return keys
}

// has reports whether k is in the set (for the consumer of line-item files).
func (s *orderSet) has(k uint64) bool {
	sh := &s.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.has(k)
}

// add puts k in the set as a key of an earlier file, and reports whether
// it is new to the set.
func (s *orderSet) add(k uint64) bool {
	sh := &s.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	first, loser := sh.claim(k, 0)
	return first && loser == 0
}

// endFile makes every key final: rows of the next file can only be
// duplicates of them.
func (s *orderSet) endFile() {
	for i := range s.shards {
		sh := &s.shards[i]
		clear(sh.seqs)
		sh.zeroSeq = 0
	}
	clear(s.demoted)
	s.nDemote.Store(0)
}
