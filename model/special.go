package model

import "gonum.org/v1/gonum/mathext"

// digamma is ψ, the derivative of ln Γ.
func digamma(x float64) float64 { return mathext.Digamma(x) }

// hyp2f1 is the Gaussian hypergeometric function ₂F₁(a, b; c; z) for |z| < 1.
func hyp2f1(a, b, c, z float64) float64 { return mathext.Hypergeo(a, b, c, z) }
