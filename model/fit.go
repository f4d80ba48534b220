package model

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// ErrNotConverged is returned when the optimiser stops without meeting its
// convergence test; the Fit it comes with says why and where it stopped.
var ErrNotConverged = errors.New("fit did not converge")

// ErrNoData is returned for a fit with no usable customers.
var ErrNoData = errors.New("no customers to fit")

// FitStats describes how a maximum-likelihood fit went.
type FitStats struct {
	LogLikelihood float64   // at the optimum (penalty excluded)
	StdErr        []float64 // standard errors of the parameters, in the model's parameter order, from the inverse Hessian
	// Cov is the covariance of the parameters (the inverse observed
	// information), row-major n×n in the same order; nil with StdErr.
	Cov        []float64
	Iterations int
	FuncEvals  int
	Status     string // the optimiser's status
	Customers  float64
	Patterns   int
	// Warning, when not empty, says what a user should know of the fit: it
	// ran to a boundary and was refitted with a penalty, say.
	Warning string
}

// FitOptions tune a fit. The zero value is a plain maximum-likelihood fit.
type FitOptions struct {
	// Penalizer adds Penalizer · Σ θ² on the parameters (lifetimes'
	// penalizer_coef) to keep small or degenerate samples finite.
	Penalizer float64
	// MaxIterations bounds the optimiser; 0 = 1000.
	MaxIterations int
}

// negLogLik is an objective over log-parameters: it returns −LL and, when
// grad is not nil, fills grad with d(−LL)/d(log θ).
type negLogLik func(logTheta, grad []float64) float64

// maximize fits an objective from a start in log space with BFGS. It
// returns the optimum, gonum's result, and a status to report. n is the
// the number of customers the objective sums over: the gradient test is
// relative to it (1e-7 per customer moves a log-parameter by about 1e-7),
// so a million customers do not need a thousand times the iterations of
// a thousand.
func maximize(f negLogLik, start []float64, opt FitOptions, customers float64) ([]float64, *optimize.Result, string, error) {
	pen := opt.Penalizer
	problem := optimize.Problem{
		Func: func(lt []float64) float64 {
			v := f(lt, nil)
			for _, l := range lt {
				v += pen * math.Exp(2*l)
			}
			return v
		},
		Grad: func(grad, lt []float64) {
			f(lt, grad)
			for i, l := range lt {
				grad[i] += 2 * pen * math.Exp(2*l)
			}
		},
	}
	return minimize(problem, &optimize.BFGS{}, start, opt, customers)
}

// minimize runs a gonum method on a problem over log-parameters with the
// convergence tests described at maximize, and checks what it returns.
func minimize(problem optimize.Problem, method optimize.Method, start []float64, opt FitOptions, customers float64) ([]float64, *optimize.Result, string, error) {
	maxIter := opt.MaxIterations
	if maxIter == 0 {
		maxIter = 1000
	}
	settings := &optimize.Settings{
		MajorIterations:   maxIter,
		GradientThreshold: 1e-7 * math.Max(1, customers),
		Converger:         &optimize.FunctionConverge{Absolute: 1e-12 * math.Max(1, customers), Relative: 1e-15, Iterations: 10},
	}
	res, err := optimize.Minimize(problem, append([]float64(nil), start...), settings, method)
	if res == nil {
		return nil, nil, "", fmt.Errorf("%w: %v", ErrNotConverged, err)
	}
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return res.X, res, res.Status.String(), fmt.Errorf("%w: parameters not finite (%v)", ErrNotConverged, res.Status)
		}
	}
	g := make([]float64, len(start))
	problem.Grad(g, res.X)
	status := fmt.Sprintf("%v, max |gradient| %.2g", res.Status, maxAbs(g))
	if err != nil {
		// Gonum reports a line search that cannot improve on an optimum as a
		// failure; accept it only where the gradient is flat.
		if maxAbs(g) > 1e-4*math.Max(1, math.Abs(res.F)) {
			return res.X, res, status, fmt.Errorf("%w: %v (max |gradient| %.3g)", ErrNotConverged, err, maxAbs(g))
		}
		status = fmt.Sprintf("converged: line search stopped at a flat gradient (max |gradient| %.2g)", maxAbs(g))
	}
	return res.X, res, status, nil
}

// llSums evaluates Σ count · LL at θ (natural parameters) and, when asked,
// its gradient and Hessian in θ.
type llSums func(theta []float64, wantGrad, wantHess bool) sums

