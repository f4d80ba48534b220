package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulateMBGNBD draws n customers from the MBG/NBD process (Batislam,
// Denizel & Filiztekin 2007): like BG/NBD, but a customer may also drop out
// right after the first purchase. Times rounded to days, in weeks.
func simulateMBGNBD(m MBGNBD, n int, tMin, tMax float64, seed uint64) []Pattern {
	rng := rand.New(rand.NewPCG(seed, 11))
	lam := distuv.Gamma{Alpha: m.R, Beta: m.Alpha, Src: rng}
	pd := distuv.Beta{Alpha: m.A, Beta: m.B, Src: rng}
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		l, p := lam.Rand(), pd.Rand()
		T[i] = math.Round((tMin+rng.Float64()*(tMax-tMin))*7) / 7
		t := 0.0
		for rng.Float64() >= p { // alive after the purchase at t
			t += rng.ExpFloat64() / l
			if t > T[i] {
				break
			}
			x[i]++
			tx[i] = t
		}
		tx[i] = math.Min(math.Round(tx[i]*7)/7, T[i])
	}
	return Compress(x, tx, T)
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
