package perkplan

import (
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
)

// The per-customer uplift (README, "Uplift per customer"): a T-learner,
// two L2-regularised logistic regressions of a purchase in the perk's
// window on the customer's features the day before the send, one on the
// treated customers and one on the perk's controls; a customer's uplift is
// the difference of their probabilities. It is used for a perk only where,
// on the held-out customers, its Qini beats the segment estimate's with a
// paired bootstrap band of the difference above zero, and its own band
// above zero.

// upliftInputs are the T-learner's inputs, from the features.
var upliftInputs = []string{"log_orders", "log_frequency", "log_days_since_last", "log_tenure_days",
	"log_monetary_avg", "log_orders_90", "log_orders_365", "slog_spend_90"}

const nUpliftInputs = 8

func upliftRow(c *features.Customer) [nUpliftInputs]float64 {
	slog := func(micros int64) float64 {
		v := float64(micros) / 1e6
		return math.Copysign(math.Log1p(math.Abs(v)), v)
	}
	return [nUpliftInputs]float64{math.Log1p(float64(c.Orders)), math.Log1p(float64(c.Frequency)), math.Log1p(float64(c.DaysSinceLast)),
		math.Log1p(float64(c.TenureDays)), math.Log1p(math.Max(0, c.MonetaryAvg)), math.Log1p(float64(c.Orders90)),
		math.Log1p(float64(c.Orders365)), slog(c.Spend90Micros)}
}

// CustomerModel is a perk's T-learner.
type CustomerModel struct {
	Inputs  []string    `json:"inputs"`
	Treated model.Logit `json:"treated"`
	Control model.Logit `json:"control"`
}

// uplift is the model's uplift for one customer, clamped to [0, 1] as
// the plan uses it.
func (m *CustomerModel) uplift(c *features.Customer) float64 {
	x := upliftRow(c)
	return math.Min(1, math.Max(0, m.Treated.Prob(x[:])-m.Control.Prob(x[:])))
}

// bootstrapReps is the number of Poisson bootstrap replicates of the
// held-out Qini.
const bootstrapReps = 200

// customerChoice is the comparison of the T-learner with the segment
// estimate on the held-out customers.
type customerChoice struct {
	model                *CustomerModel
	qini, auuc           float64    // the T-learner's
	qiniCI, auucCI       [2]float64 // 95 % bootstrap bands
	segQini, segAUUC     float64    // the segment estimate's, on the same customers
	segQiniCI, segAUUCCI [2]float64
	diffCI               [2]float64 // of qini − segQini, paired
	use                  bool
}

// fitCustomerModel fits the T-learner on the training outcomes of a perk
// and compares it with the segment estimate est on the held-out ones.
func fitCustomerModel(outs []outcome, perk string, own bool, windowDays int, est perkEstimate) *customerChoice {
	var xt, xc []float64
	var yt, yc []bool
	type item struct {
		treated, y bool
		tau, seg   float64
		x          [nUpliftInputs]float64
	}
	var held []item
	for i := range outs {
		o := &outs[i]
		treated, control := o.role(perk, own)
		if !(treated || control) || o.observed < int64(windowDays) {
			continue
		}
		y := o.firstIn >= 1 && o.firstIn <= int64(windowDays)
		if o.held {
			seg := est.overall.Raw
			if e, ok := est.groups[o.group]; ok {
				seg = e.Uplift
			}
			held = append(held, item{treated: treated, y: y, seg: seg, x: o.x})
			continue
		}
		if treated {
			xt, yt = append(xt, o.x[:]...), append(yt, y)
		} else {
			xc, yc = append(xc, o.x[:]...), append(yc, y)
		}
	}
	if len(yt) < 100 || len(yc) < 100 || len(held) < 100 {
		return nil
	}
	ft, err1 := model.FitLogit(xt, nUpliftInputs, yt, nil, 1)
	fc, err2 := model.FitLogit(xc, nUpliftInputs, yc, nil, 1)
	if err1 != nil || err2 != nil {
		return nil
	}
	m := &CustomerModel{Inputs: upliftInputs, Treated: ft.Logit, Control: fc.Logit}
	for j := range held {
		x := held[j].x
		held[j].tau = m.Treated.Prob(x[:]) - m.Control.Prob(x[:])
	}
	// Two rankings of the same customers, ties in a fixed shuffled order.
	h := fnv.New64a()
	h.Write([]byte(perk))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x71696e69))
	rng.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
	ranking := func(key func(*item) float64) []int {
		idx := make([]int, len(held))
		for j := range idx {
			idx[j] = j
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(key(&held[b]), key(&held[a])) })
		return idx
	}
	byTau := ranking(func(i *item) float64 { return i.tau })
	bySeg := ranking(func(i *item) float64 { return i.seg })
	// The Qini coefficient and AUUC of a ranking with customer j weighed
	// w[j] (1 for the estimate; Poisson(1) in a bootstrap replicate, the
	// same customer the same weight in both rankings: paired).
	qiniOf := func(order []int, w []float64) (float64, float64) {
		var nt, yt, nc, yc, area, total float64
		for _, j := range order {
			total += w[j]
		}
		if total == 0 {
			return 0, 0
		}
		prev := 0.0
		for _, j := range order {
			it := &held[j]
			if it.treated {
				nt += w[j]
				if it.y {
					yt += w[j]
				}
			} else {
				nc += w[j]
				if it.y {
					yc += w[j]
				}
			}
			q := 0.0
			if nc > 0 {
				q = yt - yc*nt/nc
			}
			area += (prev + q) / 2 * w[j]
			prev = q
		}
		if nt == 0 {
			return 0, 0
		}
		auuc := area / total / nt
		return auuc - prev/2/nt, auuc
	}
	ch := &customerChoice{model: m}
	weights := make([]float64, len(held))
	for j := range weights {
		weights[j] = 1
	}
	ch.qini, ch.auuc = qiniOf(byTau, weights)
	ch.segQini, ch.segAUUC = qiniOf(bySeg, weights)
	var qs, as, sqs, sas, ds []float64
	for range bootstrapReps {
		for j := range weights {
			weights[j] = float64(poisson1(rng))
		}
		q, a := qiniOf(byTau, weights)
		sq, sa := qiniOf(bySeg, weights)
		qs, as, sqs, sas, ds = append(qs, q), append(as, a), append(sqs, sq), append(sas, sa), append(ds, q-sq)
	}
	band := func(v []float64) [2]float64 {
		slices.Sort(v)
		return [2]float64{v[int(0.025*float64(len(v)))], v[int(0.975*float64(len(v)))-1]}
	}
	ch.qiniCI, ch.auucCI, ch.segQiniCI, ch.segAUUCCI, ch.diffCI = band(qs), band(as), band(sqs), band(sas), band(ds)
	ch.use = ch.qini > ch.segQini && ch.diffCI[0] > 0 && ch.qiniCI[0] > 0
	return ch
}

// poisson1 draws Poisson(1) by inversion.
func poisson1(rng *rand.Rand) int {
	u, p, k := rng.Float64(), math.Exp(-1), 0
	cum := p
	for u > cum && k < 20 {
		k++
		p /= float64(k)
		cum += p
	}
	return k
}
