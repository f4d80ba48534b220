package night

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// BacktestOptions are the inputs of `churn backtest`.
type BacktestOptions struct {
	Features    FeaturesOptions // AsOf is the cutoff
	HoldoutDays int
	Models      []string // purchase models and "logit"
	Purchase    string   // logit: the purchase model whose outputs it uses (default bgnbd)
	LogitL2     float64  // logit: the L2 penalty (default DefaultLogitL2)
	Fit         model.FitOptions
}

// ModelMetrics is how one model did on the holdout.
type ModelMetrics struct {
	Model   string             `json:"model"`
	Params  map[string]float64 `json:"params"`
	LogLik  float64            `json:"log_likelihood,omitempty"` // purchase models only
	Status  string             `json:"optimizer_status"`
	Warning string             `json:"warning,omitempty"` // of the fit at the cutoff (model.json's warning)
	// Undefined names the metrics this holdout cannot define (set to 0):
	// with no purchase in it, say, there is no churn AUC.
	Undefined     []string               `json:"undefined,omitempty"`
	Error         string                 `json:"error,omitempty"` // the fit failed; no metrics
	ActualRepeat  float64                `json:"holdout_actual_purchases"`
	PredRepeat    float64                `json:"holdout_predicted_purchases"`
	TotalErrorPct float64                `json:"holdout_total_error_pct"`
	MAE           float64                `json:"mae"`
	RMSE          float64                `json:"rmse"`
	Correlation   float64                `json:"correlation"`
	ChurnAUC      float64                `json:"churn_auc"`
	Brier         float64                `json:"brier"`
	LiftTop10     float64                `json:"lift_top_decile"`
	LiftTop20     float64                `json:"lift_top_quintile"`
	SpendActual   float64                `json:"holdout_actual_spend"`
	SpendPred     float64                `json:"holdout_predicted_spend"`
	Calibration   []model.CalibrationBin `json:"calibration"`
}

// TrackPoint is one week of the tracking plot: repeat purchases (distinct
// purchase days after the first) of the cohort, actual and per model.
type TrackPoint struct {
	WeekEnd   string             `json:"week_end"`
	Holdout   bool               `json:"holdout"`
	Actual    float64            `json:"actual"`
	Predicted map[string]float64 `json:"predicted"`
}

// Backtest is backtest.json.
type Backtest struct {
	Cutoff      string         `json:"cutoff"`
	HoldoutEnd  string         `json:"holdout_end"`
	HoldoutDays int            `json:"holdout_days"`
	Unit        string         `json:"unit"`
	Customers   int            `json:"customers"`
	ChurnRate   float64        `json:"churn_rate"` // share of the cohort without a purchase in the holdout
	Models      []ModelMetrics `json:"models"`
	Best        string         `json:"best"`        // the model with the highest churn AUC
	BestReason  string         `json:"best_reason"` // why
	Tracking    []TrackPoint   `json:"tracking"`
	// The cohort's features (with the holdout) and the purchase models
	// fitted to them, for FitSpecModels to train on without recomputing.
	res   *features.Result
	files map[string]*ModelFile
}

