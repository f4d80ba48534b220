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
	if !(x > 0) || math.IsInf(x, 1) {
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
// function ζ(2, x).
func trigamma(x float64) float64 { return mathext.Zeta(2, x) }

// hyp2f1 is the Gaussian hypergeometric function ₂F₁(a, b; c; z) for |z| < 1.
func hyp2f1(a, b, c, z float64) float64 { return mathext.Hypergeo(a, b, c, z) }
