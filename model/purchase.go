package model

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// PurchaseModel is a fitted buy-till-you-die purchase model. Times are in
// the unit of the fit; x is repeat purchases, tx the time of the last
// purchase since the first, T the customer's age at the end of calibration.
type PurchaseModel interface {
	Name() string
	ParamNames() []string
	Params() []float64
	// LogLik is Σ count · log-likelihood over patterns.
	LogLik(ps []Pattern) float64
	// PAlive is P(the customer is still active at T | x, t_x, T).
	PAlive(x, tx, T float64) float64
	// ExpectedPurchases is E[purchases in (T, T+t] | x, t_x, T].
	ExpectedPurchases(t, x, tx, T float64) float64
	// ProbNoPurchase is P(no purchase in (T, T+t] | x, t_x, T): the churn
	// risk of a horizon t. Unlike 1 − P(alive) it is not 0 for one-time buyers.
	ProbNoPurchase(t, x, tx, T float64) float64
	PopulationPurchases
}

// MedianWait is the time t after T within which an active customer buys
// again with probability ½. In all three models the purchase rate of an
// active customer is Gamma(r+x, α+T) a posteriori, so
// P(no purchase in t | active) = ((α+T)/(α+T+t))^(r+x) and
// t = (α+T)(2^(1/(r+x)) − 1).
func MedianWait(r, alpha, x, T float64) float64 {
	return (alpha + T) * math.Expm1(math.Ln2/(r+x))
}

// logLikGrad evaluates Σ count · LL over patterns and, with wantGrad, its
// gradient in the natural parameters θ.
type logLikGrad func(theta []float64, ps []Pattern, wantGrad bool) (float64, []float64)

// parallel splits large pattern sets over the cores.
func parallel(f logLikGrad, theta []float64, ps []Pattern, wantGrad bool) (float64, []float64) {
	workers := runtime.GOMAXPROCS(0)
	if len(ps) < 20_000 || workers < 2 {
		return f(theta, ps, wantGrad)
	}
	lls := make([]float64, workers)
	gs := make([][]float64, workers)
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		lo, hi := k*len(ps)/workers, (k+1)*len(ps)/workers
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			lls[k], gs[k] = f(theta, ps[lo:hi], wantGrad)
		}(k)
	}
	wg.Wait()
	var ll float64
	var g []float64
	if wantGrad {
		g = make([]float64, len(theta))
	}
	for k := range lls {
		ll += lls[k]
		for i := range g {
			g[i] += gs[k][i]
		}
	}
	return ll, g
}

// fitPurchase maximises a purchase model's likelihood over log-parameters
// with analytic gradients. Time is rescaled first (so that the largest T is
// 10) and the time-scale parameters (timeScale[i]) scaled back after, which
// leaves the optimum unchanged and the problem well conditioned.
func fitPurchase(ps []Pattern, opt FitOptions, f logLikGrad, start []float64, timeScale []bool) ([]float64, FitStats, error) {
	var st FitStats
	ps, scale, err := prepare(ps)
	if err != nil {
		return nil, st, err
	}
	scaled := make([]Pattern, len(ps))
	for i, p := range ps {
		scaled[i] = Pattern{X: p.X, TX: p.TX * scale, T: p.T * scale, Count: p.Count}
	}
	nll := func(data []Pattern) negLogLik {
		return func(lt, grad []float64) float64 {
			theta := make([]float64, len(lt))
			for i, l := range lt {
				theta[i] = math.Exp(l)
			}
			ll, g := parallel(f, theta, data, grad != nil)
			for i := range grad {
				grad[i] = -g[i] * theta[i]
			}
			if math.IsNaN(ll) || math.IsInf(ll, 0) {
				for i := range grad {
					grad[i] = 0
				}
				return math.Inf(1)
			}
			return -ll
		}
	}
	lt, res, status, err := maximize(nll(scaled), start, opt, customers(scaled))
	if res != nil {
		st.Iterations, st.FuncEvals, st.Status = res.Stats.MajorIterations, res.Stats.FuncEvaluations, status
	}
	if lt == nil {
		return nil, st, err
	}
	theta := make([]float64, len(lt))
	for i, l := range lt {
		theta[i] = math.Exp(l)
		if timeScale[i] {
			theta[i] /= scale
		}
	}
	st.LogLikelihood, _ = f(theta, ps, false)
	st.Customers, st.Patterns = customers(ps), len(ps)
	if err != nil {
		return theta, st, err
	}
	st.StdErr, st.Cov = stdErrors(nll(ps), theta)
	return theta, st, nil
}

