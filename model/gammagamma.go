package model

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// GammaGamma holds the parameters of the Gamma-Gamma spend model (Fader,
// Hardie & Lee 2005, "RFM and CLV", JMR 42(4)): a customer's spend per
// purchase is Gamma(P, ν) with ν ~ Gamma(Q, Gamma), independent of the
// purchase process.
type GammaGamma struct {
	P, Q, Gamma float64
}

// SpendPattern is one repeat buyer's summary for Gamma-Gamma: x repeat
// purchases with mean spend M (currency units), with a weight.
type SpendPattern struct {
	X, M, Count float64
}

// LogLik returns the log-likelihood of weighted spend patterns.
func (m GammaGamma) LogLik(ss []SpendPattern) float64 {
	return newSpendTable(ss, 1).eval([]float64{m.P, m.Q, m.Gamma}, false, false).ll
}

// spendTable is Gamma-Gamma's data as its log-likelihood (FHL 2005 "RFM and
// CLV", appendix) needs it,
//
//	LL = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m̄ + px ln x − (px+q) ln(γ + x m̄),
//
// summed with weights: the terms in x alone once per distinct x, the terms
// in m̄ alone as constant sums, and per pattern only what mixes γ with its
// total repeat spend z = x m̄ (one log and one division).
type spendTable struct {
	xs, wx   []float64 // distinct x, ascending, and the total weight of each
	x, z, w  []float64 // per pattern: x, z = x·m̄, weight
	n        float64   // Σ w
	sumLogM  float64   // Σ w ln m̄
	sumXLogM float64   // Σ w x ln m̄
	sumXLogX float64   // Σ w x ln x
}

// newSpendTable builds the table with every m̄ multiplied by scale.
func newSpendTable(ss []SpendPattern, scale float64) *spendTable {
	t := &spendTable{x: make([]float64, len(ss)), z: make([]float64, len(ss)), w: make([]float64, len(ss))}
	weight := map[float64]float64{}
	for i, s := range ss {
		m := s.M * scale
		t.x[i], t.z[i], t.w[i] = s.X, s.X*m, s.Count
		t.n += s.Count
		lm := math.Log(m)
		t.sumLogM += s.Count * lm
		t.sumXLogM += s.Count * s.X * lm
		t.sumXLogX += s.Count * s.X * math.Log(s.X)
		weight[s.X] += s.Count
	}
	for x := range weight {
		t.xs = append(t.xs, x)
	}
	slices.Sort(t.xs)
	t.wx = make([]float64, len(t.xs))
	for i, x := range t.xs {
		t.wx[i] = weight[x]
	}
	return t
}

// spendSums are the per-pattern sums at one γ: Σ w ln(γ+z), Σ w x ln(γ+z),
// Σ w/(γ+z), Σ w x/(γ+z), Σ w/(γ+z)², Σ w x/(γ+z)².
type spendSums struct{ a0, a1, b0, b1, c0, c1 float64 }

func (t *spendTable) patternSums(g float64, lo, hi int, wantHess bool) spendSums {
	var s spendSums
	x, z, w := t.x[lo:hi], t.z[lo:hi], t.w[lo:hi]
	for i := range x {
		l := math.Log(g + z[i])
		s.a0 += w[i] * l
		s.a1 += w[i] * x[i] * l
		if wantHess {
			inv := 1 / (g + z[i])
			wi := w[i] * inv
			s.b0 += wi
			s.b1 += wi * x[i]
			s.c0 += wi * inv
			s.c1 += wi * inv * x[i]
		}
	}
	return s
}

