package pipeline

// keySet is an open-addressing hash set of order-key hashes: the keys of one
// ingest, checked for every row, so it must be cheap. The zero key is kept
// aside, since 0 marks an empty slot.
type keySet struct {
	slots   []uint64
	n       int
	hasZero bool
}

func newKeySet(capacity int) *keySet {
	size := 1024
	for 10*capacity > 7*size {
		size <<= 1
	}
	return &keySet{slots: make([]uint64, size)}
}

// probe returns the slot holding k (nonzero), or the empty slot where it goes.
func (s *keySet) probe(k uint64) uint64 {
	mask := uint64(len(s.slots) - 1)
	i := mix(k) & mask
	for s.slots[i] != k && s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// has reports whether k is in the set.
func (s *keySet) has(k uint64) bool {
	if k == 0 {
		return s.hasZero
	}
	return s.slots[s.probe(k)] == k
}

// add inserts k and reports whether it was new.
func (s *keySet) add(k uint64) bool {
	if k == 0 {
		was := s.hasZero
		s.hasZero = true
		return !was
	}
	if 10*(s.n+1) > 7*len(s.slots) { // load factor 0.7
		s.grow()
	}
	i := s.probe(k)
	if s.slots[i] == k {
		return false
	}
	s.slots[i] = k
	s.n++
	return true
}

func (s *keySet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	s.n = 0
	for _, k := range old {
		if k != 0 {
			s.add(k)
		}
	}
}

// keys returns every key in the set.
func (s *keySet) keys() []uint64 {
	out := make([]uint64, 0, s.n+1)
	for _, k := range s.slots {
		if k != 0 {
			out = append(out, k)
		}
	}
	if s.hasZero {
		out = append(out, 0)
	}
	return out
}

// mix spreads FNV hashes over the table (a 64-bit finaliser, from SplitMix64).
func mix(k uint64) uint64 {
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	return k ^ (k >> 31)
}
