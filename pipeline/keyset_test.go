package pipeline

import "testing"

func TestKeySetAgainstMap(t *testing.T) {
	s := newKeySet(0)
	m := map[uint64]bool{}
	for i := uint64(0); i < 50_000; i++ {
		k := (i * 0x9E3779B97F4A7C15) % 20_011 // repeats, and 0
		if got, want := s.add(k), !m[k]; got != want {
			t.Fatalf("add(%d) = %v, want %v", k, got, want)
		}
		m[k] = true
	}
	for k := uint64(0); k < 20_011; k++ {
		if s.has(k) != m[k] {
			t.Fatalf("has(%d) = %v, want %v", k, s.has(k), m[k])
		}
	}
	if len(s.keys()) != len(m) {
		t.Fatalf("%d keys, want %d", len(s.keys()), len(m))
	}
}
