package model

import "math"

// BGNBD holds the parameters of the beta-geometric/NBD model (Fader, Hardie &
// Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)):
// while alive a customer buys at rate λ ~ Gamma(R, Alpha) per time unit, and
// after each repeat purchase drops out with probability p ~ Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
}

// sumLogLik is Σ count · LL over patterns (FHL 2005, eq. 6) and, with
// wantGrad, its gradient in (r, α, a, b): see bgFamily.
func (m BGNBD) sumLogLik(ps []Pattern, wantGrad bool) (float64, []float64) {
	return bgSumLogLik(ps, m.Params(), 0, wantGrad)
}

// LogLik returns the log-likelihood of weighted patterns.
func (m BGNBD) LogLik(ps []Pattern) float64 {
	ll, _ := m.sumLogLik(ps, false)
	return ll
}

// BGNBDFit is a fitted BG/NBD model.
type BGNBDFit struct {
	BGNBD
	FitStats
}

// FitBGNBD fits BG/NBD by maximum likelihood on weighted patterns, with
// analytic gradients on log-parameters.
func FitBGNBD(ps []Pattern, opt FitOptions) (*BGNBDFit, error) {
	m, st, err := fitModel("bgnbd", ps, opt)
	if m == nil {
		return nil, err
	}
	return &BGNBDFit{BGNBD: m.(BGNBD), FitStats: st}, err
}

func (m BGNBD) Name() string         { return "bgnbd" }
func (m BGNBD) ParamNames() []string { return []string{"r", "alpha", "a", "b"} }
func (m BGNBD) Params() []float64    { return []float64{m.R, m.Alpha, m.A, m.B} }

// ProbNoPurchase is P(no purchase in (T, T+t] | x, t_x, T). A BG/NBD
// customer drops out only just after a purchase, so one active at T makes no
// purchase in t with probability ((α+T)/(α+T+t))^(r+x).
func (m BGNBD) ProbNoPurchase(t, x, tx, T float64) float64 {
	return noPurchaseDropAtPurchase(m.PAlive(x, tx, T), m.R, m.Alpha, t, x, T)
}

// noPurchaseDropAtPurchase is 1 − P(alive) + P(alive)·((α+T)/(α+T+t))^(r+x):
// P(no purchase in t) for the models in which an active customer drops out
// only just after a purchase (BG/NBD, MBG/NBD).
func noPurchaseDropAtPurchase(pa, r, alpha, t, x, T float64) float64 {
	return 1 - pa + pa*math.Exp(-(r+x)*math.Log1p(t/(alpha+T)))
}

// PAlive returns P(alive | x, t_x, T) (FHL 2005, eq. 12; note 2008 for x = 0:
// a customer without repeat purchases has not had a chance to drop out).
func (m BGNBD) PAlive(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	// 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)), in logs.
	l := math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases returns E[X(T, T+t) | x, t_x, T], the expected number of
// purchases in the next t time units (FHL 2005, eq. 10); a = 1 by atAOne.
func (m BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	if v, ok := atAOne(m.A, func(a float64) float64 { m.A = a; return m.ExpectedPurchases(t, x, tx, T) }); ok {
		return v
	}
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	// ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; z), directly or through
	// Euler's transformation, 2F1(p,q;c;z) = (1−z)^(c−p−q) 2F1(c−p, c−q; c; z)
	// with 1−z = (α+T)/(α+T+t): whichever series has the smaller upper
	// parameters, whose terms grow like p·q·z/k. Euler's serves heavy buyers
	// (x in the thousands); the direct one a fit with a → ∞ (a small shop's:
	// a ≈ 1.9e7 made Euler's series need 1e7 terms, past its bound: NaN).
	z := t / (al + T + t)
	base := (al + T) / (al + T + t)
	var tail float64
	if (r+x)*(b+x) <= (a+b-1-r)*(a-1) {
		tail = powHyp2f1(base, r+x, r+x, b+x, a+b+x-1, z)
	} else {
		tail = powHyp2f1(base, a-1, a+b-1-r, a-1, a+b+x-1, z)
	}
	num := (a + b + x - 1) / (a - 1) * (1 - tail)
	if x == 0 {
		return num
	}
	den := 1 + a/(b+x-1)*math.Pow((al+T)/(al+tx), r+x)
	return num / den
}
