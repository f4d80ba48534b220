package model

import (
	"math"
	"runtime"
	"sync"
)

// Fitting Pareto/NBD. The drop-out integral of a pattern runs from t_x to T,
// and it is the difference of two tails that end at the largest T of the
// fit, H:
//
//	I(t_x, T) = G(t_x) − G(T),   G(t) = ∫_t^H (α+τ)^−(r+x) (β+τ)^−(s+1) dτ.
//
// A tail depends on x and one time, not on the pattern, and a million
// customers have only some ten thousand distinct (x, t) — so an evaluation
// integrates each once (with the moments its gradient and Hessian need) and
// spends a few exps per pattern. (Tails to ∞ would do as well for the
// value, but the moment of ln(α+τ) then has a logarithmic singularity at
// the end of the substituted interval that the quadrature rule does not
// see.) The difference cancels when T is close to t_x; it is then small
// next to the term of a customer alive at T, so the error it carries is
// relative to the whole likelihood, ~1e−12.

// tailTable lists the distinct (x, t) of a table, t being a pattern's t_x
// or T, with each pattern's two.
type tailTable struct {
	x, t      []float64 // per tail; t in the fit's time scale
	end       float64   // H, the largest T
	ofTX, ofT []int32   // per pattern
}

func newTailTable(tb *table) *tailTable {
	var times floatIndex
	tOf, txOf := make([]int32, len(tb.ts)), make([]int32, len(tb.txs))
	for i, t := range tb.ts {
		tOf[i], _ = times.index(t)
	}
	end := 0.0
	for _, t := range tb.ts {
		end = math.Max(end, t)
	}
	for i, t := range tb.txs {
		txOf[i], _ = times.index(t)
	}
	tl := &tailTable{end: end, ofTX: make([]int32, len(tb.ps)), ofT: make([]int32, len(tb.ps))}
	// Per run of x, a dense map from time to tail, reset by run number.
	seen, slot := make([]int32, len(times.order)), make([]int32, len(times.order))
	for i := range seen {
		seen[i] = -1
	}
	tail := func(run int32, x float64, time int32) int32 {
		if seen[time] != run {
			seen[time], slot[time] = run, int32(len(tl.x))
			tl.x = append(tl.x, x)
			tl.t = append(tl.t, math.Float64frombits(times.order[time]))
		}
		return slot[time]
	}
	for r, run := range tb.runs {
		for i := run.lo; i < run.hi; i++ {
			tl.ofTX[i] = tail(int32(r), run.x, txOf[tb.txIdx[i]])
			tl.ofT[i] = tail(int32(r), run.x, tOf[tb.tIdx[i]])
		}
	}
	return tl
}

// paretoFit evaluates the Pareto/NBD log-likelihood on a table, with the
// gradient and the Hessian in (r, α, s, β).
type paretoFit struct {
	tb *table
	tl *tailTable
}

