package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func withParams(m fittable, th []float64) fittable {
	w, _ := newModel(m.Name(), th)
	return w
}

// TestGradients: every model's analytic gradient equals central differences
// of its log-likelihood, on data with one-time buyers, heavy buyers and
// t_x = T.
func TestGradients(t *testing.T) {
	ps := simulateBGNBD(BGNBD{R: 0.3, Alpha: 3, A: 1.2, B: 2}, 2000, 10, 40, 1)
	ps = append(ps, Pattern{X: 800, TX: 39, T: 39, Count: 2}, Pattern{X: 3, TX: 20, T: 20.001, Count: 1})
	for _, m := range []fittable{
		BGNBD{0.4, 5, 0.9, 3},
		MBGNBD{0.4, 5, 0.9, 3},
		ParetoNBD{0.55, 10.6, 0.6, 11.7},
		ParetoNBD{0.4, 40, 1.3, 0.8}, // β ≪ α
	} {
		_, g := m.sumLogLik(ps, true)
		theta := m.Params()
		for i := range theta {
			h := 1e-6 * theta[i]
			up, dn := append([]float64(nil), theta...), append([]float64(nil), theta...)
			up[i] += h
			dn[i] -= h
			num := (withParams(m, up).LogLik(ps) - withParams(m, dn).LogLik(ps)) / (2 * h)
			if math.Abs(num-g[i]) > 1e-5*math.Max(1, math.Abs(num)) {
				t.Errorf("%s %v d/d%s: analytic %.8g, numeric %.8g", m.Name(), theta, m.ParamNames()[i], g[i], num)
			}
		}
	}
}

// TestParetoIntegral compares the adaptive rule with Simpson's rule on
// 20,000 panels in log time, in the regions where the hypergeometric form
// is delicate.
func TestParetoIntegral(t *testing.T) {
	cases := []struct{ k, al, s, be, lo, hi float64 }{
		{0.55, 10.58, 0.606, 11.67, 0, 38.86},    // CDNOW one-time buyer
		{2.55, 10.58, 0.606, 11.67, 30.4, 38.86}, // CDNOW customer 1
		{3000, 10, 0.6, 11, 99, 100},             // heavy buyer
		{5, 10, 0.6, 11, 20, 20 + 1e-9},          // T a hair after t_x
		{0.5, 60, 0.5, 0.05, 0, 300},             // β ≪ α
		{0.5, 0.05, 0.5, 60, 0, 300},             // α ≪ β
		{1.2, 3, 4, 2, 0.5, 5000},                // long horizon
	}
	for _, c := range cases {
		var mom [4]float64
		got := paretoIntegral(c.k, c.al, c.s, c.be, c.lo, c.hi, &mom)
		// Reference: Simpson's rule in v = log(1+(τ−lo)/m) on 20,000 panels,
		// m the smaller scale.
		m := math.Min(c.al, c.be) + c.lo
		f := func(v float64) float64 {
			tau := c.lo + m*math.Expm1(v)
			return m * math.Exp(v-c.k*math.Log(c.al+tau)-(c.s+1)*math.Log(c.be+tau))
		}
		vmax := math.Log1p((c.hi - c.lo) / m)
		const n = 20000
		h := vmax / n
		sum := f(0) + f(vmax)
		for i := 1; i < n; i++ {
			w := 2.0
			if i%2 == 1 {
				w = 4
			}
			sum += w * f(float64(i)*h)
		}
		want := math.Log(sum * h / 3)
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%+v: log I = %.12g, reference %.12g", c, got, want)
		}
	}
}

// logGrid returns nodes and weights that integrate against a density by
// the trapezoid rule in log space (spectrally accurate for smooth
// integrands that vanish at both ends).
func logGrid(d distuv.Gamma, n int) (xs, ws []float64) {
	const lo, hi = -30.0, 8.0
	h := (hi - lo) / float64(n-1)
	for i := 0; i < n; i++ {
		x := math.Exp(lo + float64(i)*h)
		xs = append(xs, x)
		ws = append(ws, x*math.Exp(d.LogProb(x))*h)
	}
	return xs, ws
}

