package warehouse

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
)

// CustomerSketch estimates how many distinct customers a set of rows has
// (HyperLogLog, 2¹⁴ one-byte registers: about 0.8 % error). Each ingest
// stores the sketch of its customers; the union over every ingest tells
// `churn features` how many customers to size its tables for before it has
// read a row. It is only a hint: nothing it says changes a result.
type CustomerSketch [1 << sketchBits]uint8

const sketchBits = 14

// Add records a customer id.
func (s *CustomerSketch) Add(id string) {
	h := Mix(OrderKey(id)) // FNV-1a, spread
	reg := h >> (64 - sketchBits)
	rank := uint8(bits.LeadingZeros64(h<<sketchBits|1<<(sketchBits-1)) + 1)
	if rank > s[reg] {
		s[reg] = rank
	}
}

// Merge makes s the sketch of the union of s and o.
func (s *CustomerSketch) Merge(o *CustomerSketch) {
	for i, r := range o {
		if r > s[i] {
			s[i] = r
		}
	}
}

// estimate is the number of distinct ids added (HyperLogLog with linear
// counting for small sets).
func (s *CustomerSketch) estimate() float64 {
	m := float64(len(s))
	sum, zeros := 0.0, 0
	for _, r := range s {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros))
	}
	return e
}

func (w *Warehouse) sketchPath(id string) string { return w.Path("_ingest", "customers", id+".hll") }

// WriteCustomerSketch stores the customer sketch of one ingest.
func (w *Warehouse) WriteCustomerSketch(id string, s *CustomerSketch) error {
	return WriteFileAtomic(w.sketchPath(id), func(f io.Writer) error {
		_, err := f.Write(s[:])
		return err
	})
}

// EstimateCustomers is the approximate number of distinct customers in the
// committed transactions, or 0 when an ingest made before sketches were kept
// has none.
func (w *Warehouse) EstimateCustomers() (int, error) {
	entries, err := w.Manifest()
	if err != nil {
		return 0, err
	}
	var union CustomerSketch
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.IngestID] {
			continue
		}
		seen[e.IngestID] = true
		b, err := os.ReadFile(w.sketchPath(e.IngestID))
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if len(b) != len(union) {
			return 0, fmt.Errorf("customer sketch of ingest %s: %d bytes, want %d", e.IngestID, len(b), len(union))
		}
		union.Merge((*CustomerSketch)(b))
	}
	return int(union.estimate()), nil
}