// maximizeNewton maximises a log-likelihood of up to four parameters over
// log-parameters with gonum's Newton method and the analytic Hessian:
// a handful of iterations where BFGS needs twenty or more, each one pass
// over the data (the value, gradient and Hessian at a point are computed
// together and kept for the method's next request at the same point).
//
// It also returns the sums (LL, gradient, Hessian in θ) at the optimum.
func maximizeNewton(ll llSums, start []float64, opt FitOptions, customers float64) ([]float64, *optimize.Result, string, sums, error) {
	pen := opt.Penalizer
	n := len(start)
	var at []float64
	var f float64
	var grad [4]float64
	var hess [10]float64
	var s sums
	ensure := func(lt []float64) {
		if at != nil && slices.Equal(at, lt) {
			return
		}
		at = append(at[:0], lt...)
		var th [4]float64
		for i, l := range lt {
			th[i] = math.Exp(l)
		}
		s = ll(th[:n], true, true)
		if math.IsNaN(s.ll) || math.IsInf(s.ll, 0) {
			// Outside the region where the likelihood is finite: the line
			// search steps back.
			f, grad, hess = math.Inf(1), [4]float64{}, [10]float64{}
			for i := 0; i < n; i++ {
				hess[hIndex(i, i)] = 1
			}
			return
		}
		f = -s.ll
		for i := 0; i < n; i++ {
			f += pen * th[i] * th[i]
			grad[i] = -s.g[i]*th[i] + 2*pen*th[i]*th[i]
			for j := i; j < n; j++ {
				// d²/dlθi dlθj = θi θj ∂²/∂θi∂θj + [i = j] θi ∂/∂θi
				v := -th[i] * th[j] * s.h[hIndex(i, j)]
				if i == j {
					v += -th[i]*s.g[i] + 4*pen*th[i]*th[i]
				}
				hess[hIndex(i, j)] = v
			}
		}
	}
	problem := optimize.Problem{
		Func: func(lt []float64) float64 { ensure(lt); return f },
		Grad: func(g, lt []float64) { ensure(lt); copy(g, grad[:n]) },
		Hess: func(h *mat.SymDense, lt []float64) {
			ensure(lt)
			for i := 0; i < n; i++ {
				for j := i; j < n; j++ {
					h.SetSym(i, j, hess[hIndex(i, j)])
				}
			}
		},
	}
	lt, res, status, err := minimize(problem, &optimize.Newton{}, start, opt, customers)
	if lt != nil {
		ensure(lt)
	}
	return lt, res, status, s, err
}

// stdErrorsFromHessian returns the standard errors of the n parameters θ
// from the Hessian of LL in θ at the optimum (the square roots of the
// diagonal of the inverse observed information), or nil where it is not a
// strict maximum.
func stdErrorsFromHessian(h [10]float64, n int) ([]float64, []float64) {
	info := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			info.SetSym(i, j, -h[hIndex(i, j)])
		}
	}
	return stdErrorsOf(info)
}

// stdErrorsOf returns the square roots of the diagonal of the inverse of an
// information matrix and the inverse itself (row-major), or nils where it
// is not positive definite (not a strict maximum: no standard errors,
// rather than NaNs).
func stdErrorsOf(info *mat.SymDense) ([]float64, []float64) {
	var chol mat.Cholesky
	if !chol.Factorize(info) {
		return nil, nil
	}
	var cov mat.SymDense
	if err := chol.InverseTo(&cov); err != nil {
		return nil, nil
	}
	n := info.SymmetricDim()
	se, flat := make([]float64, n), make([]float64, n*n)
	for i := range se {
		se[i] = math.Sqrt(cov.At(i, i))
		for j := 0; j < n; j++ {
			flat[i*n+j] = cov.At(i, j)
		}
	}
	return se, flat
}

// rescaleCov divides the standard errors and covariances of the
// parameters marked in scaled by the scale their fit ran at.
func rescaleCov(se, cov []float64, scaled []bool, scale float64) {
	n := len(se)
	f := func(i int) float64 {
		if scaled[i] {
			return scale
		}
		return 1
	}
	for i := range se {
		se[i] /= f(i)
		for j := 0; j < n; j++ {
			cov[i*n+j] /= f(i) * f(j)
		}
	}
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// stdErrors returns the standard errors of the natural parameters θ at an
// optimum: the square roots of the diagonal of the inverse of the Hessian of
// −LL in θ, taken by central differences of the analytic gradient.
func stdErrors(f negLogLik, theta []float64) ([]float64, []float64) {
	n := len(theta)
	gradNatural := func(th []float64) []float64 {
		lt := make([]float64, n)
		for i, v := range th {
			lt[i] = math.Log(v)
		}
		g := make([]float64, n)
		f(lt, g)
		for i := range g {
			g[i] /= th[i] // d/dθ = d/dlogθ / θ
		}
		return g
	}
	h := mat.NewSymDense(n, nil)
	rows := make([][]float64, n)
	for j := 0; j < n; j++ {
		step := 1e-5 * theta[j]
		up := append([]float64(nil), theta...)
		dn := append([]float64(nil), theta...)
		up[j] += step
		dn[j] -= step
		gu, gd := gradNatural(up), gradNatural(dn)
		rows[j] = make([]float64, n)
		for i := 0; i < n; i++ {
			rows[j][i] = (gu[i] - gd[i]) / (2 * step)
		}
	}
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			h.SetSym(i, j, (rows[i][j]+rows[j][i])/2)
		}
	}
	return stdErrorsOf(h)
}