// prepare checks patterns, returns them sorted by (x, t_x, T) (a sorted
// copy unless they already are) and the time scale that makes the largest T
// 10: fits run on rescaled times, which leaves the optimum unchanged (α and
// β scale with time) and the problem well conditioned.
func prepare(ps []Pattern) ([]Pattern, float64, error) {
	if customers(ps) == 0 {
		return nil, 0, ErrNoData
	}
	maxT, sorted := 0.0, true
	for i, p := range ps {
		if !(p.X >= 0 && p.TX >= 0 && p.T >= p.TX && p.T < math.Inf(1) && p.X < math.Inf(1)) {
			return nil, 0, fmt.Errorf("bad pattern %+v: want 0 ≤ t_x ≤ T and x ≥ 0", p)
		}
		maxT = math.Max(maxT, p.T)
		if i > 0 && sorted {
			q := ps[i-1]
			sorted = q.X < p.X || q.X == p.X && (q.TX < p.TX || q.TX == p.TX && q.T <= p.T)
		}
	}
	if maxT == 0 {
		return nil, 0, fmt.Errorf("%w: every customer has T = 0", ErrNoData)
	}
	if !sorted {
		ps = slices.Clone(ps)
		sortPatterns(ps)
	}
	return ps, 10 / maxT, nil
}

// sampleSize is about how many patterns the warm-start fit uses.
const sampleSize = 20_000

// fitTable fits a model whose log-likelihood has an analytic Hessian by
// Newton's method on a table of the patterns. With many patterns it first
// fits every k-th one (about sampleSize) and starts from there, so the
// passes over all of them are the last few Newton steps. A Newton fit that
// fails falls back to the BFGS fit on the same data.
func fitTable(ps []Pattern, opt FitOptions, eval func(tb *table) llSums, timeScale []bool, fallback logLikGrad) ([]float64, FitStats, error) {
	var st FitStats
	ps, scale, err := prepare(ps)
	if err != nil {
		return nil, st, err
	}
	tb := newTable(ps, scale)
	start := make([]float64, 4)
	if k := len(ps) / sampleSize; k >= 2 {
		smp := tb.sample(k, scale)
		if lt, _, _, _, err := maximizeNewton(eval(smp), start, opt, smp.customers()); err == nil {
			start = lt
		}
	}
	lt, res, status, at, err := maximizeNewton(eval(tb), start, opt, tb.customers())
	if err != nil {
		return fitPurchase(ps, opt, fallback, make([]float64, 4), timeScale)
	}
	st.Iterations, st.FuncEvals, st.Status = res.Stats.MajorIterations, res.Stats.FuncEvaluations, status
	theta := make([]float64, 4)
	for i, l := range lt {
		theta[i] = math.Exp(l)
		if timeScale[i] {
			theta[i] /= scale
		}
	}
	// Rescaling time by c multiplies each customer's likelihood by c^−x
	// (α and β scale with time; x purchase times each carry a density), so
	// the log-likelihood in the callers' units is LL + ln c · Σ count · x.
	var sumX float64
	for _, r := range tb.runs {
		sumX += r.x * r.count
	}
	st.LogLikelihood = at.ll + math.Log(scale)*sumX
	st.Customers, st.Patterns = tb.customers(), len(ps)
	if se, cov := stdErrorsFromHessian(at.h, 4); se != nil {
		rescaleCov(se, cov, timeScale[:4], scale)
		st.StdErr, st.Cov = se, cov
	}
	return theta, st, nil
}

// Fit is a fitted purchase model with how the fit went.
type Fit struct {
	Model PurchaseModel
	FitStats
}

// fittable is a purchase model the shared fitter can maximise.
type fittable interface {
	PurchaseModel
	// sumLogLik is Σ count · LL and, with wantGrad, its gradient in the
	// parameters, in ParamNames order.
	sumLogLik(ps []Pattern, wantGrad bool) (float64, []float64)
}

// newModel builds a model from its name and parameters in ParamNames order.
func newModel(name string, th []float64) (fittable, error) {
	switch name {
	case "bgnbd":
		return BGNBD{R: th[0], Alpha: th[1], A: th[2], B: th[3]}, nil
	case "mbgnbd":
		return MBGNBD{R: th[0], Alpha: th[1], A: th[2], B: th[3]}, nil
	case "pareto":
		return ParetoNBD{R: th[0], Alpha: th[1], S: th[2], Beta: th[3]}, nil
	}
	return nil, fmt.Errorf("unknown model %q: want bgnbd, pareto or mbgnbd", name)
}

