package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Logit is an L2-regularised logistic regression, P(y | x) = σ(b + Σ β_j z_j)
// with z_j = (x_j − Mean_j) / Scale_j, the inputs standardised so that one
// penalty suits every column.
type Logit struct {
	Mean, Scale []float64 // per input column; Scale 1 for a constant column
	Coef        []float64 // β, on the standardised inputs
	Intercept   float64   // b, not penalised
}

// LogitFit is a fitted Logit and how the fit went; StdErr holds the standard
// errors of Coef then Intercept, from the inverse Hessian of the penalised
// negative log-likelihood.
type LogitFit struct {
	Logit
	FitStats
}

// Linear returns b + Σ β_j z_j for one row of inputs.
func (l *Logit) Linear(x []float64) float64 {
	v := l.Intercept
	for j, c := range l.Coef {
		v += c * (x[j] - l.Mean[j]) / l.Scale[j]
	}
	return v
}

// Prob returns P(y = 1 | x) for one row of inputs.
func (l *Logit) Prob(x []float64) float64 { return sigmoid(l.Linear(x)) }

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// log1pExp returns log(1 + e^z) without overflow.
func log1pExp(z float64) float64 {
	if z > 35 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

// FitLogit fits a Logit to the rows of x (n rows of p columns, row-major)
// and the outcomes y by penalised maximum likelihood: it minimises
// −Σ log P(y_i | x_i) + L2/2 · Σ β_j² with L-BFGS and the analytic gradient.
// weight, when not nil, weights the rows (a compressed design).
func FitLogit(x []float64, p int, y []bool, weight []float64, l2 float64) (*LogitFit, error) {
	n := len(y)
	if p < 1 || len(x) != n*p || (weight != nil && len(weight) != n) {
		panic("model.FitLogit: x, y and weight disagree in length")
	}
	if n == 0 {
		return nil, ErrNoData
	}
	if !(l2 >= 0) {
		return nil, fmt.Errorf("logistic regression: L2 penalty %v must be ≥ 0", l2)
	}
	w := func(i int) float64 {
		if weight == nil {
			return 1
		}
		return weight[i]
	}
	l := Logit{Mean: make([]float64, p), Scale: make([]float64, p), Coef: make([]float64, p)}
	var total, ones float64
	for i := 0; i < n; i++ {
		wi := w(i)
		total += wi
		if y[i] {
			ones += wi
		}
		for j := 0; j < p; j++ {
			l.Mean[j] += wi * x[i*p+j]
		}
	}
	if ones == 0 || ones == total {
		return nil, fmt.Errorf("%w: every outcome is the same (%g of %g positive); a logistic regression needs both", ErrNoData, ones, total)
	}
	for j := range l.Mean {
		l.Mean[j] /= total
	}
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			d := x[i*p+j] - l.Mean[j]
			l.Scale[j] += w(i) * d * d
		}
	}
	for j := range l.Scale {
		l.Scale[j] = math.Sqrt(l.Scale[j] / total)
		if !(l.Scale[j] > 1e-12) {
			l.Scale[j] = 1 // a constant column: its coefficient is penalised to 0
		}
	}
	z := make([]float64, n*p)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			z[i*p+j] = (x[i*p+j] - l.Mean[j]) / l.Scale[j]
		}
	}

	// θ = (β, b). The sums run in parallel over blocks of rows.
	workers := min(runtime.GOMAXPROCS(0), 1+n/20000)
	nll := func(theta, grad []float64) float64 {
		parts := make([]float64, workers)
		grads := make([][]float64, workers)
		var wg sync.WaitGroup
		for wk := 0; wk < workers; wk++ {
			wg.Add(1)
			go func(wk int) {
				defer wg.Done()
				var g []float64
				if grad != nil {
					g = make([]float64, p+1)
					grads[wk] = g
				}
				var v float64
				for i := wk * n / workers; i < (wk+1)*n/workers; i++ {
					eta := theta[p]
					row := z[i*p : (i+1)*p]
					for j, zj := range row {
						eta += theta[j] * zj
					}
					wi := w(i)
					// −log P(y | η) = log(1 + e^η) − y·η.
					v += wi * log1pExp(eta)
					if y[i] {
						v -= wi * eta
					}
					if g != nil {
						r := sigmoid(eta)
						if y[i] {
							r--
						}
						r *= wi
						for j, zj := range row {
							g[j] += r * zj
						}
						g[p] += r
					}
				}
				parts[wk] = v
			}(wk)
		}
		wg.Wait()
		var v float64
		for wk := range parts {
			v += parts[wk]
		}
		for j := 0; j < p; j++ {
			v += l2 / 2 * theta[j] * theta[j]
		}
		if grad != nil {
			for k := range grad {
				grad[k] = 0
				for wk := range grads {
					grad[k] += grads[wk][k]
				}
			}
			for j := 0; j < p; j++ {
				grad[j] += l2 * theta[j]
			}
		}
		return v
	}
	start := make([]float64, p+1)
	start[p] = math.Log(ones / (total - ones))
	problem := optimize.Problem{
		Func: func(th []float64) float64 { return nll(th, nil) },
		Grad: func(g, th []float64) { nll(th, g) },
	}
	settings := &optimize.Settings{
		MajorIterations:   1000,
		GradientThreshold: 1e-8 * total,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-10 * total, Relative: 1e-12, Iterations: 20},
	}
	res, err := optimize.Minimize(problem, start, settings, &optimize.LBFGS{})
	if res == nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	g := make([]float64, p+1)
	problem.Grad(g, res.X)
	status := fmt.Sprintf("%v, max |gradient| %.2g", res.Status, maxAbs(g))
	// The negative log-likelihood is convex: a line search that cannot
	// improve where the gradient is flat relative to n is at the optimum.
	if err != nil && maxAbs(g) > 1e-5*total {
		return nil, fmt.Errorf("%w: %v (max |gradient| %.3g)", ErrNotConverged, err, maxAbs(g))
	}
	copy(l.Coef, res.X[:p])
	l.Intercept = res.X[p]
	fit := &LogitFit{Logit: l, FitStats: FitStats{Iterations: res.Stats.MajorIterations,
		FuncEvals: res.Stats.FuncEvaluations, Status: status, Customers: total, Patterns: n}}
	pen := 0.0
	for j := 0; j < p; j++ {
		pen += l2 / 2 * res.X[j] * res.X[j]
	}
	fit.LogLikelihood = -(res.F - pen)
	fit.StdErr, fit.Cov = logitStdErr(z, p, weight, res.X, l2)
	return fit, nil
}

