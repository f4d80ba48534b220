package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulateBGNBD draws n customers from the BG/NBD process, observed for a
// time T uniform in [tMin, tMax]; times are rounded to days (in weeks), as
// real summaries are.
func simulateBGNBD(m BGNBD, n int, tMin, tMax float64, seed uint64) []Pattern {
	return simulateBetaGeometric(m.R, m.Alpha, m.A, m.B, false, n, tMin, tMax, rand.New(rand.NewPCG(seed, 7)))
}

// simulateMBGNBD draws n customers from the MBG/NBD process (Batislam,
// Denizel & Filiztekin 2007): like BG/NBD, but a customer may also drop out
// right after the first purchase. Times rounded to days, in weeks.
func simulateMBGNBD(m MBGNBD, n int, tMin, tMax float64, seed uint64) []Pattern {
	return simulateBetaGeometric(m.R, m.Alpha, m.A, m.B, true, n, tMin, tMax, rand.New(rand.NewPCG(seed, 11)))
}

// simulateBetaGeometric draws customers who buy at rate λ ~ Gamma(r, α)
// and drop out with probability p ~ Beta(a, b) after each purchase — and,
// with atFirst (MBG/NBD), also after the first one, at time 0.
func simulateBetaGeometric(r, alpha, a, b float64, atFirst bool, n int, tMin, tMax float64, rng *rand.Rand) []Pattern {
	lam := distuv.Gamma{Alpha: r, Beta: alpha, Src: rng}
	pd := distuv.Beta{Alpha: a, Beta: b, Src: rng}
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		l, p := lam.Rand(), pd.Rand()
		T[i] = math.Round((tMin+rng.Float64()*(tMax-tMin))*7) / 7
		t := 0.0
		for {
			if atFirst && rng.Float64() < p { // gone after the purchase at t
				break
			}
			t += rng.ExpFloat64() / l
			if t > T[i] {
				break
			}
			x[i]++
			tx[i] = t
			if !atFirst && rng.Float64() < p {
				break
			}
		}
		tx[i] = math.Min(math.Round(tx[i]*7)/7, T[i])
	}
	return Compress(x, tx, T)
}

// TestBGNBDRecoversParameters: on 300,000 simulated customers every
// estimate lies within 3 standard errors of the truth.
func TestBGNBDRecoversParameters(t *testing.T) {
	truth := BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}
	ps := simulateBGNBD(truth, 300_000, 26, 78, 42)
	fit, err := FitBGNBD(ps, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := []float64{fit.R, fit.Alpha, fit.A, fit.B}
	want := []float64{truth.R, truth.Alpha, truth.A, truth.B}
	for i, name := range []string{"r", "alpha", "a", "b"} {
		if math.Abs(got[i]-want[i]) > 3*fit.StdErr[i] {
			t.Errorf("%s = %.4f ± %.4f, truth %.4f", name, got[i], fit.StdErr[i], want[i])
		}
	}
	t.Logf("patterns %d; r=%.4f±%.4f α=%.3f±%.3f a=%.3f±%.3f b=%.3f±%.3f", fit.Patterns,
		fit.R, fit.StdErr[0], fit.Alpha, fit.StdErr[1], fit.A, fit.StdErr[2], fit.B, fit.StdErr[3])
}

// simulateParetoNBD draws n customers from the Pareto/NBD process
// (Schmittlein, Morrison & Colombo 1987): Poisson purchases at rate
// λ ~ Gamma(r, α) during an exponential lifetime of rate μ ~ Gamma(s, β).
func simulateParetoNBD(m ParetoNBD, n int, tMin, tMax float64, seed uint64) []Pattern {
	rng := rand.New(rand.NewPCG(seed, 13))
	lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha, Src: rng}
	mu := distuv.Gamma{Alpha: m.S, Beta: m.Beta, Src: rng}
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		l := lam.Rand()
		T[i] = math.Round((tMin+rng.Float64()*(tMax-tMin))*7) / 7
		end := math.Min(T[i], rng.ExpFloat64()/mu.Rand())
		for t := rng.ExpFloat64() / l; t <= end; t += rng.ExpFloat64() / l {
			x[i]++
			tx[i] = t
		}
		tx[i] = math.Min(math.Round(tx[i]*7)/7, T[i])
	}
	return Compress(x, tx, T)
}