// eval returns Σ w · LL at θ = (p, q, γ) and, when asked, its gradient and
// Hessian in θ (the b sums are needed by the gradient too).
func (t *spendTable) eval(th []float64, wantGrad, wantHess bool) sums {
	p, q, g := th[0], th[1], th[2]
	need := wantGrad || wantHess
	var ps spendSums
	if workers := runtime.GOMAXPROCS(0); workers > 1 && len(t.x) >= 50_000 {
		parts := make([]spendSums, workers)
		var wg sync.WaitGroup
		for k := range parts {
			lo, hi := k*len(t.x)/workers, (k+1)*len(t.x)/workers
			wg.Add(1)
			go func() { defer wg.Done(); parts[k] = t.patternSums(g, lo, hi, need) }()
		}
		wg.Wait()
		for _, s := range parts {
			ps.a0, ps.a1, ps.b0, ps.b1, ps.c0, ps.c1 = ps.a0+s.a0, ps.a1+s.a1, ps.b0+s.b0, ps.b1+s.b1, ps.c0+s.c0, ps.c1+s.c1
		}
	} else {
		ps = t.patternSums(g, 0, len(t.x), need)
	}
	var s sums
	lgQ, _ := math.Lgamma(q)
	n := t.n
	s.ll = n*(q*math.Log(g)-lgQ) + p*(t.sumXLogX+t.sumXLogM) - t.sumLogM - (p*ps.a1 + q*ps.a0)
	psiQ, triQ := 0.0, 0.0
	if need {
		psiQ = digamma(q)
		s.g[0] = t.sumXLogX + t.sumXLogM - ps.a1
		s.g[1] = n*(math.Log(g)-psiQ) - ps.a0
		s.g[2] = n*q/g - (p*ps.b1 + q*ps.b0)
	}
	if wantHess {
		triQ = trigamma(q)
		s.h[hIndex(0, 2)] = -ps.b1
		s.h[hIndex(1, 1)] = -n * triQ
		s.h[hIndex(1, 2)] = n/g - ps.b0
		s.h[hIndex(2, 2)] = -n*q/(g*g) + p*ps.c1 + q*ps.c0
	}
	for i, x := range t.xs {
		w := t.wx[i]
		lgPXQ, _ := math.Lgamma(p*x + q)
		lgPX, _ := math.Lgamma(p * x)
		s.ll += w * (lgPXQ - lgPX)
		if need {
			psi := digamma(p*x + q)
			s.g[0] += w * x * (psi - digamma(p*x))
			s.g[1] += w * psi
		}
		if wantHess {
			tri := trigamma(p*x + q)
			s.h[hIndex(0, 0)] += w * x * x * (tri - trigamma(p*x))
			s.h[hIndex(0, 1)] += w * x * tri
			s.h[hIndex(1, 1)] += w * tri
		}
	}
	return s
}

// GammaGammaFit is a fitted Gamma-Gamma model.
type GammaGammaFit struct {
	GammaGamma
	FitStats
	spendScale float64 // 1 / the mean spend the fit rescaled by
}

// FitGammaGamma fits Gamma-Gamma on repeat buyers (x ≥ 1, M > 0) by
// Newton's method with the analytic Hessian, which also gives the standard
// errors. Spend is rescaled to a mean of 1 while optimising and γ scaled
// back; where Newton fails, BFGS on the same log-likelihood takes over.
func FitGammaGamma(ss []SpendPattern, opt FitOptions) (*GammaGammaFit, error) {
	fit, err := fitGammaGamma(ss, opt)
	if opt.Penalizer != 0 || fit == nil {
		return fit, err
	}
	// As for the purchase models (FitPurchaseModel): a fit that ran to a
	// boundary, q → ∞ say, or that a flat likelihood (a handful of repeat
	// buyers) stopped short, is refitted with a small penalty, and says so.
	// γ is judged on the spend scale of the fit (mean spend 1).
	why := ""
	switch {
	case err != nil:
		why = fmt.Sprintf("did not converge (%v)", err)
	case fit.boundary() != "":
		why = fmt.Sprintf("ran to a boundary (%s, log-likelihood %.4f)", fit.boundary(), fit.LogLikelihood)
	default:
		return fit, nil
	}
	for _, pen := range BoundaryPenalizers {
		popt := opt
		popt.Penalizer = pen
		if pf, perr := fitGammaGamma(ss, popt); perr == nil && pf.boundary() == "" {
			pf.Warning = fmt.Sprintf("gamma-gamma: the maximum-likelihood fit %s; refitted with penalizer %g (log-likelihood %.4f)", why, pen, pf.LogLikelihood)
			return pf, nil
		}
	}
	if err != nil {
		return fit, err
	}
	fit.Warning = "gamma-gamma: the fit " + why + " and a penalised refit did not help"
	return fit, nil
}