// logitStdErr returns the standard errors and the covariance of (β, b):
// (Zᵀ W Z + L2·I_β)⁻¹ with W = diag(w_i p_i (1 − p_i)) and Z the
// standardised design with a column of ones; nil when it is singular.
func logitStdErr(z []float64, p int, weight, theta []float64, l2 float64) ([]float64, []float64) {
	n := len(z) / p
	k := p + 1
	acc := make([]float64, k*k)
	row := make([]float64, k)
	for i := 0; i < n; i++ {
		copy(row, z[i*p:(i+1)*p])
		row[p] = 1
		eta := 0.0
		for j, v := range row {
			eta += theta[j] * v
		}
		pi := sigmoid(eta)
		wi := pi * (1 - pi)
		if weight != nil {
			wi *= weight[i]
		}
		for a := 0; a < k; a++ {
			for b := a; b < k; b++ {
				acc[a*k+b] += wi * row[a] * row[b]
			}
		}
	}
	h := mat.NewSymDense(k, nil)
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			h.SetSym(a, b, acc[a*k+b])
		}
	}
	for j := 0; j < p; j++ {
		h.SetSym(j, j, h.At(j, j)+l2)
	}
	return stdErrorsOf(h)
}

// LinearSD is the standard deviation of Linear(x) under the coefficients'
// covariance cov (Coef then Intercept, row-major), by the delta method:
// √(zᵀ Σ z) with z the standardised row and a 1 for the intercept.
func (l *Logit) LinearSD(x, cov []float64) float64 {
	k := len(l.Coef) + 1
	if len(cov) != k*k {
		return 0
	}
	zj := func(j int) float64 {
		if j == len(l.Coef) {
			return 1
		}
		return (x[j] - l.Mean[j]) / l.Scale[j]
	}
	var v float64
	for a := 0; a < k; a++ {
		za := zj(a)
		for b := 0; b < k; b++ {
			v += za * cov[a*k+b] * zj(b)
		}
	}
	return math.Sqrt(math.Max(0, v))
}
