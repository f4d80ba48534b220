package model

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Option is one perk a customer may get: its expected net value and cost.
type Option struct {
	Customer int32
	Perk     int32
	Value    float64 // expected value kept minus expected cost
	Cost     float64 // expected cost, counted against the budget
}

// Allocation is the solution of a budgeted allocation.
type Allocation struct {
	Choice    []int32 // per customer: the index of the chosen Option, −1 for none
	Objective float64 // Σ value of the chosen options
	Cost      float64 // Σ cost of the chosen options
	Bound     float64 // upper bound on the LP relaxation's optimum, hence on any allocation
	Gap       float64 // (Bound − Objective) / Bound, 0 when Bound is 0
	Lambda    float64 // the budget's shadow price at the end
}

// Allocate gives each customer at most one option, maximising total value
// subject to Σ cost ≤ budget and, per perk, at most capacity[perk] customers
// (capacity < 0: unlimited). Options with value ≤ 0 are never chosen.
//
// It solves the Lagrangian dual of the LP relaxation: with a price λ on the
// budget and μ_k on each perk's capacity, every customer independently takes
// the option of largest value − λ·cost − μ_k if it is positive. The dual
// function D(λ, μ) = Σ_i max(0, max_k …) + λ·budget + Σ μ_k·capacity_k is an
// upper bound for every λ, μ ≥ 0; we lower it by a search on λ
// (interpolation safeguarded by bisection) and by setting each μ_k to the
// price that leaves exactly capacity_k takers. The primal
// allocation is the dual's choice made feasible (dropping the least valuable
// takers of an over-full perk or budget) and then filled greedily by value per
// cost with what budget and capacity remain.
func Allocate(opts []Option, customers int, budget float64, capacity []int) Allocation {
	// Options grouped by customer.
	var order []int32 // indices into opts of the usable options, by customer
	for n, o := range opts {
		if o.Value > 0 && o.Cost >= 0 && !math.IsNaN(o.Value) && !math.IsInf(o.Value, 0) && !math.IsInf(o.Cost, 0) {
			order = append(order, int32(n))
		}
	}
	byCustomer := func(a, b int32) int {
		return cmp.Or(cmp.Compare(opts[a].Customer, opts[b].Customer), cmp.Compare(a, b))
	}
	if !slices.IsSortedFunc(order, byCustomer) { // callers usually list options customer by customer
		slices.SortFunc(order, byCustomer)
	}
	valid := make([]Option, len(order))
	for j, n := range order {
		valid[j] = opts[n]
	}
	starts := make([]int32, customers+1)
	for _, o := range valid {
		starts[o.Customer+1]++
	}
	for i := 0; i < customers; i++ {
		starts[i+1] += starts[i]
	}
	mu := make([]float64, len(capacity))
	choice := make([]int32, customers)
	// choose fills choice at (λ, μ) and returns the dual value, total cost
	// and takers per perk; customers are split over the cores.
	workers := runtime.GOMAXPROCS(0)
	type part struct {
		dual, cost float64
		takers     []int
	}
	parts := make([]part, workers)
	choose := func(lambda float64) (dual, cost float64, takers []int) {
		var wg sync.WaitGroup
		for wk := 0; wk < workers; wk++ {
			wg.Add(1)
			go func(wk int) {
				defer wg.Done()
				p := part{takers: make([]int, len(capacity))}
				for i := wk * customers / workers; i < (wk+1)*customers/workers; i++ {
					best, bestJ := 0.0, int32(-1)
					for j := starts[i]; j < starts[i+1]; j++ {
						o := &valid[j]
						if r := o.Value - lambda*o.Cost - mu[o.Perk]; r > best || (r == best && r > 0 && o.Cost < valid[bestJ].Cost) {
							best, bestJ = r, j
						}
					}
					choice[i] = bestJ
					if bestJ >= 0 {
						p.dual += best
						p.cost += valid[bestJ].Cost
						p.takers[valid[bestJ].Perk]++
					}
				}
				parts[wk] = p
			}(wk)
		}
		wg.Wait()
		takers = make([]int, len(capacity))
		for _, p := range parts {
			dual += p.dual
			cost += p.cost
			for k, n := range p.takers {
				takers[k] += n
			}
		}
		dual += lambda * budget
		for k, c := range capacity {
			if c >= 0 {
				dual += mu[k] * float64(c)
			}
		}
		return dual, cost, takers
	}
	bound := math.Inf(1)
	lambda := 0.0
	for round := 0; round < 8; round++ {
		prevLambda := lambda // the last round's price, 0 in the first
		// λ: the smallest price at which the choices fit the budget. After
		// the first round μ moves little, so λ is bracketed near its last
		// value; within the bracket, interpolation on the cost (every third
		// step a bisection, as cost(λ) is a step function) takes few steps.
		lo, hi := 0.0, 1.0
		clo, chi := math.Inf(1), 0.0
		if prevLambda > 0 {
			hi = prevLambda * 1.01
		} else {
			d, c, _ := choose(0)
			bound = math.Min(bound, d)
			clo = c
		}
		lambda = 0
		if clo > budget {
			for {
				d, c, _ := choose(hi)
				bound = math.Min(bound, d)
				if c <= budget || hi > 1e12 {
					chi = c
					break
				}
				lo, hi, clo = hi, hi*4, c
			}
			if prevLambda > 0 && lo == 0 {
				d, c, _ := choose(prevLambda * 0.99)
				bound = math.Min(bound, d)
				if c > budget {
					lo, clo = prevLambda*0.99, c
				} else {
					hi, chi = prevLambda*0.99, c
				}
			}
			for it := 0; it < 60 && hi-lo > 1e-4*hi && hi > 1e-12; it++ {
				mid := (lo + hi) / 2
				if it%3 != 2 && !math.IsInf(clo, 0) && clo > chi {
					f := (clo - budget) / (clo - chi)
					mid = lo + math.Min(0.99, math.Max(0.01, f))*(hi-lo)
				}
				d, c, _ := choose(mid)
				bound = math.Min(bound, d)
				if c <= budget {
					hi, chi = mid, c
				} else {
					lo, clo = mid, c
				}
			}
			lambda = hi
		}
		d, _, takers := choose(lambda)
		bound = math.Min(bound, d)
		// μ_k: for an over-full perk, the price at which only capacity_k
		// takers still prefer it to their next best option.
		// Stop when every perk is within 0.1 % of its capacity: the
		// primal repair below settles the rest.
		changed := false
		for k, capK := range capacity {
			if capK < 0 || takers[k] <= capK+capK/1000 {
				continue
			}
			var margins []float64
			for i := 0; i < customers; i++ {
				j := choice[i]
				if j < 0 || valid[j].Perk != int32(k) {
					continue
				}
				r := valid[j].Value - lambda*valid[j].Cost - mu[k]
				next := 0.0
				for jj := starts[i]; jj < starts[i+1]; jj++ {
					if o := &valid[jj]; o.Perk != int32(k) {
						next = math.Max(next, o.Value-lambda*o.Cost-mu[o.Perk])
					}
				}
				margins = append(margins, r-next)
			}
			slices.SortFunc(margins, func(a, b float64) int { return cmp.Compare(b, a) })
			mu[k] += margins[capK] // the (capacity+1)-th largest margin
			changed = true
		}
		if !changed {
			break
		}
	}
	if d, _, _ := choose(lambda); d < bound {
		bound = d
	}

	// Make the dual's choice feasible: per perk keep the takers with the
	// largest reduced value; then drop by reduced value until in budget.
	reduced := func(j int32) float64 { o := &valid[j]; return o.Value - lambda*o.Cost - mu[o.Perk] }
	var taken []int32
	for i := 0; i < customers; i++ {
		if choice[i] >= 0 {
			taken = append(taken, int32(i))
		}
	}
	sortDesc(taken, func(i int32) (float64, float64) { return reduced(choice[i]), 0 })
	used := make([]int, len(capacity))
	var cost float64
	for _, i := range taken {
		o := &valid[choice[i]]
		if (capacity[o.Perk] >= 0 && used[o.Perk] >= capacity[o.Perk]) || cost+o.Cost > budget {
			choice[i] = -1
			continue
		}
		used[o.Perk]++
		cost += o.Cost
	}
	// Fill greedily the customers still without a perk, in two orders —
	// best value per cost, and best value — keeping the better; then let
	// each customer upgrade to a more valuable option that still fits.
	// Only options within the budget left can ever be added.
	var rest []int32
	left := budget - cost
	for i := 0; i < customers; i++ {
		if choice[i] < 0 {
			for j := starts[i]; j < starts[i+1]; j++ {
				if valid[j].Cost <= left {
					rest = append(rest, j)
				}
			}
		}
	}
	eff := func(j int32) float64 {
		if valid[j].Cost == 0 {
			return math.Inf(1)
		}
		return valid[j].Value / valid[j].Cost
	}
	fill := func(order []int32) ([]int32, []int, float64, float64) {
		ch := slices.Clone(choice)
		u := slices.Clone(used)
		c := cost
		for _, j := range order {
			o := &valid[j]
			if ch[o.Customer] >= 0 || (capacity[o.Perk] >= 0 && u[o.Perk] >= capacity[o.Perk]) || c+o.Cost > budget {
				continue
			}
			ch[o.Customer] = j
			u[o.Perk]++
			c += o.Cost
		}
		for i := 0; i < customers; i++ {
			cur := ch[i]
			for j := starts[i]; j < starts[i+1]; j++ {
				o := &valid[j]
				if cur >= 0 && (o.Value <= valid[cur].Value || o.Perk != valid[cur].Perk && capacity[o.Perk] >= 0 && u[o.Perk] >= capacity[o.Perk]) {
					continue
				}
				if cur < 0 && (capacity[o.Perk] >= 0 && u[o.Perk] >= capacity[o.Perk]) {
					continue
				}
				extra := o.Cost
				if cur >= 0 {
					extra -= valid[cur].Cost
				}
				if c+extra > budget {
					continue
				}
				if cur >= 0 {
					u[valid[cur].Perk]--
				}
				u[o.Perk]++
				c += extra
				cur = j
			}
			ch[i] = cur
		}
		var v float64
		for _, j := range ch {
			if j >= 0 {
				v += valid[j].Value
			}
		}
		return ch, u, c, v
	}
	byEff := slices.Clone(rest)
	sortDesc(byEff, func(j int32) (float64, float64) { return eff(j), valid[j].Value })
	byValue := rest
	sortDesc(byValue, func(j int32) (float64, float64) { return valid[j].Value, 0 })
	ch1, _, _, v1 := fill(byEff)
	ch2, _, _, v2 := fill(byValue)
	choice = ch1
	if v2 > v1 {
		choice = ch2
	}
	al := Allocation{Choice: make([]int32, customers), Bound: bound, Lambda: lambda}
	for i, j := range choice {
		al.Choice[i] = -1
		if j >= 0 {
			al.Objective += valid[j].Value
			al.Cost += valid[j].Cost
			al.Choice[i] = order[j]
		}
	}
	if al.Bound < al.Objective { // rounding in the bound's sums
		al.Bound = al.Objective
	}
	if al.Bound > 0 {
		al.Gap = (al.Bound - al.Objective) / al.Bound
	}
	return al
}

// sortDesc sorts ids by two keys, largest first, ties by id (so the plan
// does not depend on the sort). The keys are computed once per id, not per
// comparison.
func sortDesc(ids []int32, keys func(int32) (float64, float64)) {
	type keyed struct {
		k1, k2 float64
		id     int32
	}
	ks := make([]keyed, len(ids))
	for n, id := range ids {
		k1, k2 := keys(id)
		ks[n] = keyed{k1, k2, id}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(b.k1, a.k1), cmp.Compare(b.k2, a.k2), cmp.Compare(a.id, b.id))
	})
	for n := range ks {
		ids[n] = ks[n].id
	}
}