// boundary names the parameters at a boundary ("" for none), γ relative to
// the mean spend.
func (f *GammaGammaFit) boundary() string {
	var at []string
	for _, p := range []struct {
		name string
		v    float64
	}{{"p", f.P}, {"q", f.Q}, {"gamma", f.Gamma * f.spendScale}} {
		if p.v > 1e4 || p.v < 1e-6 {
			at = append(at, fmt.Sprintf("%s = %.3g", p.name, p.v))
		}
	}
	return strings.Join(at, ", ")
}

func fitGammaGamma(ss []SpendPattern, opt FitOptions) (*GammaGammaFit, error) {
	var n, sum float64
	for _, s := range ss {
		if s.X < 1 || !(s.M > 0) || math.IsInf(s.M, 0) {
			return nil, fmt.Errorf("bad spend pattern %+v: Gamma-Gamma needs x ≥ 1 and a positive mean spend", s)
		}
		n += s.Count
		sum += s.Count * s.M
	}
	if n == 0 {
		return nil, ErrNoData
	}
	scale := n / sum
	tb := newSpendTable(ss, scale)
	ll := func(th []float64, wantGrad, wantHess bool) sums { return tb.eval(th, wantGrad, wantHess) }
	start := []float64{0, 0, 0}
	lt, res, status, at, err := maximizeNewton(ll, start, opt, n)
	if err != nil {
		lt, res, status, err = maximize(func(lt, grad []float64) float64 {
			th := []float64{math.Exp(lt[0]), math.Exp(lt[1]), math.Exp(lt[2])}
			s := tb.eval(th, grad != nil, false)
			for i := range grad {
				grad[i] = -s.g[i] * th[i]
			}
			if math.IsNaN(s.ll) {
				return math.Inf(1)
			}
			return -s.ll
		}, start, opt, n)
		if lt != nil {
			at = tb.eval([]float64{math.Exp(lt[0]), math.Exp(lt[1]), math.Exp(lt[2])}, true, true)
		}
	}
	fit := &GammaGammaFit{}
	if res != nil {
		fit.Iterations, fit.FuncEvals, fit.Status = res.Stats.MajorIterations, res.Stats.FuncEvaluations, status
	}
	if lt == nil {
		return fit, err
	}
	fit.GammaGamma = GammaGamma{P: math.Exp(lt[0]), Q: math.Exp(lt[1]), Gamma: math.Exp(lt[2]) / scale}
	// Scaling every m̄ by c adds −ln c per customer to LL, and γ scales with
	// spend: LL and the Hessian in the callers' units follow.
	fit.LogLikelihood = at.ll + n*math.Log(scale)
	fit.Customers, fit.Patterns, fit.spendScale = n, len(ss), scale
	if err != nil {
		return fit, err
	}
	if se, cov := stdErrorsFromHessian(at.h, 3); se != nil {
		rescaleCov(se, cov, []bool{false, false, true}, scale)
		fit.StdErr, fit.Cov = se, cov
	}
	return fit, nil
}

// ExpectedSpend returns E[spend per purchase | x, m̄]: a weighted mean of the
// population mean p·γ/(q−1) and the customer's own mean m̄ (eq. 5). For x = 0
// it is the population mean.
func (m GammaGamma) ExpectedSpend(x, mean float64) float64 {
	return (m.P * (m.Gamma + x*mean)) / (m.P*x + m.Q - 1)
}
