package model

import (
	"math"
	"slices"
)

// bgFamily evaluates the BG/NBD (shift 0) and MBG/NBD (shift 1)
// log-likelihoods on a table, with the gradient and the Hessian in
// (r, α, a, b). Both are
//
//	LL = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x+k) − ln B(a, b)
//	     + ln[ (α+T)^−(r+x) + [x+k > 0] · a/(b+x+k−1) · (α+t_x)^−(r+x) ]
//
// with k the shift: MBG/NBD lets a customer drop out after the first
// purchase too, so its second term is there for x = 0 as well. The terms
// in x alone are computed once per distinct x; per pattern what remains is
// one exp and one log1p.
type bgFamily struct {
	tb    *table
	shift float64
}

// bgSumLogLik is Σ count · LL of the BG/NBD family (shift as in bgFamily)
// on patterns in any order, with the gradient when asked.
func bgSumLogLik(ps []Pattern, th []float64, shift float64, wantGrad bool) (float64, []float64) {
	if !slices.IsSortedFunc(ps, comparePatterns) {
		ps = slices.Clone(ps)
		sortPatterns(ps)
	}
	s := bgFamily{tb: newTable(ps, 1), shift: shift}.eval(th, wantGrad, false)
	return s.ll, s.g[:]
}

// eval returns Σ count · LL at θ = (r, α, a, b) and fills s.g and s.h when
// asked.
func (e bgFamily) eval(th []float64, wantGrad, wantHess bool) sums {
	r, al, a, b := th[0], th[1], th[2], th[3]
	tb, k := e.tb, e.shift
	lt, it := make([]float64, len(tb.ts)), make([]float64, len(tb.ts))
	for i, t := range tb.ts {
		lt[i], it[i] = math.Log(al+t), 1/(al+t)
	}
	lx, ix := make([]float64, len(tb.txs)), make([]float64, len(tb.txs))
	for i, t := range tb.txs {
		lx[i], ix[i] = math.Log(al+t), 1/(al+t)
	}
	lgR, _ := math.Lgamma(r)
	lgAB, _ := math.Lgamma(a + b)
	lgB, _ := math.Lgamma(b)
	logA, logAl := math.Log(a), math.Log(al)
	var psiR, psiAB, psiB, triR, triAB, triB float64
	if wantGrad || wantHess {
		psiR, psiAB, psiB = digamma(r), digamma(a+b), digamma(b)
	}
	if wantHess {
		triR, triAB, triB = trigamma(r), trigamma(a+b), trigamma(b)
	}
	return tb.overRuns(func(runs []xRun, s *sums) {
		for _, run := range runs {
			x, W := run.x, run.count
			rx := r + x
			lgRX, _ := math.Lgamma(rx)
			lgBX, _ := math.Lgamma(b + x + k)
			lgABX, _ := math.Lgamma(a + b + x + k)
			s.ll += W * (lgRX - lgR + r*logAl + lgAB + lgBX - lgB - lgABX)
			if wantGrad || wantHess {
				s.g[0] += W * (digamma(rx) - psiR + logAl)
				s.g[1] += W * r / al
				s.g[2] += W * (psiAB - digamma(a+b+x+k))
				s.g[3] += W * (psiAB + digamma(b+x+k) - psiB - digamma(a+b+x+k))
			}
			if wantHess {
				tABX := trigamma(a + b + x + k)
				s.h[hIndex(0, 0)] += W * (trigamma(rx) - triR)
				s.h[hIndex(0, 1)] += W / al
				s.h[hIndex(1, 1)] -= W * r / (al * al)
				s.h[hIndex(2, 2)] += W * (triAB - tABX)
				s.h[hIndex(2, 3)] += W * (triAB - tABX)
				s.h[hIndex(3, 3)] += W * (triAB + trigamma(b+x+k) - triB - tABX)
			}
			ps := tb.ps[run.lo:run.hi]
			tIdx, txIdx := tb.tIdx[run.lo:run.hi], tb.txIdx[run.lo:run.hi]
			if x+k == 0 { // BG/NBD, no repeat purchase: ln (α+T)^−r, nothing to mix
				for i, p := range ps {
					j, w := tIdx[i], p.Count
					s.ll -= w * rx * lt[j]
					if wantGrad || wantHess {
						s.g[0] -= w * lt[j]
						s.g[1] -= w * rx * it[j]
					}
					if wantHess {
						s.h[hIndex(0, 1)] -= w * it[j]
						s.h[hIndex(1, 1)] += w * rx * it[j] * it[j]
					}
				}
				continue
			}
			// a3 = −(r+x) ln(α+T), a4 = ln a − ln(b+x+k−1) − (r+x) ln(α+t_x);
			// ln(e^a3 + e^a4) with weights w3, w4 = 1 − w3.
			ib := 1 / (b + x + k - 1)
			c4 := logA + math.Log(ib)
			var g0, g1, g2, h01, h11 float64
			var d [10]float64 // Σ w·w3·w4 · d dᵀ, d = ∇a3 − ∇a4
			var prod logProduct
			for i, p := range ps {
				j, q, w := tIdx[i], txIdx[i], p.Count
				a3 := -rx * lt[j]
				a4 := c4 - rx*lx[q]
				// ln(e^a3 + e^a4) = max + ln(1+e), e = e^−|a3−a4| ≤ 1. The
				// logs of 1+e ∈ [1, 2] are summed as the log of their product
				// (see logProduct): one log per 128 patterns instead of one
				// each, with the same ~1e−16 absolute error per pattern.
				var base, w3 float64
				var ex float64
				if dd := a4 - a3; dd <= 0 {
					ex = math.Exp(dd)
					base, w3 = a3, 1/(1+ex)
				} else {
					ex = math.Exp(-dd)
					base, w3 = a4, ex/(1+ex)
				}
				s.ll += w*base + prod.add(1+ex, w)
				if !wantGrad && !wantHess {
					continue
				}
				w4 := 1 - w3
				g0 -= w * (w3*lt[j] + w4*lx[q])
				g1 -= w * (w3*it[j] + w4*ix[q])
				g2 += w * w4
				if !wantHess {
					continue
				}
				h01 -= w * (w3*it[j] + w4*ix[q])
				h11 += w * (w3*it[j]*it[j] + w4*ix[q]*ix[q])
				v := w * w3 * w4
				d0, d1 := lx[q]-lt[j], -rx*(it[j]-ix[q])
				d[0] += v * d0 * d0
				d[1] += v * d0 * d1
				d[2] += v * d0
				d[3] += v * d1 * d1
				d[4] += v * d1
				d[5] += v
			}
			s.ll += prod.log()
			if wantGrad || wantHess {
				s.g[0] += g0
				s.g[1] += rx * g1
				s.g[2] += g2 / a
				s.g[3] -= g2 * ib
			}
			if wantHess {
				// The third and fourth components of d are −1/a and ib for
				// every pattern of the run, so their products factor out.
				s.h[hIndex(0, 0)] += d[0]
				s.h[hIndex(0, 1)] += h01 + d[1]
				s.h[hIndex(0, 2)] -= d[2] / a
				s.h[hIndex(0, 3)] += d[2] * ib
				s.h[hIndex(1, 1)] += rx*h11 + d[3]
				s.h[hIndex(1, 2)] -= d[4] / a
				s.h[hIndex(1, 3)] += d[4] * ib
				s.h[hIndex(2, 2)] += -g2/(a*a) + d[5]/(a*a)
				s.h[hIndex(2, 3)] -= d[5] * ib / a
				s.h[hIndex(3, 3)] += g2*ib*ib + d[5]*ib*ib
			}
		}
	})
}

// logProduct sums w·ln(y) for y in [1, 2] as the log of a running product:
// multiplications instead of a log each. Small whole weights multiply y in
// w times; others take the log at once. The product is folded into a log
// every 128 factors (at most 2^(4·128), far from overflow).
type logProduct struct {
	p float64
	n int
}

// add takes in w·ln(y) and returns what could not be deferred.
func (l *logProduct) add(y, w float64) float64 {
	if l.n == 0 {
		l.p = 1
	}
	switch w {
	case 1:
		l.p *= y
	case 2:
		l.p *= y * y
	case 3:
		l.p *= y * y * y
	case 4:
		y2 := y * y
		l.p *= y2 * y2
	default:
		return w * math.Log(y)
	}
	l.n++
	if l.n == 128 {
		return l.log()
	}
	return 0
}

// log returns the log of the product so far and starts a new one.
func (l *logProduct) log() float64 {
	if l.n == 0 {
		return 0
	}
	v := math.Log(l.p)
	l.n = 0
	return v
}
