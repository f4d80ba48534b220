package model

import (
	"fmt"
	"math"
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

// logLik of one spend pattern (FHL 2005 "RFM and CLV", appendix), with
// derivatives in (p, q, γ) times w added to grad.
func (m GammaGamma) logLik(s SpendPattern, grad []float64, w float64) float64 {
	p, q, g := m.P, m.Q, m.Gamma
	x, mb := s.X, s.M
	lgPXQ, _ := math.Lgamma(p*x + q)
	lgPX, _ := math.Lgamma(p * x)
	lgQ, _ := math.Lgamma(q)
	ll := lgPXQ - lgPX - lgQ + q*math.Log(g) + (p*x-1)*math.Log(mb) + p*x*math.Log(x) - (p*x+q)*math.Log(g+mb*x)
	if grad != nil {
		psi := digamma(p*x + q)
		grad[0] += w * x * (psi - digamma(p*x) + math.Log(mb) + math.Log(x) - math.Log(g+mb*x))
		grad[1] += w * (psi - digamma(q) + math.Log(g) - math.Log(g+mb*x))
		grad[2] += w * (q/g - (p*x+q)/(g+mb*x))
	}
	return ll
}

// LogLik returns the log-likelihood of weighted spend patterns.
func (m GammaGamma) LogLik(ss []SpendPattern) float64 {
	var ll float64
	for _, s := range ss {
		ll += s.Count * m.logLik(s, nil, 0)
	}
	return ll
}

// GammaGammaFit is a fitted Gamma-Gamma model.
type GammaGammaFit struct {
	GammaGamma
	FitStats
}

// FitGammaGamma fits Gamma-Gamma on repeat buyers (x ≥ 1, M > 0); spend is
// rescaled to a mean of 1 while optimising and γ scaled back.
func FitGammaGamma(ss []SpendPattern, opt FitOptions) (*GammaGammaFit, error) {
	var n, sum float64
	for _, s := range ss {
		if s.X < 1 || !(s.M > 0) {
			return nil, fmt.Errorf("bad spend pattern %+v: Gamma-Gamma needs x ≥ 1 and a positive mean spend", s)
		}
		n += s.Count
		sum += s.Count * s.M
	}
	if n == 0 {
		return nil, ErrNoData
	}
	scale := n / sum
	scaled := make([]SpendPattern, len(ss))
	for i, s := range ss {
		scaled[i] = SpendPattern{X: s.X, M: s.M * scale, Count: s.Count}
	}
	nll := func(data []SpendPattern) negLogLik {
		return func(lt, grad []float64) float64 {
			m := GammaGamma{P: math.Exp(lt[0]), Q: math.Exp(lt[1]), Gamma: math.Exp(lt[2])}
			var g []float64
			if grad != nil {
				g = make([]float64, 3)
			}
			var ll float64
			for _, s := range data {
				ll += s.Count * m.logLik(s, g, s.Count)
			}
			if grad != nil {
				theta := []float64{m.P, m.Q, m.Gamma}
				for i := range grad {
					grad[i] = -g[i] * theta[i]
				}
			}
			if math.IsNaN(ll) {
				return math.Inf(1)
			}
			return -ll
		}
	}
	lt, res, status, err := maximize(nll(scaled), []float64{0, 0, 0}, opt, n)
	fit := &GammaGammaFit{}
	if res != nil {
		fit.Iterations, fit.FuncEvals, fit.Status = res.Stats.MajorIterations, res.Stats.FuncEvaluations, status
	}
	if lt == nil {
		return fit, err
	}
	fit.GammaGamma = GammaGamma{P: math.Exp(lt[0]), Q: math.Exp(lt[1]), Gamma: math.Exp(lt[2]) / scale}
	fit.LogLikelihood = fit.GammaGamma.LogLik(ss)
	fit.Customers, fit.Patterns = n, len(ss)
	if err != nil {
		return fit, err
	}
	fit.StdErr = stdErrors(nll(ss), []float64{fit.P, fit.Q, fit.Gamma})
	return fit, nil
}

// ExpectedSpend returns E[spend per purchase | x, m̄]: a weighted mean of the
// population mean p·γ/(q−1) and the customer's own mean m̄ (eq. 5). For x = 0
// it is the population mean.
func (m GammaGamma) ExpectedSpend(x, mean float64) float64 {
	return (m.P * (m.Gamma + x*mean)) / (m.P*x + m.Q - 1)
}