// TestMBGNBDAndParetoRecoverParameters: on 300,000 customers simulated from
// each model's own process, every estimate lies within 3 standard errors of
// the truth.
func TestMBGNBDAndParetoRecoverParameters(t *testing.T) {
	cases := []struct {
		name  string
		truth PurchaseModel
		ps    []Pattern
	}{
		{"mbgnbd", MBGNBD{R: 0.5, Alpha: 6, A: 0.9, B: 1.6}, nil},
		{"pareto", ParetoNBD{R: 0.55, Alpha: 10.5, S: 0.6, Beta: 11.7}, nil},
	}
	cases[0].ps = simulateMBGNBD(cases[0].truth.(MBGNBD), 300_000, 26, 78, 43)
	cases[1].ps = simulateParetoNBD(cases[1].truth.(ParetoNBD), 300_000, 26, 78, 44)
	for _, c := range cases {
		fit, err := FitPurchaseModel(c.name, c.ps, FitOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, n := range fit.Model.ParamNames() {
			got, want, se := fit.Model.Params()[i], c.truth.Params()[i], fit.StdErr[i]
			t.Logf("%s %s = %.4f ± %.4f, truth %.4f", c.name, n, got, se, want)
			if math.Abs(got-want) > 3*se {
				t.Errorf("%s %s = %.4f ± %.4f, truth %.4f (beyond 3 standard errors)", c.name, n, got, se, want)
			}
		}
		t.Logf("%s: %d patterns, %d evaluations, %s", c.name, fit.Patterns, fit.FuncEvals, fit.Status)
	}
}

// BenchmarkFitBGNBD1M fits BG/NBD to one million customers' summaries
// (compressed to patterns first; the compression is timed too).
func BenchmarkFitBGNBD1M(b *testing.B) {
	x, tx, T := customers1M()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fit, err := FitBGNBD(Compress(x, tx, T), FitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fit.Patterns), "patterns")
		b.ReportMetric(float64(fit.FuncEvals), "evals")
		if i == 0 {
			b.Log(fit.Status)
		}
	}
}

// customers1M is the summaries of simulatedPatterns1M, one per customer, in
// a shuffled order.
func customers1M() (x, tx, T []float64) {
	ps := simulatedPatterns1M()
	for _, p := range ps {
		for k := 0; k < int(p.Count); k++ {
			x, tx, T = append(x, p.X), append(tx, p.TX), append(T, p.T)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(x), func(i, j int) {
		x[i], x[j] = x[j], x[i]
		tx[i], tx[j] = tx[j], tx[i]
		T[i], T[j] = T[j], T[i]
	})
	return x, tx, T
}

// simulatedPatterns1M is one million customers' summaries for the benchmarks.
func simulatedPatterns1M() []Pattern {
	return simulateBGNBD(BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}, 1_000_000, 26, 78, 9)
}

// BenchmarkFitParetoNBD1M fits Pareto/NBD to the same million customers.
func BenchmarkFitParetoNBD1M(b *testing.B) {
	ps := simulatedPatterns1M()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fit, err := FitParetoNBD(ps, FitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fit.Patterns), "patterns")
		b.ReportMetric(float64(fit.FuncEvals), "evals")
		if i == 0 {
			b.Log(fit.Status)
		}
	}
}

// BenchmarkAllocate1M plans 8 perks for one million customers.
func BenchmarkAllocate1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	opts, _ := randomInstance(rng, 1_000_000, 8)
	capacity := []int{-1, -1, 50000, -1, 200000, -1, -1, 10000}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		al := Allocate(opts, 1_000_000, 2_000_000, capacity)
		b.ReportMetric(100*al.Gap, "gap%")
	}
}
