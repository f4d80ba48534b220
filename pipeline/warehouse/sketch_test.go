package warehouse

import (
	"fmt"
	"math"
	"testing"
)

func TestCustomerSketchEstimates(t *testing.T) {
	for _, n := range []int{0, 10, 1000, 50_000, 400_000} {
		var s CustomerSketch
		for i := 0; i < n; i++ {
			s.Add(fmt.Sprintf("C%09d", i))
			s.Add(fmt.Sprintf("C%09d", i)) // repeats do not count
		}
		if got := s.estimate(); math.Abs(got-float64(n)) > 0.03*float64(n)+1 {
			t.Errorf("%d distinct ids: estimate %.0f", n, got)
		}
	}
	// The union of two overlapping sets.
	var a, b CustomerSketch
	for i := 0; i < 60_000; i++ {
		a.Add(fmt.Sprint("x", i))
		b.Add(fmt.Sprint("x", i+30_000))
	}
	a.Merge(&b)
	if got := a.estimate(); math.Abs(got-90_000) > 0.03*90_000 {
		t.Errorf("union of 60k and 60k sharing 30k: estimate %.0f, want ≈ 90000", got)
	}
}
