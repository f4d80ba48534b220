package night

import "testing"

// TestChoosePurchaseModel: auto takes the purchase model with the best
// churn AUC; within aucTie the better calibrated (Brier), then the smaller
// error of the holdout's total; a model whose fit failed, or whose AUC is
// undefined, is passed over; BG/NBD stays unless another beats it.
func TestChoosePurchaseModel(t *testing.T) {
	m := func(name string, auc, brier, errPct float64) ModelMetrics {
		return ModelMetrics{Model: name, ChurnAUC: auc, Brier: brier, TotalErrorPct: errPct}
	}
	for _, tc := range []struct {
		models []ModelMetrics
		want   string
	}{
		{[]ModelMetrics{m("bgnbd", 0.80, 0.1, 1), m("pareto", 0.81, 0.1, 1), m("mbgnbd", 0.79, 0.1, 1), m("logit", 0.9, 0.05, 0)}, "pareto"},
		{[]ModelMetrics{m("bgnbd", 0.800, 0.10, 1), m("pareto", 0.801, 0.09, 1)}, "pareto"}, // a tie: Brier
		{[]ModelMetrics{m("bgnbd", 0.800, 0.09, 1), m("pareto", 0.801, 0.10, 1)}, "bgnbd"},  // a tie: Brier
		{[]ModelMetrics{m("bgnbd", 0.80, 0.10, 5), m("mbgnbd", 0.80, 0.10, -2)}, "mbgnbd"},  // then the total
		{[]ModelMetrics{m("bgnbd", 0.80, 0.10, 1), m("pareto", 0.80, 0.10, 1)}, "bgnbd"},    // equal: the default
		{[]ModelMetrics{m("bgnbd", 0.80, 0.1, 1), {Model: "pareto", Error: "did not converge"}}, "bgnbd"},
		{[]ModelMetrics{m("bgnbd", 0.80, 0.1, 1), {Model: "mbgnbd", ChurnAUC: 0.99, Undefined: []string{"churn_auc"}}}, "bgnbd"},
		{[]ModelMetrics{{Model: "bgnbd", Error: "failed"}, m("mbgnbd", 0.7, 0.2, 3)}, "mbgnbd"},
	} {
		got, why := choosePurchaseModel(&Backtest{Models: tc.models, Cutoff: "2025-01-01"}, "bgnbd")
		if got != tc.want || (got != "bgnbd") != (why != "") {
			t.Errorf("%+v: chose %s (%q), want %s", tc.models, got, why, tc.want)
		}
	}
}
