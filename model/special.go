package model

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// digamma is ψ, the derivative of ln Γ, for x > 0: the recurrence
// ψ(x) = ψ(x+1) − 1/x up to x ≥ 10, then the asymptotic series to x⁻¹⁰,
// whose next term is below 3e−14 there. (gonum's Digamma switches to its
// series at 7 with fewer terms, so its value jumps by ~1e−10 at integers,
// enough to spoil numerical derivatives of the gradient.)
func digamma(x float64) float64 {
	switch {
	case math.IsNaN(x) || x <= 0 && x == math.Floor(x):
		return math.NaN() // a pole (gonum panics there): a parameter the optimiser drove to 0
	case math.IsInf(x, 1):
		return x
	case !(x > 0):
		return mathext.Digamma(x)
	}
	var acc float64
	for ; x < 10; x++ {
		acc -= 1 / x
	}
	y := 1 / (x * x)
	series := y * (1.0/12 - y*(1.0/120-y*(1.0/252-y*(1.0/240-y*(1.0/132)))))
	return acc + math.Log(x) - 0.5/x - series
}

// trigamma is ψ′, the derivative of the digamma function: the Hurwitz zeta
// function ζ(2, x). At its poles, 0 and the negative integers, where gonum
// panics, it is +Inf at 0 (its limit from above) and NaN elsewhere.
func trigamma(x float64) float64 {
	switch {
	case x == 0:
		return math.Inf(1)
	case math.IsNaN(x) || x < 0 && x == math.Floor(x):
		return math.NaN()
	case math.IsInf(x, 1):
		return 0
	}
	return mathext.Zeta(2, x)
}

// hyp2f1 is the Gaussian hypergeometric function ₂F₁(a, b; c; z) for |z| < 1:
// its power series where that converges within a thousand terms, else
// gonum's. gonum moves a parameter below −50 to near zero by a recurrence
// of |a| steps, which on a degenerate fit (r ≈ 2.4e7, the Poisson limit of
// a small shop) took a minute per call; there the series, which converges
// at once for the tiny z such a fit gives, is summed to its bound, and a
// series that does not converge within it is NaN, never a hang.
func hyp2f1(a, b, c, z float64) float64 {
	if v, ok := hyp2f1Series(a, b, c, z, 1000); ok {
		return v
	}
	if math.Min(a, b) < -50 || c < -50 {
		if v, ok := hyp2f1Series(a, b, c, z, maxSeriesTerms); ok {
			return v
		}
		return math.NaN()
	}
	return mathext.Hypergeo(a, b, c, z)
}

// hyp2f1Series sums Σ (a)_k (b)_k / ((c)_k k!) z^k until the rest is below
// the last bits of the sum; ok is false when that takes more than maxTerms
// terms. The rest is bounded by the later terms' ratios: once k is past
// every parameter's magnitude, the ratio (a+k)/(k+1) · (b+k)/(c+k) · z is
// a product of two factors each monotone towards 1, so no later ratio is
// above |z| · max(1, f₁) · max(1, f₂) at the next k (with a and b either
// way round). A fit with b ≈ 1e30 (a → ∞ with a/b fixed) is summed in a
// few dozen terms this way, where waiting for k > b never ended.
func hyp2f1Series(a, b, c, z float64, maxTerms int) (float64, bool) {
	if !(math.Abs(z) < 1) || c <= 0 && c == math.Floor(c) {
		return 0, false
	}
	sum, term := 1.0, 1.0
	for k := 0; k < maxTerms; k++ {
		fk := float64(k)
		ratio := (a + fk) * (b + fk) / ((c + fk) * (fk + 1)) * z
		term *= ratio
		sum += term
		if term == 0 {
			return sum, true // a or b a non-positive integer: a polynomial
		}
		if math.IsInf(sum, 0) || math.IsNaN(sum) {
			return 0, false
		}
		if math.Abs(term) > 1e-8*math.Abs(sum) {
			continue // far from the end: spare the bound
		}
		if r := laterRatioBound(a, b, c, z, fk+1); r < 1 && math.Abs(term)*r/(1-r) <= 1e-17*math.Abs(sum) {
			return sum, true
		}
	}
	return 0, false
}

// laterRatioBound bounds |t_{j+1}/t_j| for every j ≥ k of the series of
// ₂F₁(a, b; c; z), or is +Inf where the factors are not yet monotone.
func laterRatioBound(a, b, c, z, k float64) float64 {
	if a+k <= 0 || b+k <= 0 || c+k <= 0 {
		return math.Inf(1)
	}
	bound := func(p, q float64) float64 {
		return math.Max(1, (p+k)/(k+1)) * math.Max(1, (q+k)/(c+k))
	}
	return math.Abs(z) * math.Min(bound(a, b), bound(b, a))
}

// powHyp2f1 is base^p · ₂F₁(a, b; c; z) for 0 < base ≤ 1 and 0 ≤ z < 1, the
// shape of the BTYD models' expected purchases. With large parameters (a
// small shop's fit: a in the hundreds, a year's horizon) the power underflows
// to 0 where ₂F₁ overflows to +Inf, and their product was NaN; then both are
// taken in logs, ₂F₁ by its series of positive terms (a, b, c > 0), summed
// in log space with a bound on the terms.
func powHyp2f1(base, p, a, b, c, z float64) float64 {
	h, pw := hyp2f1(a, b, c, z), math.Pow(base, p)
	if !math.IsNaN(h) && !math.IsInf(h, 0) && (pw > 0 || h == 0) {
		return pw * h
	}
	if !(a > 0 && b > 0 && c > 0 && z >= 0 && z < 1) {
		return math.NaN()
	}
	lh, ok := logHyp2f1Positive(a, b, c, z)
	if !ok {
		return math.NaN()
	}
	return math.Exp(p*math.Log(base) + lh)
}

// maxSeriesTerms bounds a series: past it the sum is not trusted (NaN, which
// the scores report as an error, never a hang).
const maxSeriesTerms = 200_000

// logHyp2f1Positive is ln ₂F₁(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1,
// where every term of the series is positive: terms t_{k+1} = t_k (a+k)(b+k)
// z / ((c+k)(k+1)), summed in logs (log-sum-exp, rescaled as the largest
// term grows).
func logHyp2f1Positive(a, b, c, z float64) (float64, bool) {
	if z == 0 {
		return 0, true
	}
	lz := math.Log(z)
	lt, lmax, sum := 0.0, 0.0, 1.0 // sum of exp(l_k − lmax)
	for k := 0; k < maxSeriesTerms; k++ {
		fk := float64(k)
		lt += math.Log((a+fk)*(b+fk)/((c+fk)*(fk+1))) + lz
		if lt > lmax {
			sum = sum*math.Exp(lmax-lt) + 1
			lmax = lt
		} else {
			sum += math.Exp(lt - lmax)
		}
		// Past the peak the terms fall at least geometrically (ratio → z):
		// stop when the rest cannot move the sum.
		if lt < lmax-40 && (a+fk)*(b+fk)*z < (c+fk)*(fk+1) {
			return lmax + math.Log(sum), true
		}
	}
	return 0, false
}
