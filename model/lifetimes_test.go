package model

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// The cross-check against lifetimes (the Python library our users come
// from): the same summaries fitted by both, then compared. The Python with
// lifetimes is $CHURN_PYTHON or the Makefile's .venv; without it the tests
// skip, except under CI=true, where `make test` has installed it.

func lifetimesPython(tb testing.TB) string {
	tb.Helper()
	py := os.Getenv("CHURN_PYTHON")
	if py == "" {
		py, _ = filepath.Abs("../.venv/bin/python")
	}
	if err := exec.Command(py, "-c", "import lifetimes").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("lifetimes is required under CI (python %s: %v); `make test` installs it into .venv", py, err)
		}
		tb.Skipf("lifetimes not installed (python %s); `make test` installs it into .venv", py)
	}
	return py
}

// lifetimesResult is what crosscheck.py writes per model.
type lifetimesResult struct {
	Params        map[string]float64 `json:"params"`
	LogLik        float64            `json:"log_likelihood"`
	Seconds       float64            `json:"seconds"`
	PAlive        []float64          `json:"p_alive"`
	Expected      []float64          `json:"expected"`
	ExpectedSpend []float64          `json:"expected_spend"`
}

// customerRow is one customer's summary as lifetimes takes it.
type customerRow struct{ x, tx, T, m float64 }

