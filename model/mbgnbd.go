package model

import "math"

// MBGNBD holds the parameters of the modified BG/NBD model (Batislam,
// Denizel & Filiztekin 2007): as BG/NBD, but a customer may also drop out
// right after the first purchase, so a one-time buyer is not certainly alive.
type MBGNBD struct {
	R, Alpha, A, B float64
}

func (m MBGNBD) Name() string         { return "mbgnbd" }
func (m MBGNBD) ParamNames() []string { return []string{"r", "alpha", "a", "b"} }
func (m MBGNBD) Params() []float64    { return []float64{m.R, m.Alpha, m.A, m.B} }

// sumLogLik is Σ count · LL (Batislam et al. 2007) and, with wantGrad,
// its gradient in (r, α, a, b): see bgFamily.
func (m MBGNBD) sumLogLik(ps []Pattern, wantGrad bool) (float64, []float64) {
	return bgSumLogLik(ps, m.Params(), 1, wantGrad)
}

// logSumExp2 returns log(e^u + e^v) and the weight e^u / (e^u + e^v), with one exp.
func logSumExp2(u, v float64) (float64, float64) {
	if math.IsInf(v, -1) {
		return u, 1
	}
	if d := v - u; d <= 0 {
		e := math.Exp(d)
		return u + math.Log1p(e), 1 / (1 + e)
	} else {
		e := math.Exp(-d)
		return v + math.Log1p(e), e / (1 + e)
	}
}

// LogLik returns the log-likelihood of weighted patterns.
func (m MBGNBD) LogLik(ps []Pattern) float64 {
	ll, _ := m.sumLogLik(ps, false)
	return ll
}

// MBGNBDFit is a fitted MBG/NBD model.
type MBGNBDFit struct {
	MBGNBD
	FitStats
}

// FitMBGNBD fits MBG/NBD by maximum likelihood on weighted patterns.
func FitMBGNBD(ps []Pattern, opt FitOptions) (*MBGNBDFit, error) {
	m, st, err := fitModel("mbgnbd", ps, opt)
	if m == nil {
		return nil, err
	}
	return &MBGNBDFit{MBGNBD: m.(MBGNBD), FitStats: st}, err
}

// PAlive is 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)); unlike BG/NBD it is
// below 1 for one-time buyers.
func (m MBGNBD) PAlive(x, tx, T float64) float64 {
	l := math.Log(m.A) - math.Log(m.B+x) + (m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases is E[X(T, T+t) | x, t_x, T]. Its closed form is BG/NBD's
// for a repeat buyer with b+1 in place of b (Batislam et al. 2007, eq. 14):
// ₂F₁(r+x, b+x+1; a+b+x; z) and the factor (a+b+x)/(a−1); the alive
// probability is MBG/NBD's own.
func (m MBGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	bg := BGNBD{R: m.R, Alpha: m.Alpha, A: m.A, B: m.B + 1}
	// BG/NBD with b+1 divides by 1 + a/(b+x)·(…) for x > 0 only; undo its
	// alive factor and apply ours, which holds for every x.
	uncond := bg.ExpectedPurchases(t, x+0, tx, T)
	if x > 0 {
		uncond /= bg.PAlive(x, tx, T)
	}
	return uncond * m.PAlive(x, tx, T)
}

// ProbNoPurchase is 1 − P(alive) + P(alive)·((α+T)/(α+T+t))^(r+x): as in
// BG/NBD, an active customer drops out only just after a purchase.
func (m MBGNBD) ProbNoPurchase(t, x, tx, T float64) float64 {
	return noPurchaseDropAtPurchase(m.PAlive(x, tx, T), m.R, m.Alpha, t, x, T)
}
