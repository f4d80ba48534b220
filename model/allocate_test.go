package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteForce tries every assignment of at most one option per customer.
func bruteForce(opts []Option, customers int, budget float64, capacity []int) float64 {
	byCust := make([][]Option, customers)
	for _, o := range opts {
		byCust[o.Customer] = append(byCust[o.Customer], o)
	}
	best := 0.0
	used := make([]int, len(capacity))
	var rec func(i int, value, cost float64)
	rec = func(i int, value, cost float64) {
		if i == customers {
			best = math.Max(best, value)
			return
		}
		rec(i+1, value, cost)
		for _, o := range byCust[i] {
			if cost+o.Cost > budget || (capacity[o.Perk] >= 0 && used[o.Perk] >= capacity[o.Perk]) {
				continue
			}
			used[o.Perk]++
			rec(i+1, value+o.Value, cost+o.Cost)
			used[o.Perk]--
		}
	}
	rec(0, 0, 0)
	return best
}

func randomInstance(rng *rand.Rand, customers, perks int) ([]Option, []int) {
	var opts []Option
	for i := 0; i < customers; i++ {
		for k := 0; k < perks; k++ {
			if rng.Float64() < 0.8 {
				opts = append(opts, Option{Customer: int32(i), Perk: int32(k), Value: rng.NormFloat64()*5 + 3, Cost: rng.Float64() * 10})
			}
		}
	}
	capacity := make([]int, perks)
	for k := range capacity {
		capacity[k] = -1
		if rng.Float64() < 0.5 {
			capacity[k] = rng.IntN(customers/2 + 1)
		}
	}
	return opts, capacity
}

// TestAllocateAgainstBruteForce: on small instances the allocation is
// feasible, never better than the optimum, and the bound is never below it.
func TestAllocateAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var worst, sum, solved float64
	for n := 0; n < 300; n++ {
		customers, perks := 2+rng.IntN(6), 1+rng.IntN(3)
		opts, capacity := randomInstance(rng, customers, perks)
		budget := rng.Float64() * 25
		opt := bruteForce(opts, customers, budget, capacity)
		al := Allocate(opts, customers, budget, capacity)
		// Feasible.
		used := make([]int, perks)
		var cost, value float64
		for i, j := range al.Choice {
			if j < 0 {
				continue
			}
			o := opts[j]
			if int(o.Customer) != i || o.Value <= 0 {
				t.Fatalf("instance %d: customer %d got option %+v", n, i, o)
			}
			used[o.Perk]++
			cost += o.Cost
			value += o.Value
		}
		for k := range used {
			if capacity[k] >= 0 && used[k] > capacity[k] {
				t.Fatalf("instance %d: perk %d used %d > capacity %d", n, k, used[k], capacity[k])
			}
		}
		if cost > budget+1e-9 || math.Abs(value-al.Objective) > 1e-9 {
			t.Fatalf("instance %d: cost %v budget %v value %v objective %v", n, cost, budget, value, al.Objective)
		}
		if al.Objective > opt+1e-9 || al.Bound < opt-1e-6 {
			t.Fatalf("instance %d: objective %v, optimum %v, bound %v", n, al.Objective, opt, al.Bound)
		}
		if opt > 0 {
			worst = math.Max(worst, (opt-al.Objective)/opt)
			sum += (opt - al.Objective) / opt
			solved++
		}
	}
	// A handful of customers is where rounding the LP costs most; the mean
	// shortfall stays small.
	t.Logf("shortfall against the optimum on %d small instances: mean %.2f %%, worst %.1f %%", int(solved), 100*sum/solved, 100*worst)
	if sum/solved > 0.03 {
		t.Errorf("mean shortfall %.2f %% > 3 %%", 100*sum/solved)
	}
}

// TestAllocateGapOnLargeInstance: with many customers the integer solution
// is within 1 % of the LP bound.
func TestAllocateGapOnLargeInstance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	customers, perks := 100_000, 8
	opts, _ := randomInstance(rng, customers, perks)
	capacity := []int{-1, -1, 5000, -1, 20000, -1, -1, 1000}
	al := Allocate(opts, customers, 200_000, capacity)
	t.Logf("objective %.0f bound %.0f gap %.4f %% λ %.4f cost %.0f", al.Objective, al.Bound, 100*al.Gap, al.Lambda, al.Cost)
	if al.Gap > 0.01 || al.Cost > 200_000 {
		t.Errorf("gap %.4f, cost %.0f", al.Gap, al.Cost)
	}
}