// RunBacktest fits each model on the data up to the cutoff and compares its
// predictions for the holdout with what happened.
func RunBacktest(ctx context.Context, w *warehouse.Warehouse, opt BacktestOptions) (*Backtest, error) {
	if opt.HoldoutDays < 1 {
		return nil, fmt.Errorf("%w: the holdout must be at least one day", warehouse.ErrOption)
	}
	fo := opt.Features
	fo.HoldoutEnd = fo.AsOf.AddDate(0, 0, opt.HoldoutDays)
	res, err := computeFeatures(ctx, w, fo, true)
	if err != nil {
		return nil, err
	}
	if len(res.Customers) == 0 {
		return nil, fmt.Errorf("%w before the cutoff %s", model.ErrNoData, fo.AsOf.Format(time.DateOnly))
	}
	bt := &Backtest{Cutoff: fo.AsOf.Format(time.DateOnly), HoldoutEnd: fo.HoldoutEnd.Format(time.DateOnly),
		HoldoutDays: opt.HoldoutDays, Unit: res.Unit.String(), Customers: len(res.Customers)}
	n := len(res.Customers)
	churned := make([]bool, n)
	actual := make([]float64, n)
	var actualSpend float64
	for i := range res.Customers {
		c := &res.Customers[i]
		actual[i] = float64(c.HoldoutDays)
		churned[i] = c.HoldoutDays == 0
		if churned[i] {
			bt.ChurnRate++
		}
		actualSpend += float64(c.HoldoutSpendMicros) / 1e6
	}
	bt.ChurnRate /= float64(n)
	unitDays := res.Unit.Days()
	track, ends := weeklyTracking(res, fo.AsOf)
	fitted := map[string]model.PurchaseModel{}
	files := map[string]*ModelFile{}
	spec := FitSpec{Purchase: opt.Purchase, LogitL2: opt.LogitL2, Fit: opt.Fit}
	for _, name := range opt.Models {
		mm := ModelMetrics{Model: name}
		purchase := name
		if name == "logit" {
			purchase = spec.purchase()
		}
		mf := files[purchase]
		if mf == nil {
			if mf, err = FitModels(res, purchase, opt.Fit); err != nil {
				mm.Error = err.Error()
				bt.Models = append(bt.Models, mm)
				continue
			}
			files[purchase] = mf
		}
		if name == "logit" {
			// Trained one holdout length before the cutoff, as it would be
			// trained on the day of the cutoff.
			rm, err := TrainRiskModel(ctx, w, fo, purchase, opt.HoldoutDays, spec.l2(), opt.Fit)
			if err != nil {
				mm.Error = err.Error()
				bt.Models = append(bt.Models, mm)
				continue
			}
			lmf := *mf
			lmf.Risk, lmf.ChurnRisk = rm, &ChurnRiskChoice{Source: "logit"}
			mf = &lmf
			mm.Params = map[string]float64{"intercept": rm.Intercept}
			for j, in := range rm.Inputs {
				mm.Params[in] = rm.Coef[j]
			}
			mm.Status = rm.Optimizer // its log-likelihood is Bernoulli, not comparable: model.json has it
		} else {
			pm, _ := mf.PurchaseModel()
			fitted[name] = pm
			mm.Params, mm.LogLik, mm.Status = mf.Params, mf.LogLik, mf.Optimizer.Status
			mm.Warning = mf.Warnings()
		}
		so := DefaultScoreOptions()
		so.HorizonDays = float64(opt.HoldoutDays)
		so.CLVMonths = 1 // CLV is not part of the backtest; one month keeps its work small
		so.NoIntervals = true
		scores, _, err := ScoreCustomersContext(ctx, res, mf, so)
		if err != nil {
			// As a failed fit: this model has no metrics, the others do.
			mm.Error = err.Error()
			bt.Models = append(bt.Models, mm)
			delete(fitted, name)
			continue
		}
		pred := make([]float64, n)
		risk := make([]float64, n)
		for i := range scores {
			pred[i], risk[i] = scores[i].ExpectedPurchases, scores[i].ChurnRisk
			mm.PredRepeat += pred[i]
			mm.SpendPred += pred[i] * scores[i].ExpectedSpend
			mm.ActualRepeat += actual[i]
		}
		mm.TotalErrorPct = 100 * (mm.PredRepeat - mm.ActualRepeat) / math.Max(mm.ActualRepeat, 1)
		es := model.Errors(pred, actual)
		mm.MAE, mm.RMSE, mm.Correlation = es.MAE, es.RMSE, es.Correlation
		ranked := model.Rank(risk)
		mm.ChurnAUC = ranked.AUC(churned)
		mm.Brier = model.Brier(risk, churned)
		mm.LiftTop10 = ranked.Lift(churned, 0.1)
		mm.LiftTop20 = ranked.Lift(churned, 0.2)
		mm.SpendActual = actualSpend
		mm.Calibration = ranked.Calibration(churned, 10)
		mm.undefined()
		bt.Models = append(bt.Models, mm)
	}
	// Tracking: the cohort's expected repeat purchases per week, each
	// customer contributing E[X(t − first purchase)].
	firsts := make([]int32, 0, len(res.Tracking))
	for d, v := range res.Tracking {
		if v[0] > 0 {
			firsts = append(firsts, d)
		}
	}
	slices.Sort(firsts)
	for k := range track {
		tp := &track[k]
		tp.Predicted = map[string]float64{}
		end := ends[k]
		for name, pm := range fitted {
			var cum float64
			for _, d := range firsts {
				if d > end {
					break
				}
				cum += float64(res.Tracking[d][0]) * pm.PopulationPurchases(float64(end-d)/unitDays)
			}
			tp.Predicted[name] = cum // cumulative for now
		}
	}
	for k := len(track) - 1; k > 0; k-- {
		for name := range fitted {
			track[k].Predicted[name] -= track[k-1].Predicted[name]
		}
	}
	bt.Tracking, bt.res, bt.files = track, res, files
	best := -1.0
	for _, m := range bt.Models {
		if m.Error == "" && !slices.Contains(m.Undefined, "churn_auc") && m.ChurnAUC > best {
			best, bt.Best = m.ChurnAUC, m.Model
		}
	}
	switch {
	case bt.Best != "":
		bt.BestReason = fmt.Sprintf("highest churn AUC on the %d-day holdout (%.4f)", opt.HoldoutDays, best)
	case len(bt.Models) > 0:
		bt.BestReason = fmt.Sprintf("none: the churn AUC is undefined, %s", undefinedWhy(bt.ChurnRate))
	}
	return bt, nil
}

