package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBGFamilyDerivatives: BG/NBD and MBG/NBD on a table equal their
// published likelihoods written out pattern by pattern (FHL 2005 eq. 6;
// Batislam et al. 2007), and the analytic gradient and Hessian equal
// central differences of the log-likelihood and of the gradient.
func TestBGFamilyDerivatives(t *testing.T) {
	ps := simulateBGNBD(BGNBD{R: 0.3, Alpha: 3, A: 1.2, B: 2}, 3000, 10, 40, 1)
	ps = append(ps, Pattern{X: 800, TX: 39, T: 39, Count: 2})
	ps, _, err := prepare(ps)
	if err != nil {
		t.Fatal(err)
	}
	tb := newTable(ps, 1)
	lg := func(v float64) float64 { l, _ := math.Lgamma(v); return l }
	lbeta := func(a, b float64) float64 { return lg(a) + lg(b) - lg(a+b) }
	// direct is Σ count · LL, one pattern at a time, as the papers write it.
	direct := func(th []float64, shift float64) float64 {
		r, al, a, b := th[0], th[1], th[2], th[3]
		var ll float64
		for _, p := range ps {
			x := p.X
			l := lbeta(a, b+x+shift) - lbeta(a, b) + lg(r+x) - lg(r) + r*math.Log(al)
			alive := -(r + x) * math.Log(al+p.T)
			if x+shift > 0 {
				drop := math.Log(a/(b+x+shift-1)) - (r+x)*math.Log(al+p.TX)
				m := math.Max(alive, drop)
				l += m + math.Log(math.Exp(alive-m)+math.Exp(drop-m))
			} else {
				l += alive
			}
			ll += p.Count * l
		}
		return ll
	}
	theta := []float64{0.4, 5, 0.9, 3}
	for _, c := range []struct {
		name  string
		shift float64
	}{{"bgnbd", 0}, {"mbgnbd", 1}} {
		ev := bgFamily{tb: tb, shift: c.shift}
		s := ev.eval(theta, true, true)
		if want := direct(theta, c.shift); math.Abs(s.ll-want) > 1e-10*math.Abs(want) {
			t.Errorf("%s: LL %.12g on the table, %.12g written out", c.name, s.ll, want)
		}
		for i := 0; i < 4; i++ {
			h := 1e-6 * theta[i]
			up, dn := slices.Clone(theta), slices.Clone(theta)
			up[i] += h
			dn[i] -= h
			num := (direct(up, c.shift) - direct(dn, c.shift)) / (2 * h)
			if math.Abs(s.g[i]-num) > 1e-5*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: gradient %d %.10g, central difference %.10g", c.name, i, s.g[i], num)
			}
		}
		checkHessian(t, c.name, ev.eval, theta, s.h, 1e-5)
	}
}

// TestDigamma: ψ against values from the reflection-free closed forms
// ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ψ(n+1) = ψ(n) + 1/n, and ψ′ against its
// difference quotient.
func TestDigamma(t *testing.T) {
	const gamma = 0.57721566490153286061
	want := map[float64]float64{1: -gamma, 0.5: -gamma - 2*math.Ln2, 4: -gamma + 1 + 0.5 + 1.0/3}
	for x, w := range want {
		if got := digamma(x); math.Abs(got-w) > 1e-13 {
			t.Errorf("ψ(%g) = %.17g, want %.17g", x, got, w)
		}
	}
	for _, x := range []float64{0.05, 0.7, 1, 3, 6.999, 7, 9.9999, 10, 55, 3000} {
		h := 1e-5 * x
		num := (digamma(x+h) - digamma(x-h)) / (2 * h)
		if got := trigamma(x); math.Abs(got-num) > 1e-8*got {
			t.Errorf("ψ′(%g) = %.12g, difference quotient of ψ %.12g", x, got, num)
		}
	}
}

// BenchmarkCompress1M compresses one million customers' summaries.
func BenchmarkCompress1M(b *testing.B) {
	x, tx, T := customers1M()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Compress(x, tx, T)
	}
}

