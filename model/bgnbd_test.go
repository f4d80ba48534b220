package model

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// posteriorBGNBD integrates over the prior of (λ, p) on a quantile grid —
// a computation independent of the closed forms — and returns P(alive) and
// E[purchases in the next t].
func posteriorBGNBD(m BGNBD, t, x, tx, T float64) (pAlive, expected float64) {
	lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha}
	pd := distuv.Beta{Alpha: m.A, Beta: m.B}
	const n = 1500
	var ls, ps [n]float64
	for i := range ls {
		ls[i] = lam.Quantile((float64(i) + 0.5) / n)
		ps[i] = pd.Quantile((float64(i) + 0.5) / n)
	}
	var num, den, aliveNum float64
	for _, l := range ls {
		for _, p := range ps {
			// log of the likelihood's two terms (FHL 2005, eq. 3), scaled by λ^x.
			alive := x*math.Log1p(-p) - l*T
			lik := math.Exp(alive)
			if x > 0 {
				lik += math.Exp(math.Log(p) + (x-1)*math.Log1p(-p) - l*tx)
			}
			w := math.Pow(l, x)
			den += w * lik
			aliveNum += w * math.Exp(alive)
			num += w * math.Exp(alive) * (-math.Expm1(-l * p * t)) / p
		}
	}
	return aliveNum / den, num / den
}

// TestBGNBDPredictionsAgainstIntegration checks P(alive) and expected
// purchases for a handful of customers, extremes included.
func TestBGNBDPredictionsAgainstIntegration(t *testing.T) {
	m := BGNBD{R: 0.2426, Alpha: 4.4135, A: 0.7930, B: 2.4259}
	cases := []struct{ x, tx, T float64 }{
		{0, 0, 38.86},     // one-time buyer
		{2, 30.43, 38.86}, // FHL 2005's customer 1
		{1, 1.71, 38.86},  // repeat early, silent since
		{7, 29.43, 32.71}, // frequent, recent
		{20, 35.0, 35.1},  // heavy buyer, t_x close to T
	}
	for _, c := range cases {
		pa, ex := posteriorBGNBD(m, 39, c.x, c.tx, c.T)
		gotPA := m.PAlive(c.x, c.tx, c.T)
		gotEx := m.ExpectedPurchases(39, c.x, c.tx, c.T)
		if math.Abs(gotPA-pa) > 2e-3*math.Max(pa, 0.01) || math.Abs(gotEx-ex) > 3e-3*math.Max(ex, 0.01) {
			t.Errorf("x=%v t_x=%v T=%v: P(alive) %.5f vs integral %.5f; E[X(39)] %.5f vs integral %.5f",
				c.x, c.tx, c.T, gotPA, pa, gotEx, ex)
		}
	}
}

func TestBGNBDNoNaNForHeavyBuyers(t *testing.T) {
	m := BGNBD{R: 0.2426, Alpha: 4.4135, A: 0.7930, B: 2.4259}
	for _, c := range []struct{ x, tx, T float64 }{{5000, 100, 100}, {3000, 99.9, 100}, {0, 0, 0.01}, {1, 0.001, 500}} {
		ll, g := m.sumLogLik([]Pattern{{X: c.x, TX: c.tx, T: c.T, Count: 1}}, true)
		for _, d := range g {
			if math.IsNaN(d) || math.IsInf(d, 0) {
				t.Errorf("%+v: gradient %v", c, g)
			}
		}
		pa := m.PAlive(c.x, c.tx, c.T)
		for _, a := range []float64{m.A, 1, 2.5} {
			if e := (BGNBD{R: m.R, Alpha: m.Alpha, A: a, B: m.B}).ExpectedPurchases(39, c.x, c.tx, c.T); math.IsNaN(e) || math.IsInf(e, 0) || e < 0 {
				t.Errorf("%+v: E[X(39)] at a = %v is %v", c, a, e)
			}
		}
		if math.IsNaN(ll) || math.IsInf(ll, 0) || math.IsNaN(pa) || pa < 0 || pa > 1 {
			t.Errorf("%+v: LL %v P(alive) %v", c, ll, pa)
		}
	}
}