// undefined sets the metrics a holdout cannot define (JSON has no NaN) to
// 0 and names them: with no purchase in the holdout, or no customer without
// one, there is nothing to rank, and with no variation no correlation.
func (mm *ModelMetrics) undefined() {
	for _, m := range []struct {
		name string
		v    *float64
	}{{"churn_auc", &mm.ChurnAUC}, {"lift_top_decile", &mm.LiftTop10}, {"lift_top_quintile", &mm.LiftTop20},
		{"correlation", &mm.Correlation}, {"brier", &mm.Brier}, {"mae", &mm.MAE}, {"rmse", &mm.RMSE},
		{"holdout_total_error_pct", &mm.TotalErrorPct}, {"holdout_predicted_purchases", &mm.PredRepeat}, {"holdout_predicted_spend", &mm.SpendPred}} {
		if math.IsNaN(*m.v) || math.IsInf(*m.v, 0) {
			*m.v = 0
			mm.Undefined = append(mm.Undefined, m.name)
		}
	}
	for i := range mm.Calibration {
		b := &mm.Calibration[i]
		if math.IsNaN(b.Predicted) || math.IsNaN(b.Observed) {
			b.Predicted, b.Observed = 0, 0
			if !slices.Contains(mm.Undefined, "calibration") {
				mm.Undefined = append(mm.Undefined, "calibration")
			}
		}
	}
}

func undefinedWhy(churnRate float64) string {
	switch churnRate {
	case 1:
		return "no customer bought in the holdout (is the as-of date after the data's end?)"
	case 0:
		return "every customer bought in the holdout"
	}
	return "the scores do not vary"
}

// DropCohort lets the cohort's features and fits go: the metrics stay.
func (bt *Backtest) DropCohort() { bt.res, bt.files = nil, nil }

// weeklyTracking sums the cohort's actual repeat purchase days per week,
// weeks ending on the cutoff (and continuing to the holdout end); it also
// returns the week ends as day numbers.
func weeklyTracking(res *features.Result, cutoff time.Time) ([]TrackPoint, []int32) {
	if len(res.Tracking) == 0 {
		return nil, nil
	}
	first := int32(math.MaxInt32)
	for d := range res.Tracking {
		first = min(first, d)
	}
	cut := features.DayOf(cutoff.UnixMicro(), time.UTC)
	end := features.DayOf(res.HoldoutEnd.UnixMicro(), time.UTC)
	// Week ends: cut, cut−7, … back past the first day; cut+7, … to the end.
	var ends []int32
	for e := cut; e >= first; e -= 7 {
		ends = append(ends, e)
	}
	if len(ends) == 0 || ends[len(ends)-1] > first {
		ends = append(ends, ends[len(ends)-1]-7)
	}
	for e := cut + 7; e < end+7; e += 7 {
		ends = append(ends, min(e, end))
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	ends = slices.Compact(ends)
	out := make([]TrackPoint, len(ends))
	for k, e := range ends {
		out[k] = TrackPoint{WeekEnd: time.Unix(int64(e)*86400, 0).UTC().Format(time.DateOnly), Holdout: e > cut}
	}
	for d, v := range res.Tracking {
		k, _ := slices.BinarySearch(ends, d) // the first week end ≥ d
		if k < len(out) {
			out[k].Actual += float64(v[1])
		}
	}
	return out, ends
}

// TrackedModels are the models in the tracking plot: the purchase models
// that fitted (logit's purchases are those of its purchase model).
func (bt *Backtest) TrackedModels() []string {
	var names []string
	for _, m := range bt.Models {
		if m.Error == "" && m.Model != "logit" {
			names = append(names, m.Model)
		}
	}
	return names
}

// WriteBacktest writes backtest.json, backtest_tracking.csv and
// backtest_calibration.csv into dir.
func WriteBacktest(dir string, bt *Backtest) error {
	if err := warehouse.WriteJSON(filepath.Join(dir, "backtest.json"), bt); err != nil {
		return err
	}
	names := bt.TrackedModels()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	if err := sheet.WriteCSV(filepath.Join(dir, "backtest_tracking.csv"), false, func(w *sheet.SafeCSVWriter) error {
		head := []string{"week_end", "period", "actual", "actual_cumulative"}
		for _, n := range names {
			head = append(head, n, n+"_cumulative")
		}
		if err := w.Write(head); err != nil {
			return err
		}
		cumA := 0.0
		cum := map[string]float64{}
		for _, tp := range bt.Tracking {
			cumA += tp.Actual
			period := "calibration"
			if tp.Holdout {
				period = "holdout"
			}
			rec := []string{tp.WeekEnd, period, f(tp.Actual), f(cumA)}
			for _, n := range names {
				cum[n] += tp.Predicted[n]
				rec = append(rec, f(tp.Predicted[n]), f(cum[n]))
			}
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return sheet.WriteCSV(filepath.Join(dir, "backtest_calibration.csv"), false, func(w *sheet.SafeCSVWriter) error {
		if err := w.Write([]string{"model", "decile", "customers", "predicted_churn", "observed_churn"}); err != nil {
			return err
		}
		for _, m := range bt.Models {
			for _, b := range m.Calibration {
				if err := w.Write([]string{m.Model, strconv.Itoa(b.Bin), strconv.Itoa(b.N), f(b.Predicted), f(b.Observed)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
