package model

import "math"

// PopulationPurchases is E[X(t)]: the expected repeat purchases in the
// first t time units after a customer's first purchase, before anything is
// known about the customer — the curve a cohort's tracking plot is built from.
type PopulationPurchases interface {
	PopulationPurchases(t float64) float64
}

// PopulationPurchases for BG/NBD (FHL 2005, eq. 9):
// (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))].
func (m BGNBD) PopulationPurchases(t float64) float64 {
	if v, ok := atAOne(m.A, func(a float64) float64 { m.A = a; return m.PopulationPurchases(t) }); ok {
		return v
	}
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	z := t / (al + t)
	return (a + b - 1) / (a - 1) * (1 - powHyp2f1(al/(al+t), r, r, b, a+b-1, z))
}

// PopulationPurchases for MBG/NBD (Batislam et al. 2007):
// b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))].
func (m MBGNBD) PopulationPurchases(t float64) float64 {
	if v, ok := atAOne(m.A, func(a float64) float64 { m.A = a; return m.PopulationPurchases(t) }); ok {
		return v
	}
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	z := t / (al + t)
	return b / (a - 1) * (1 - powHyp2f1(al/(al+t), r, r, b+1, a+b, z))
}

// PopulationPurchases for Pareto/NBD (Schmittlein et al. 1987):
// rβ/(α(s−1)) · [1 − (β/(β+t))^(s−1)], with its limit at s = 1.
func (m ParetoNBD) PopulationPurchases(t float64) float64 {
	l := math.Log1p(t / m.Beta)
	frac := l
	if d := m.S - 1; d != 0 {
		frac = -math.Expm1(-d*l) / d
	}
	return m.R * m.Beta / m.Alpha * frac
}

// atAOne handles a = 1, where the BG/NBD family's closed forms are 0/0:
// within 1e-6 of it, the mean of f at a = 1 ± 1e-5, accurate to O(1e-10)
// because the functions are smooth in a. ok is false away from a = 1.
func atAOne(a float64, f func(a float64) float64) (v float64, ok bool) {
	if math.Abs(a-1) >= 1e-6 {
		return 0, false
	}
	return (f(1-1e-5) + f(1+1e-5)) / 2, true
}