// runLifetimes writes the rows and fits lifetimes' models to them.
// tol, when not 0, tightens lifetimes' optimiser tolerance.
func runLifetimes(tb testing.TB, py string, rows []customerRow, models string, horizon float64, predictions bool, tol float64) map[string]lifetimesResult {
	tb.Helper()
	dir := tb.TempDir()
	var b strings.Builder
	b.WriteString("frequency,recency,T,monetary_value\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%g,%.17g,%.17g,%.17g\n", r.x, r.tx, r.T, r.m)
	}
	in, out := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	args := []string{"testdata/lifetimes/crosscheck.py", in, out, models, "--horizon", fmt.Sprint(horizon)}
	if !predictions {
		args = append(args, "--no-predictions")
	}
	if tol > 0 {
		args = append(args, "--tol", fmt.Sprint(tol))
	}
	cmd := exec.Command(py, args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("lifetimes: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	res := map[string]lifetimesResult{}
	if err := json.Unmarshal(raw, &res); err != nil {
		tb.Fatal(err)
	}
	return res
}

// simulateCustomers draws n customers from a BG/NBD with Gamma-Gamma spend
// (p 6, q 4, γ 15), times rounded to days in weeks.
func simulateCustomers(n int, seed uint64) []customerRow {
	ps := simulateBGNBD(BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}, n, 26, 78, seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	nu := distuv.Gamma{Alpha: 4, Beta: 15, Src: rng}
	var rows []customerRow
	for _, p := range ps {
		for k := 0; k < int(p.Count); k++ {
			r := customerRow{x: p.X, tx: p.TX, T: p.T}
			if p.X > 0 {
				// The mean of x purchases of Gamma(p, ν) spend is Gamma(p·x, ν·x).
				r.m = math.Round(100*distuv.Gamma{Alpha: 6 * p.X, Beta: nu.Rand() * p.X, Src: rng}.Rand()) / 100
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// TestLifetimesCrossCheck: on the same summaries, churn and lifetimes find
// the same optimum for BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma (churn's
// log-likelihood at least as high, the parameters equal to lifetimes'
// optimiser tolerance), and at lifetimes' parameters churn's P(alive),
// expected purchases and expected spend equal lifetimes' for every customer.
func TestLifetimesCrossCheck(t *testing.T) {
	py := lifetimesPython(t)
	rows := simulateCustomers(3000, 21)
	const horizon = 13.0 // weeks
	// lifetimes' default tolerance for Pareto/NBD (Nelder–Mead, 1e-4) can
	// stop a few thousandths of a nat short of the optimum, with s and β
	// off by several percent; the comparison of optima asks it to converge.
	lt := runLifetimes(t, py, rows, "bgnbd,mbgnbd,pareto,gamma-gamma", horizon, true, 1e-10)
	x, tx, T := make([]float64, len(rows)), make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		x[i], tx[i], T[i] = r.x, r.tx, r.T
	}
	ps := Compress(x, tx, T)
	for _, name := range []string{"bgnbd", "mbgnbd", "pareto"} {
		l := lt[name]
		fit, err := FitPurchaseModel(name, ps, FitOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		at, err := NewPurchaseModel(name, l.Params)
		if err != nil {
			t.Fatal(err)
		}
		// lifetimes' own reported objective is scaled differently per
		// fitter, so both optima are measured with one log-likelihood.
		atLL := at.LogLik(ps)
		t.Logf("%s: churn LL %.6f %v; at lifetimes' optimum %.6f %v", name, fit.LogLikelihood, fit.Model.Params(), atLL, l.Params)
		if fit.LogLikelihood < atLL-1e-6 {
			t.Errorf("%s: churn's optimum LL %.6f is below lifetimes' %.6f", name, fit.LogLikelihood, atLL)
		}
		if fit.LogLikelihood > atLL+0.01 {
			t.Errorf("%s: LL %.6f vs lifetimes %.6f: not the same optimum", name, fit.LogLikelihood, atLL)
		}
		for i, n := range fit.Model.ParamNames() {
			got, want := fit.Model.Params()[i], l.Params[n]
			// lifetimes stops at scipy's default tolerance; 1e-3 of the
			// value or a tenth of a standard error, whichever is looser.
			if tol := math.Max(1e-3*math.Abs(want), 0.1*fit.StdErr[i]); math.Abs(got-want) > tol {
				t.Errorf("%s %s: churn %.6f, lifetimes %.6f (tolerance %.2g)", name, n, got, want, tol)
			}
		}
		worst := [2]float64{}
		for i, r := range rows {
			pa := at.PAlive(r.x, r.tx, r.T)
			ex := at.ExpectedPurchases(horizon, r.x, r.tx, r.T)
			worst[0] = math.Max(worst[0], math.Abs(pa-l.PAlive[i]))
			worst[1] = math.Max(worst[1], math.Abs(ex-l.Expected[i])/math.Max(1, ex))
		}
		t.Logf("%s at lifetimes' parameters: max |ΔP(alive)| %.2g, max relative Δexpected %.2g", name, worst[0], worst[1])
		if worst[0] > 1e-7 || worst[1] > 1e-7 {
			t.Errorf("%s: predictions differ from lifetimes at the same parameters: P(alive) by %.2g, expected purchases by %.2g", name, worst[0], worst[1])
		}
	}

	var spend []SpendPattern
	for _, r := range rows {
		if r.x > 0 && r.m > 0 {
			spend = append(spend, SpendPattern{X: r.x, M: r.m, Count: 1})
		}
	}
	gg, err := FitGammaGamma(spend, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := lt["gamma-gamma"]
	t.Logf("gamma-gamma: churn LL %.6f p %.5f q %.5f γ %.5f; lifetimes LL %.6f %v", gg.LogLikelihood, gg.P, gg.Q, gg.Gamma, l.LogLik, l.Params)
	if gg.LogLikelihood < l.LogLik-1e-6 || gg.LogLikelihood > l.LogLik+0.01 {
		t.Errorf("gamma-gamma: LL %.6f vs lifetimes %.6f", gg.LogLikelihood, l.LogLik)
	}
	at := GammaGamma{P: l.Params["p"], Q: l.Params["q"], Gamma: l.Params["gamma"]}
	for i, s := range spend {
		if got := at.ExpectedSpend(s.X, s.M); math.Abs(got-l.ExpectedSpend[i]) > 1e-9*got {
			t.Fatalf("gamma-gamma: expected spend of (x %g, m %g) %.10g, lifetimes %.10g", s.X, s.M, got, l.ExpectedSpend[i])
		}
	}
}

// BenchmarkLifetimesSideBySide fits BG/NBD and Pareto/NBD to one million
// customers with churn and with lifetimes in the same run and reports both
// times and the speed-up (`make bench`; needs the .venv with lifetimes).
func BenchmarkLifetimesSideBySide(b *testing.B) {
	py := lifetimesPython(b)
	ps := simulatedPatterns1M()
	rows := make([]customerRow, 0, 1_000_000)
	x, tx, T := make([]float64, 0, 1_000_000), make([]float64, 0, 1_000_000), make([]float64, 0, 1_000_000)
	for _, p := range ps {
		for k := 0; k < int(p.Count); k++ {
			rows = append(rows, customerRow{x: p.X, tx: p.TX, T: p.T})
			x, tx, T = append(x, p.X), append(tx, p.TX), append(T, p.T)
		}
	}
	models := os.Getenv("CHURN_BENCH_MODELS")
	if models == "" {
		models = "bgnbd,pareto"
	}
	lt := runLifetimes(b, py, rows, models, 13, false, 0) // lifetimes' defaults: what users run
	for _, name := range strings.Split(models, ",") {
		start := time.Now()
		cps := Compress(x, tx, T) // from the customers' summaries, compression included
		fit, err := FitPurchaseModel(name, cps, FitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ours := time.Since(start).Seconds()
		b.ReportMetric(ours, name+"_churn_s")
		b.ReportMetric(lt[name].Seconds, name+"_lifetimes_s")
		b.ReportMetric(lt[name].Seconds/ours, name+"_speedup")
		at, err := NewPurchaseModel(name, lt[name].Params)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(fit.LogLikelihood-at.LogLik(cps), name+"_LL_gain")
	}
}
