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

// sumLogLik is Σ count · LL, with
// L = Γ(r+x)α^r/Γ(r) · B(a, b+x+1)/B(a, b) · (α+T)^−(r+x) · [1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)],
// and with wantGrad its gradient in (r, α, a, b). Terms in x alone are
// computed once per distinct x.
func (m MBGNBD) sumLogLik(ps []Pattern, wantGrad bool) (float64, []float64) {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	g := make([]float64, 4)
	lgR, _ := math.Lgamma(r)
	lgAB, _ := math.Lgamma(a + b)
	lgB, _ := math.Lgamma(b)
	logA, logAl := math.Log(a), math.Log(al)
	var psiR, psiAB, psiB float64
	if wantGrad {
		psiR, psiAB, psiB = digamma(r), digamma(a+b), digamma(b)
	}
	var ll float64
	curX := math.NaN()
	var xTerm, psiRX, psiBX1, psiABX1, logBX float64
	for _, p := range ps {
		x, tx, T, w := p.X, p.TX, p.T, p.Count
		if x != curX {
			curX = x
			lgRX, _ := math.Lgamma(r + x)
			lgBX1, _ := math.Lgamma(b + x + 1)
			lgABX1, _ := math.Lgamma(a + b + x + 1)
			xTerm = lgRX - lgR + r*logAl + lgAB + lgBX1 - lgB - lgABX1
			logBX = math.Log(b + x)
			if wantGrad {
				psiRX, psiBX1, psiABX1 = digamma(r+x), digamma(b+x+1), digamma(a+b+x+1)
			}
		}
		logAT, logATX := math.Log(al+T), math.Log(al+tx)
		a3 := -(r + x) * logAT
		a4 := logA - logBX - (r+x)*logATX
		lse, w3 := logSumExp2(a3, a4)
		ll += w * (xTerm + lse)
		if !wantGrad {
			continue
		}
		w4 := 1 - w3
		g[0] += w * (psiRX - psiR + logAl - w3*logAT - w4*logATX)
		g[1] += w * (r/al - w3*(r+x)/(al+T) - w4*(r+x)/(al+tx))
		g[2] += w * (psiAB - psiABX1 + w4/a)
		g[3] += w * (psiAB + psiBX1 - psiB - psiABX1 - w4/(b+x))
	}
	return ll, g
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
