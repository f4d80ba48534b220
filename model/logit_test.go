package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// simulateLogit draws n rows of three correlated inputs and outcomes from a
// known logistic model on the raw inputs.
func simulateLogit(n int, beta []float64, b0 float64, seed uint64) ([]float64, []bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, 0, n*3)
	y := make([]bool, n)
	for i := 0; i < n; i++ {
		u := rng.NormFloat64()
		row := []float64{10 + 3*u, 0.5*u + rng.NormFloat64(), math.Floor(rng.ExpFloat64() * 4)}
		eta := b0
		for j, v := range row {
			eta += beta[j] * v
		}
		x = append(x, row...)
		y[i] = rng.Float64() < 1/(1+math.Exp(-eta))
	}
	return x, y
}

func TestFitLogitRecoversParameters(t *testing.T) {
	beta, b0 := []float64{0.3, -0.8, 0.15}, -3.0
	x, y := simulateLogit(300_000, beta, b0, 7)
	fit, err := FitLogit(x, 3, y, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for j, want := range beta {
		got := fit.Coef[j] / fit.Scale[j] // back to the raw inputs
		se := fit.StdErr[j] / fit.Scale[j]
		if math.Abs(got-want) > 3*se {
			t.Errorf("β%d = %.4f ± %.4f, want %.4f (within 3 standard errors)", j, got, se, want)
		}
	}
	for _, row := range [][]float64{{10, 0, 0}, {4, -2, 3}, {16, 2, 10}} {
		want := b0
		for j, v := range row {
			want += beta[j] * v
		}
		want = 1 / (1 + math.Exp(-want))
		if got := fit.Prob(row); math.Abs(got-want) > 0.01 {
			t.Errorf("P(y | %v) = %.4f, want %.4f", row, got, want)
		}
	}
}

// TestFitLogitMatchesNewton compares the penalised optimum with Newton's
// method (iteratively reweighted least squares) written out with dense
// matrices.
func TestFitLogitMatchesNewton(t *testing.T) {
	x, y := simulateLogit(5_000, []float64{0.2, 1.1, -0.3}, -1, 3)
	const l2 = 25.0
	fit, err := FitLogit(x, 3, y, nil, l2)
	if err != nil {
		t.Fatal(err)
	}
	n, k := len(y), 4
	z := mat.NewDense(n, k, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			z.Set(i, j, (x[i*3+j]-fit.Mean[j])/fit.Scale[j])
		}
		z.Set(i, 3, 1)
	}
	theta := mat.NewVecDense(k, nil)
	for iter := 0; iter < 50; iter++ {
		var eta mat.VecDense
		eta.MulVec(z, theta)
		grad := mat.NewVecDense(k, nil)
		hess := mat.NewDense(k, k, nil)
		for i := 0; i < n; i++ {
			p := 1 / (1 + math.Exp(-eta.AtVec(i)))
			r := p
			if y[i] {
				r--
			}
			for a := 0; a < k; a++ {
				grad.SetVec(a, grad.AtVec(a)+r*z.At(i, a))
				for b := 0; b < k; b++ {
					hess.Set(a, b, hess.At(a, b)+p*(1-p)*z.At(i, a)*z.At(i, b))
				}
			}
		}
		for j := 0; j < 3; j++ {
			grad.SetVec(j, grad.AtVec(j)+l2*theta.AtVec(j))
			hess.Set(j, j, hess.At(j, j)+l2)
		}
		var step mat.VecDense
		if err := step.SolveVec(hess, grad); err != nil {
			t.Fatal(err)
		}
		theta.SubVec(theta, &step)
	}
	got := append(append([]float64(nil), fit.Coef...), fit.Intercept)
	for j := 0; j < k; j++ {
		if math.Abs(got[j]-theta.AtVec(j)) > 1e-5 {
			t.Errorf("θ%d = %.7f, Newton gives %.7f", j, got[j], theta.AtVec(j))
		}
	}
}

func TestFitLogitRefusesOneClass(t *testing.T) {
	if _, err := FitLogit([]float64{1, 2, 3}, 1, []bool{true, true, true}, nil, 1); err == nil {
		t.Fatal("want an error when every outcome is the same")
	}
}