func (e paretoFit) eval(th []float64, wantGrad, wantHess bool) sums {
	r, al, s, be := th[0], th[1], th[2], th[3]
	tb, tl := e.tb, e.tl
	derivs := wantGrad || wantHess
	logG := make([]float64, len(tl.x))
	var mom []rawMoments
	if derivs {
		mom = make([]rawMoments, len(tl.x))
	}
	parallelFor(len(tl.x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var m rawMoments
			logG[i], m = paretoMoments(r+tl.x[i], al, s, be, tl.t[i], tl.end, wantHess)
			if derivs {
				mom[i] = m
			}
		}
	})
	n := len(tb.ts)
	laT, iaT, lbT, ibT := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, t := range tb.ts {
		laT[i], iaT[i], lbT[i], ibT[i] = math.Log(al+t), 1/(al+t), math.Log(be+t), 1/(be+t)
	}
	lgR, _ := math.Lgamma(r)
	logAl, logBe, logS := math.Log(al), math.Log(be), math.Log(s)
	var psiR, triR float64
	if derivs {
		psiR = digamma(r)
	}
	if wantHess {
		triR = trigamma(r)
	}
	return tb.overRuns(func(runs []xRun, out *sums) {
		for _, run := range runs {
			x, W := run.x, run.count
			k := r + x
			lgK, _ := math.Lgamma(k)
			out.ll += W * (lgK - lgR + r*logAl + s*logBe)
			if derivs {
				out.g[0] += W * (digamma(k) - psiR + logAl)
				out.g[1] += W * r / al
				out.g[2] += W * logBe
				out.g[3] += W * s / be
			}
			if wantHess {
				out.h[hIndex(0, 0)] += W * (trigamma(k) - triR)
				out.h[hIndex(0, 1)] += W / al
				out.h[hIndex(1, 1)] -= W * r / (al * al)
				out.h[hIndex(2, 3)] += W / be
				out.h[hIndex(3, 3)] -= W * s / (be * be)
			}
			for i := run.lo; i < run.hi; i++ {
				w, j := tb.ps[i].Count, tb.tIdx[i]
				t1, t2 := tl.ofTX[i], tl.ofT[i]
				// Φ = A + J: A = (α+T)^−k (β+T)^−s alive at T, J = s·I(t_x, T)
				// a drop-out in between; all scaled by e^−ref.
				lnA := -k*laT[j] - s*lbT[j]
				ref := lnA
				if t1 != t2 {
					ref = math.Max(ref, logS+logG[t1])
				}
				A := math.Exp(lnA - ref)
				var J1, J2 float64
				if t1 != t2 {
					J1, J2 = math.Exp(logS+logG[t1]-ref), math.Exp(logS+logG[t2]-ref)
				}
				d := math.Max(0, J1-J2)
				phi := A + d
				out.ll += w * (ref + math.Log(phi))
				if !derivs {
					continue
				}
				a := [4]float64{-laT[j], -k * iaT[j], -lbT[j], -s * ibT[j]}
				// raw = J1·m(t_x) − J2·m(T): the scaled integrals over (t_x, T).
				var raw1 [4]float64
				var raw2 [10]float64
				if d > 0 {
					m1, m2 := &mom[t1], &mom[t2]
					for q := range raw1 {
						raw1[q] = J1*m1.first[q] - J2*m2.first[q]
					}
					if wantHess {
						for q := range raw2 {
							raw2[q] = J1*m1.second[q] - J2*m2.second[q]
						}
					}
				}
				// P = s∫f∇ℓ, with ∇ℓ = (−ln(α+τ), −k/(α+τ), −ln(β+τ), −(s+1)/(β+τ)).
				P := [4]float64{-raw1[0], -k * raw1[1], -raw1[2], -(s + 1) * raw1[3]}
				var gPhi [4]float64
				for q := range gPhi {
					gPhi[q] = A*a[q] + P[q]
				}
				gPhi[2] += d / s
				for q := range gPhi {
					gPhi[q] /= phi
					out.g[q] += w * gPhi[q]
				}
				if !wantHess {
					continue
				}
				// Q = s∫f(∇ℓ∇ℓᵀ + ∇²ℓ), from the raw second moments
				// (la la, la ia, la lb, la ib, ia ia, ia lb, ia ib, lb lb, lb ib, ib ib).
				s1 := s + 1
				Q := [10]float64{
					raw2[0], k*raw2[1] - raw1[1], raw2[2], s1 * raw2[3],
					k * (k + 1) * raw2[4], k * raw2[5], k * s1 * raw2[6],
					raw2[7], s1*raw2[8] - raw1[3],
					s1 * (s1 + 1) * raw2[9],
				}
				// ∇²ln A: (r,α) −1/(α+T), (α,α) k/(α+T)², (s,β) −1/(β+T), (β,β) s/(β+T)².
				hA := [10]float64{}
				hA[hIndex(0, 1)] = -iaT[j]
				hA[hIndex(1, 1)] = k * iaT[j] * iaT[j]
				hA[hIndex(2, 3)] = -ibT[j]
				hA[hIndex(3, 3)] = s * ibT[j] * ibT[j]
				for p := 0; p < 4; p++ {
					for q := p; q < 4; q++ {
						hq := hIndex(p, q)
						v := A*(a[p]*a[q]+hA[hq]) + Q[hq]
						if p == 2 {
							v += P[q] / s
						}
						if q == 2 {
							v += P[p] / s
						}
						out.h[hq] += w * (v/phi - gPhi[p]*gPhi[q])
					}
				}
			}
		}
	})
}

// parallelFor runs f over [0, n) in one contiguous share per core.
func parallelFor(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1000 || workers < 2 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			f(k*n/workers, (k+1)*n/workers)
		}(k)
	}
	wg.Wait()
}