// posteriorPareto integrates over (λ, μ) and returns P(alive), E[X(t)] and
// P(no purchase in t), from the model's definition: given (λ, μ), the
// likelihood is λ^x e^{−(λ+μ)T} (alive) + λ^x μ/(λ+μ)(e^{−(λ+μ)t_x} − e^{−(λ+μ)T}) (dropped out).
func posteriorPareto(m ParetoNBD, t, x, tx, T float64) (pAlive, expected, p0 float64) {
	ls, lw := logGrid(distuv.Gamma{Alpha: m.R, Beta: m.Alpha}, 1500)
	ms, mw := logGrid(distuv.Gamma{Alpha: m.S, Beta: m.Beta}, 1500)
	var den, alive, ex, none float64
	for i, l := range ls {
		for j, u := range ms {
			w := lw[i] * mw[j] * math.Exp(x*math.Log(l)-x) // λ^x scaled by e^−x to stay in range
			a := w * math.Exp(-(l+u)*T)
			d := w * u / (l + u) * (math.Exp(-(l+u)*tx) - math.Exp(-(l+u)*T))
			den += a + d
			alive += a
			ex += a * l / u * -math.Expm1(-u*t)
			none += d + a*(u+l*math.Exp(-(l+u)*t))/(l+u)
		}
	}
	return alive / den, ex / den, none / den
}

func TestParetoPredictionsAgainstIntegration(t *testing.T) {
	m := ParetoNBD{R: 0.553, Alpha: 10.58, S: 0.606, Beta: 11.67}
	for _, c := range []struct{ x, tx, T float64 }{
		{0, 0, 38.86}, {2, 30.43, 38.86}, {1, 1.71, 38.86}, {7, 29.43, 32.71}, {20, 35.0, 35.1},
	} {
		pa, ex, p0 := posteriorPareto(m, 39, c.x, c.tx, c.T)
		gotPA, gotEx, gotP0 := m.PAlive(c.x, c.tx, c.T), m.ExpectedPurchases(39, c.x, c.tx, c.T), m.ProbNoPurchase(39, c.x, c.tx, c.T)
		if math.Abs(gotPA-pa) > 3e-3 || math.Abs(gotEx-ex) > 5e-3*math.Max(ex, 0.1) || math.Abs(gotP0-p0) > 3e-3 {
			t.Errorf("x=%v t_x=%v T=%v: P(alive) %.5f vs %.5f; E[X(39)] %.5f vs %.5f; P(none) %.5f vs %.5f",
				c.x, c.tx, c.T, gotPA, pa, gotEx, ex, gotP0, p0)
		}
	}
}

// posteriorMBGNBD is posteriorBGNBD's grid for MBG/NBD, where a customer may
// drop out after every purchase including the first.
func posteriorMBGNBD(m MBGNBD, t, x, tx, T float64) (pAlive, expected, p0 float64) {
	lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha}
	pd := distuv.Beta{Alpha: m.A, Beta: m.B}
	const n = 1200
	var ls, ps [n]float64
	for i := range ls {
		ls[i] = lam.Quantile((float64(i) + 0.5) / n)
		ps[i] = pd.Quantile((float64(i) + 0.5) / n)
	}
	var den, alive, ex, none float64
	for _, l := range ls {
		for _, p := range ps {
			lx := math.Pow(l, x)
			a := lx * math.Pow(1-p, x+1) * math.Exp(-l*T)
			d := lx * p * math.Pow(1-p, x) * math.Exp(-l*tx)
			den += a + d
			alive += a
			ex += a * -math.Expm1(-l*p*t) / p
			none += d + a*math.Exp(-l*t)
		}
	}
	return alive / den, ex / den, none / den
}

func TestMBGNBDPredictionsAgainstIntegration(t *testing.T) {
	m := MBGNBD{R: 0.5248, Alpha: 6.1830, A: 0.8914, B: 1.6140}
	for _, c := range []struct{ x, tx, T float64 }{
		{0, 0, 38.86}, {2, 30.43, 38.86}, {1, 1.71, 38.86}, {7, 29.43, 32.71}, {20, 35.0, 35.1},
	} {
		pa, ex, p0 := posteriorMBGNBD(m, 39, c.x, c.tx, c.T)
		gotPA, gotEx, gotP0 := m.PAlive(c.x, c.tx, c.T), m.ExpectedPurchases(39, c.x, c.tx, c.T), m.ProbNoPurchase(39, c.x, c.tx, c.T)
		if math.Abs(gotPA-pa) > 3e-3 || math.Abs(gotEx-ex) > 5e-3*math.Max(ex, 0.1) || math.Abs(gotP0-p0) > 3e-3 {
			t.Errorf("x=%v t_x=%v T=%v: P(alive) %.5f vs %.5f; E[X(39)] %.5f vs %.5f; P(none) %.5f vs %.5f",
				c.x, c.tx, c.T, gotPA, pa, gotEx, ex, gotP0, p0)
		}
	}
}

