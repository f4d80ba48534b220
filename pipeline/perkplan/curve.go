package perkplan

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/night"
)

// CurvePoint is one point of the value-by-budget curve.
type CurvePoint struct {
	Lambda    float64 `json:"lambda"` // the budget's price: a perk must keep λ per unit of cost above its cost
	Budget    float64 `json:"budget"`
	Value     float64 `json:"expected_value"`
	Customers int     `json:"customers"`
	Kept      float64 `json:"customers_kept"` // Σ uplift: the expected customers kept from churning
	Chosen    bool    `json:"chosen,omitempty"`
}

// valueCurve traces the dual's λ path: at each price λ every customer
// takes the option of largest value − λ·cost when positive, and the sums
// of cost and value are a point of the curve of the value a budget buys
// (the capacities are left out; the plan's own point honours them). λ
// runs from the best value per cost down to 0, where the budget is the
// saturation budget: past it, no perk has positive value. The point of
// the plan's budget is marked.
func valueCurve(opts []model.Option, uplift []float64, budget float64) ([]CurvePoint, float64) {
	maxRatio := 0.0
	for _, o := range opts {
		if o.Cost > 0 {
			maxRatio = math.Max(maxRatio, o.Value/o.Cost)
		}
	}
	point := func(lambda float64) CurvePoint {
		p := CurvePoint{Lambda: lambda}
		for j := 0; j < len(opts); {
			best, bestScore := -1, 0.0
			k := j
			for ; k < len(opts) && opts[k].Customer == opts[j].Customer; k++ {
				if sc := opts[k].Value - lambda*opts[k].Cost; sc > bestScore {
					best, bestScore = k, sc
				}
			}
			if best >= 0 {
				p.Budget += opts[best].Cost
				p.Value += opts[best].Value
				p.Kept += uplift[best]
				p.Customers++
			}
			j = k
		}
		return p
	}
	lambdas := []float64{}
	if maxRatio > 0 {
		for s := 0; s < 24; s++ {
			lambdas = append(lambdas, maxRatio*math.Pow(1e-4, float64(s)/23))
		}
	}
	lambdas = append(lambdas, 0)
	curve := make([]CurvePoint, len(lambdas))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			for s := wk; s < len(lambdas); s += workers {
				curve[s] = point(lambdas[s])
			}
		}(wk)
	}
	wg.Wait()
	last := curve[len(curve)-1]
	// The plan's budget: the first point that spends it, or the last.
	chosen := slices.IndexFunc(curve, func(p CurvePoint) bool { return p.Budget >= budget })
	if chosen < 0 {
		chosen = len(curve) - 1
	}
	curve[chosen].Chosen = true
	return curve, last.Budget
}

// Baselines are what the rules marketers use give at the same budget.
// Budget and Plan are the plan's allocation before its controls are held
// out (the rules hold out none).
type Baselines struct {
	Budget float64 `json:"budget"`
	Plan   float64 `json:"plan_value"`
	// RiskiestCheapest gives the riskiest customers the cheapest perk they
	// are eligible for, in order of churn risk, until the budget is spent.
	RiskiestCheapest float64 `json:"riskiest_cheapest_value"`
	// Random gives customers in random order a random perk they are
	// eligible for, until the budget is spent.
	Random float64 `json:"random_value"`
}

// baselines values the two rules under the plan's uplift and costs.
func baselines(scores []night.Score, offered []bool, cheapest, drawn [][2]float64, budget, planValue float64) Baselines {
	var ids []int
	for i, ok := range offered {
		if ok {
			ids = append(ids, i)
		}
	}
	spend := func(order []int, pick [][2]float64) float64 {
		left, value := budget, 0.0
		for _, i := range order {
			if pick[i][0] > left {
				continue
			}
			left -= pick[i][0]
			value += pick[i][1]
		}
		return value
	}
	// Both orders sort keyed pairs, ties by customer: the same every run.
	type keyed struct {
		k float64
		i int
	}
	order := func(key func(i int) float64) []int {
		ks := make([]keyed, len(ids))
		for j, i := range ids {
			ks[j] = keyed{key(i), i}
		}
		slices.SortFunc(ks, func(a, b keyed) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.i, b.i)) })
		out := make([]int, len(ks))
		for j, k := range ks {
			out[j] = k.i
		}
		return out
	}
	var random []int
	done := make(chan struct{})
	go func() {
		random = order(func(i int) float64 { return float64(mix64(uint64(i)) >> 11) })
		close(done)
	}()
	risky := order(func(i int) float64 { return -scores[i].ChurnRisk })
	<-done
	return Baselines{Budget: budget, Plan: planValue, RiskiestCheapest: spend(risky, cheapest), Random: spend(random, drawn)}
}

// noPerkReasons says, for each customer offered a perk who gets none
// (controls aside), why: no perk worth a minor unit, the budget's price λ
// above what its best perk keeps per unit of cost, or a perk's capacity.
func noPerkReasons(opts []model.Option, al model.Allocation, offered []bool, plan *Plan) []string {
	out := make([]string, len(offered))
	hasOpts := make([]bool, len(offered))
	lambdaCut := make([]bool, len(offered)) // all its options priced out by λ
	for j := 0; j < len(opts); {
		i := int(opts[j].Customer)
		hasOpts[i] = true
		priced := true
		for ; j < len(opts) && int(opts[j].Customer) == i; j++ {
			if opts[j].Value-al.Lambda*opts[j].Cost > 0 {
				priced = false
			}
		}
		lambdaCut[i] = priced
	}
	below := fmt.Sprintf("value below cost: no perk keeps at least %g more than it costs", plan.MinValue)
	priced := fmt.Sprintf("budget exhausted at λ = %.4g: its best perk keeps less than %.4g per unit of cost above its cost", al.Lambda, al.Lambda)
	const capacity = "capacity reached: the perks worth it for this customer went to customers worth more"
	for i, ok := range offered {
		if !ok || al.Choice[i] >= 0 {
			continue
		}
		switch {
		case !hasOpts[i]:
			out[i] = below
		case lambdaCut[i]:
			out[i] = priced
		default:
			out[i] = capacity
		}
	}
	return out
}

// mix64 is SplitMix64's finaliser: a fixed, well-spread hash of an integer.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