// TestParetoTailsDerivatives: Pareto/NBD evaluated through tails equals the
// pattern-by-pattern integral, and its analytic gradient and Hessian equal
// central differences.
func TestParetoTailsDerivatives(t *testing.T) {
	ps := simulateParetoNBD(ParetoNBD{R: 0.55, Alpha: 10.5, S: 0.6, Beta: 11.7}, 3000, 26, 78, 5)
	// Heavy buyers and β ≪ α, where the integral is hardest.
	ps = append(ps, Pattern{X: 1500, TX: 70, T: 78, Count: 2}, Pattern{X: 3, TX: 20, T: 20, Count: 1}, Pattern{X: 0, TX: 0, T: 0.5, Count: 3})
	ps, _, err := prepare(ps)
	if err != nil {
		t.Fatal(err)
	}
	tb := newTable(ps, 1)
	ev := paretoFit{tb: tb, tl: newTailTable(tb)}
	for _, theta := range [][]float64{{0.5, 9, 0.7, 12}, {0.6, 12, 1.3, 0.05}, {2, 0.5, 0.4, 40}} {
		s := ev.eval(theta, true, true)
		want, wantG := ParetoNBD{theta[0], theta[1], theta[2], theta[3]}.sumLogLik(ps, true)
		if math.Abs(s.ll-want) > 1e-9*math.Abs(want) {
			t.Errorf("θ %v: LL %.12g through tails, %.12g pattern by pattern", theta, s.ll, want)
		}
		for i := 0; i < 4; i++ {
			if math.Abs(s.g[i]-wantG[i]) > 1e-7*math.Max(1, math.Abs(wantG[i])) {
				t.Errorf("θ %v: gradient %d %.10g, pattern by pattern %.10g", theta, i, s.g[i], wantG[i])
			}
		}
		checkHessian(t, fmt.Sprintf("pareto at θ %v", theta), ev.eval, theta, s.h, 1e-4)
	}
}

// TestCompressDays: whole-day summaries compressed by the radix path give
// the same patterns, counts and per-customer indices as the hash path;
// summaries off the day grid fall back to it.
func TestCompressDays(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	n := 50_001
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range x {
		T[i] = float64(rng.IntN(900)) / 7
		tx[i] = float64(rng.IntN(int(T[i]*7)+1)) / 7
		x[i] = float64(rng.IntN(40))
		if i%1000 == 0 {
			x[i] = 5000 + float64(i)
		}
	}
	check := func(name string, wantFast bool) {
		ps, of, ok := compressDays(x, tx, T, true)
		if ok != wantFast {
			t.Fatalf("%s: radix path taken = %v, want %v", name, ok, wantFast)
		}
		ref, refOf := compressHashed(x, tx, T)
		if !ok {
			ps, of = CompressIndexed(x, tx, T)
			if len(ps) != len(ref) {
				t.Fatalf("%s: %d patterns, hash path %d", name, len(ps), len(ref))
			}
		}
		if len(ps) != len(ref) {
			t.Fatalf("%s: %d patterns, hash path %d", name, len(ps), len(ref))
		}
		if !slices.IsSortedFunc(ps, comparePatterns) && ok {
			t.Errorf("%s: patterns not sorted", name)
		}
		for i := range x {
			got, want := ps[of[i]], ref[refOf[i]]
			if got != want {
				t.Fatalf("%s: customer %d in %+v, hash path %+v", name, i, got, want)
			}
			if got.X != x[i] || got.TX != tx[i] || got.T != T[i] {
				t.Fatalf("%s: customer %d (%v, %v, %v) in pattern %+v", name, i, x[i], tx[i], T[i], got)
			}
		}
		if c := slices.Compact(slices.Clone(Compress(x, tx, T))); len(c) != len(ref) {
			t.Errorf("%s: Compress gives %d patterns, want %d", name, len(c), len(ref))
		}
	}
	check("days in weeks", true)
	for i := range T { // days
		T[i], tx[i] = math.Round(T[i]*7), math.Round(tx[i]*7)
	}
	check("days", true)
	T[n-1] += 1e-9 // one value off the grid
	check("off the grid", false)
}

// checkHessian compares an analytic Hessian with central differences of the
// analytic gradient, relative to max(1, |value|).
func checkHessian(t *testing.T, name string, eval llSums, theta []float64, hess [10]float64, tol float64) {
	t.Helper()
	for i := 0; i < 4; i++ {
		h := 1e-5 * theta[i]
		up, dn := slices.Clone(theta), slices.Clone(theta)
		up[i] += h
		dn[i] -= h
		gu, gd := eval(up, true, false).g, eval(dn, true, false).g
		for j := 0; j < 4; j++ {
			num := (gu[j] - gd[j]) / (2 * h)
			if got := hess[hIndex(i, j)]; math.Abs(num-got) > tol*math.Max(1, math.Abs(num)) {
				t.Errorf("%s: d²LL/dθ%d dθ%d analytic %.8g, numeric %.8g", name, i, j, got, num)
			}
		}
	}
}