// TestBGNBDProbNoPurchaseAgainstIntegration checks BG/NBD's churn risk.
func TestBGNBDProbNoPurchase(t *testing.T) {
	m := BGNBD{R: 0.2426, Alpha: 4.4135, A: 0.7930, B: 2.4259}
	// The BG/NBD is the MBG/NBD grid without the drop-out at time 0.
	for _, c := range []struct{ x, tx, T float64 }{{0, 0, 38.86}, {2, 30.43, 38.86}, {7, 29.43, 32.71}} {
		lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha}
		pd := distuv.Beta{Alpha: m.A, Beta: m.B}
		const n = 1200
		var qs [n]float64
		for j := range qs {
			qs[j] = pd.Quantile((float64(j) + 0.5) / n)
		}
		var den, none float64
		for i := 0; i < n; i++ {
			l := lam.Quantile((float64(i) + 0.5) / n)
			for _, p := range qs {
				lx := math.Pow(l, c.x)
				a := lx * math.Pow(1-p, c.x) * math.Exp(-l*c.T)
				d := 0.0
				if c.x > 0 {
					d = lx * p * math.Pow(1-p, c.x-1) * math.Exp(-l*c.tx)
				}
				den += a + d
				none += d + a*math.Exp(-l*39)
			}
		}
		if got, want := m.ProbNoPurchase(39, c.x, c.tx, c.T), none/den; math.Abs(got-want) > 3e-3 {
			t.Errorf("%+v: P(none) %.5f, integral %.5f", c, got, want)
		}
	}
}

// TestGammaGammaDerivatives checks the pattern table's analytic gradient and
// Hessian against central differences of its log-likelihood, and its
// log-likelihood against the per-customer formula summed directly.
func TestGammaGammaDerivatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ss := make([]SpendPattern, 300)
	for i := range ss {
		ss[i] = SpendPattern{X: float64(1 + rng.IntN(12)), M: 5 + 80*rng.Float64(), Count: float64(1 + rng.IntN(3))}
	}
	tb := newSpendTable(ss, 1)
	th := []float64{2.3, 3.1, 17.0}
	at := tb.eval(th, true, true)
	var direct float64
	for _, s := range ss {
		p, q, g, x, m := th[0], th[1], th[2], s.X, s.M
		a, _ := math.Lgamma(p*x + q)
		b, _ := math.Lgamma(p * x)
		c, _ := math.Lgamma(q)
		direct += s.Count * (a - b - c + q*math.Log(g) + (p*x-1)*math.Log(m) + p*x*math.Log(x) - (p*x+q)*math.Log(g+m*x))
	}
	if math.Abs(at.ll-direct) > 1e-9*math.Abs(direct) {
		t.Fatalf("LL %.10g, summed per customer %.10g", at.ll, direct)
	}
	for i := 0; i < 3; i++ {
		h := 1e-5 * th[i]
		up, dn := slices.Clone(th), slices.Clone(th)
		up[i] += h
		dn[i] -= h
		su, sd := tb.eval(up, true, false), tb.eval(dn, true, false)
		if d := (su.ll - sd.ll) / (2 * h); math.Abs(d-at.g[i]) > 1e-6*math.Max(1, math.Abs(d)) {
			t.Errorf("dLL/dθ%d = %.8g, differences %.8g", i, at.g[i], d)
		}
		for j := 0; j < 3; j++ {
			if d := (su.g[j] - sd.g[j]) / (2 * h); math.Abs(d-at.h[hIndex(i, j)]) > 1e-5*math.Max(1, math.Abs(d)) {
				t.Errorf("d²LL/dθ%d dθ%d = %.8g, differences %.8g", i, j, at.h[hIndex(i, j)], d)
			}
		}
	}
}