// fitModel fits the named model. α (and Pareto/NBD's β) are in time units,
// so they are the parameters the fitter's time rescaling scales back.
func fitModel(name string, ps []Pattern, opt FitOptions) (fittable, FitStats, error) {
	if _, err := newModel(name, make([]float64, 4)); err != nil {
		return nil, FitStats{}, err
	}
	f := func(theta []float64, ps []Pattern, wantGrad bool) (float64, []float64) {
		m, _ := newModel(name, theta)
		return m.sumLogLik(ps, wantGrad)
	}
	timeScale := []bool{false, true, false, name == "pareto"}
	// The table evaluators, with the analytic Hessian; f, pattern by
	// pattern, is the BFGS fallback.
	eval := func(tb *table) llSums {
		if name == "pareto" {
			return paretoFit{tb: tb, tl: newTailTable(tb)}.eval
		}
		return bgFamily{tb: tb, shift: map[string]float64{"bgnbd": 0, "mbgnbd": 1}[name]}.eval
	}
	theta, st, err := fitTable(ps, opt, eval, timeScale, f)
	if theta == nil {
		return nil, st, err
	}
	m, _ := newModel(name, theta)
	return m, st, err
}

// FitPurchaseModel fits the named model: "bgnbd", "pareto" or "mbgnbd".
// On a fit that did not converge it returns the Fit (with the optimiser's
// status) and an error wrapping ErrNotConverged.
func FitPurchaseModel(name string, ps []Pattern, opt FitOptions) (*Fit, error) {
	m, st, err := fitModel(name, ps, opt)
	if m == nil {
		return nil, err
	}
	if err == nil && opt.Penalizer == 0 {
		if at := boundaryParams(m); at != "" {
			// The likelihood is flat towards the boundary (a small shop, a
			// short history: a, b → ∞ at a fixed a/(a+b) is a dropout
			// probability without heterogeneity), and there the predictions'
			// series are not finite. A small penalty keeps the parameters
			// finite at a likelihood a hair below the maximum.
			for _, pen := range BoundaryPenalizers {
				popt := opt
				popt.Penalizer = pen
				if pm, pst, perr := fitModel(name, ps, popt); perr == nil && pm != nil && boundaryParams(pm) == "" {
					pst.Warning = fmt.Sprintf("%s: the maximum-likelihood fit ran to a boundary (%s, log-likelihood %.4f); refitted with penalizer %g (log-likelihood %.4f)",
						name, at, st.LogLikelihood, pen, pst.LogLikelihood)
					return &Fit{Model: pm, FitStats: pst}, nil
				}
			}
			st.Warning = fmt.Sprintf("%s: the fit ran to a boundary (%s) and a penalised refit did not help; its predictions may not be finite", name, at)
		}
	}
	return &Fit{Model: m, FitStats: st}, err
}

// BoundaryPenalizers are the penalties tried, smallest first, in the refit
// of a fit that ran to a boundary (lifetimes' penalizer_coef scale).
var BoundaryPenalizers = []float64{0.001, 0.01, 0.1}

// boundaryParams names the parameters of m at a boundary of the parameter
// space, beyond 1e4 or below 1e-6 ("" for none).
func boundaryParams(m PurchaseModel) string {
	var at []string
	for i, v := range m.Params() {
		if v > 1e4 || v < 1e-6 {
			at = append(at, fmt.Sprintf("%s = %.3g", m.ParamNames()[i], v))
		}
	}
	return strings.Join(at, ", ")
}

// NewPurchaseModel builds a model from its name and parameters (as model.json
// records them).
func NewPurchaseModel(name string, params map[string]float64) (PurchaseModel, error) {
	proto, err := newModel(name, make([]float64, 4))
	if err != nil {
		return nil, err
	}
	names := proto.ParamNames()
	v := make([]float64, len(names))
	for i, k := range names {
		p, ok := params[k]
		if !ok || !(p > 0) || math.IsInf(p, 0) {
			return nil, fmt.Errorf("model %s: parameter %q missing or not positive", name, k)
		}
		v[i] = p
	}
	return newModel(name, v)
}
