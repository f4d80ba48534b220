package night

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// RiskModel is the supervised churn model as model.json records it under
// "risk": a logistic regression on the features and the purchase model's
// outputs, trained on a time split and calibrated on held-out customers.
type RiskModel struct {
	Model         string    `json:"model"`          // "logit"
	PurchaseModel string    `json:"purchase_model"` // the BTYD model whose outputs are inputs
	HorizonDays   int       `json:"horizon_days"`   // it predicts "no purchase in the next HorizonDays days"
	TrainedAsOf   string    `json:"trained_as_of"`  // the inputs are the features of this date
	LabelWindow   string    `json:"label_window"`   // the label: no purchase in this window
	L2            float64   `json:"l2"`
	Inputs        []string  `json:"inputs"`
	Mean          []float64 `json:"mean"`      // per input, for standardising
	Scale         []float64 `json:"scale"`     // per input
	Coef          []float64 `json:"coef"`      // per standardised input
	Intercept     float64   `json:"intercept"` // on the standardised inputs
	StdErr        []float64 `json:"std_err,omitempty"`
	// Covariance of (coef, intercept), row-major: churn_risk's interval.
	Covariance     []float64 `json:"covariance,omitempty"`
	CalibrationA   float64   `json:"calibration_a"` // Platt scaling: P = σ(a·η + b), η the linear predictor
	CalibrationB   float64   `json:"calibration_b"`
	TrainCustomers int       `json:"train_customers"`
	ValidCustomers int       `json:"validation_customers"` // one in five, by a hash of customer_id
	TrainChurnRate float64   `json:"train_churn_rate"`
	ValidAUC       float64   `json:"validation_auc"`
	ValidBrier     float64   `json:"validation_brier"`
	LogLik         float64   `json:"log_likelihood"` // Bernoulli, of the training customers
	Optimizer      string    `json:"optimizer_status"`
}

// ChurnRiskChoice records where churn_risk comes from and why.
type ChurnRiskChoice struct {
	Source string `json:"source"` // the purchase model's name, or "logit"
	Reason string `json:"reason"`
	// PurchaseReason says why auto took this purchase model.
	PurchaseReason string `json:"purchase_reason,omitempty"`
}

// RiskInputs are the inputs of the risk model, in design-matrix order.
// Counts and money enter as log(1 + v) (money signed), so that one heavy
// buyer does not steer the fit.
var RiskInputs = []string{
	"log_orders", "log_frequency", "log_days_since_last", "log_tenure_days",
	"log_orders_30", "log_orders_90", "log_orders_365",
	"slog_total_spend", "slog_spend_90", "slog_spend_trend", "log_monetary_avg",
	"log_gap_mean_days", "log_gap_std_days", "log_refunds", "one_time_buyer",
	"p_alive", "btyd_churn_risk", "log_expected_purchases",
}

// riskRow writes the risk-model inputs of one customer into row.
func riskRow(row []float64, c *features.Customer, s *Score) {
	l := func(v float64) float64 { return math.Log1p(math.Max(v, 0)) }
	sl := func(micros int64) float64 {
		v := float64(micros) / 1e6
		return math.Copysign(math.Log1p(math.Abs(v)), v)
	}
	oneTime := 0.0
	if c.Frequency == 0 {
		oneTime = 1
	}
	copy(row, []float64{
		l(float64(c.Orders)), l(float64(c.Frequency)), l(float64(c.DaysSinceLast)), l(float64(c.TenureDays)),
		l(float64(c.Orders30)), l(float64(c.Orders90)), l(float64(c.Orders365)),
		sl(c.TotalSpendMicros), sl(c.Spend90Micros), sl(c.SpendTrendMicros), l(c.MonetaryAvg),
		l(c.GapMeanDays), l(c.GapStdDays), l(float64(c.Refunds)), oneTime,
		s.PAlive, s.ChurnRisk, l(s.ExpectedPurchases),
	})
}

// validationCustomer puts one customer in five into the validation part,
// by a hash of the id so that the split does not depend on the row order.
func validationCustomer(id string) bool { return IDBucket(id, 5) == 0 }

// IDBucket puts a key in one of n buckets by its FNV-1a hash: a split of
// customers that does not depend on row order and is the same every run.
func IDBucket(key string, n uint32) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32() % n
}

// DefaultLogitL2 is the default L2 penalty of the risk model on its
// standardised inputs.
const DefaultLogitL2 = 1.0

// TrainRiskModel trains the risk model used at fo.AsOf = D: the inputs are
// the features at D − H and the outputs of the purchase model fitted to
// them, the label is "no purchase in (D − H, D]". Four customers in five
// train the regression; the fifth calibrates it (Platt scaling) and measures it.
func TrainRiskModel(ctx context.Context, w *warehouse.Warehouse, fo FeaturesOptions, purchase string, horizonDays int, l2 float64, fit model.FitOptions) (*RiskModel, error) {
	if horizonDays < 1 {
		return nil, fmt.Errorf("%w: the risk model's horizon must be at least one day", warehouse.ErrOption)
	}
	end := fo.AsOf
	fo.AsOf = end.AddDate(0, 0, -horizonDays)
	fo.HoldoutEnd = end
	res, err := computeFeatures(ctx, w, fo, false)
	if err != nil {
		return nil, err
	}
	if len(res.Customers) == 0 {
		return nil, fmt.Errorf("%w: the risk model trains on the customers of %s (%d days before %s) and there are none",
			model.ErrNoData, fo.AsOf.Format(time.DateOnly), horizonDays, end.Format(time.DateOnly))
	}
	mf, err := FitModels(res, purchase, fit)
	if err != nil {
		return nil, err
	}
	return trainRiskModel(res, mf, horizonDays, l2)
}

// trainRiskModel trains the risk model on features with a holdout of
// horizonDays (the label: no purchase in it) and the purchase model fitted
// to those features.
func trainRiskModel(res *features.Result, mf *ModelFile, horizonDays int, l2 float64) (*RiskModel, error) {
	so := DefaultScoreOptions()
	so.HorizonDays, so.CLVMonths = float64(horizonDays), 1
	so.NoIntervals = true
	scores, _, err := ScoreCustomers(res, mf, so)
	if err != nil {
		return nil, err
	}
	p := len(RiskInputs)
	var xt, xv []float64
	var yt, yv []bool
	row := make([]float64, p)
	churned := 0
	for i := range res.Customers {
		c := &res.Customers[i]
		riskRow(row, c, &scores[i])
		y := c.HoldoutDays == 0
		if y {
			churned++
		}
		if validationCustomer(c.CustomerID) {
			xv, yv = append(xv, row...), append(yv, y)
		} else {
			xt, yt = append(xt, row...), append(yt, y)
		}
	}
	if len(yv) == 0 || len(yt) == 0 {
		return nil, fmt.Errorf("%w: %d customers are too few to train and validate the risk model", model.ErrNoData, len(res.Customers))
	}
	lf, err := model.FitLogit(xt, p, yt, nil, l2)
	if err != nil {
		return nil, fmt.Errorf("risk model: %w", err)
	}
	rm := &RiskModel{Model: "logit", PurchaseModel: mf.Model, HorizonDays: horizonDays,
		TrainedAsOf: res.AsOf.Format(time.DateOnly),
		LabelWindow: fmt.Sprintf("(%s, %s]", res.AsOf.Format(time.DateOnly), res.HoldoutEnd.Format(time.DateOnly)),
		L2:          l2, Inputs: RiskInputs, Mean: lf.Mean, Scale: lf.Scale, Coef: lf.Coef, Intercept: lf.Intercept,
		StdErr: lf.StdErr, Covariance: lf.Cov, TrainCustomers: len(yt), ValidCustomers: len(yv),
		TrainChurnRate: float64(churned) / float64(len(res.Customers)), LogLik: lf.LogLikelihood, Optimizer: lf.Status}
	// Platt scaling: a one-input logistic regression of the held-out
	// outcomes on the linear predictor.
	eta := make([]float64, len(yv))
	for i := range yv {
		eta[i] = lf.Linear(xv[i*p : (i+1)*p])
	}
	rm.CalibrationA, rm.CalibrationB = 1, 0
	if cal, err := model.FitLogit(eta, 1, yv, nil, 0); err == nil {
		rm.CalibrationA = cal.Coef[0] / cal.Scale[0]
		rm.CalibrationB = cal.Intercept - cal.Coef[0]*cal.Mean[0]/cal.Scale[0]
	}
	prob := make([]float64, len(yv))
	for i := range yv {
		prob[i] = rm.calibrated(eta[i])
	}
	rm.ValidAUC, rm.ValidBrier = model.AUC(prob, yv), model.Brier(prob, yv)
	return rm, nil
}

func (rm *RiskModel) calibrated(eta float64) float64 {
	z := rm.CalibrationA*eta + rm.CalibrationB
	return 1 / (1 + math.Exp(-z))
}

// churnRisk returns the calibrated probability of no purchase in the next
// HorizonDays days for each customer, given the purchase model's scores,
// with its 80 % interval from the coefficients' uncertainty: the linear
// predictor ± z90 of its delta-method standard deviation, through the
// calibration (whose two parameters are taken as known).
func (rm *RiskModel) churnRisk(res *features.Result, scores []Score) (risk, lo, hi []float64, err error) {
	if len(rm.Inputs) != len(RiskInputs) || len(rm.Coef) != len(RiskInputs) || len(rm.Mean) != len(RiskInputs) || len(rm.Scale) != len(RiskInputs) {
		return nil, nil, nil, fmt.Errorf("model.json: the risk model has %d inputs, this churn has %d; refit", len(rm.Coef), len(RiskInputs))
	}
	l := model.Logit{Mean: rm.Mean, Scale: rm.Scale, Coef: rm.Coef, Intercept: rm.Intercept}
	row := make([]float64, len(RiskInputs))
	risk, lo, hi = make([]float64, len(scores)), make([]float64, len(scores)), make([]float64, len(scores))
	for i := range scores {
		riskRow(row, &res.Customers[i], &scores[i])
		eta := l.Linear(row)
		d := z90 * l.LinearSD(row, rm.Covariance)
		risk[i] = rm.calibrated(eta)
		a, b := rm.calibrated(eta-d), rm.calibrated(eta+d)
		lo[i], hi[i] = math.Min(a, b), math.Max(a, b)
	}
	return risk, lo, hi, nil
}

// FitSpec is what --model asks for.
type FitSpec struct {
	Name        string  // bgnbd, pareto, mbgnbd, logit or auto
	Purchase    string  // the purchase model under logit and auto (default bgnbd)
	HorizonDays int     // logit and auto: the churn horizon, the score horizon
	LogitL2     float64 // logit: the L2 penalty (default DefaultLogitL2)
	Fit         model.FitOptions
}

// ModelChoices are the names --model accepts.
var ModelChoices = append(append([]string(nil), PurchaseModels...), "logit", "auto")

func (s FitSpec) purchase() string { return cmp.Or(s.Purchase, "bgnbd") }

func (s FitSpec) l2() float64 {
	if s.LogitL2 > 0 {
		return s.LogitL2
	}
	return DefaultLogitL2
}

// FitSpecModels fits what spec asks for to res, the features of fo.AsOf.
// A purchase model is fitted alone. "logit" adds the risk model, which then
// gives churn_risk. "auto" first backtests the purchase model against the
// risk model with the cutoff one horizon back, keeps the risk model only if
// its churn AUC is higher, and returns that backtest too.
func FitSpecModels(ctx context.Context, w *warehouse.Warehouse, fo FeaturesOptions, res *features.Result, spec FitSpec) (*ModelFile, *Backtest, error) {
	switch spec.Name {
	case "logit", "auto":
	default:
		mf, err := FitModels(res, spec.Name, spec.Fit)
		return mf, nil, err
	}
	purchase := spec.purchase()
	if spec.HorizonDays < 1 {
		return nil, nil, fmt.Errorf("%w: --model %s needs a horizon of at least one day", warehouse.ErrOption, spec.Name)
	}
	fo.AsOf = res.AsOf
	useLogit, reason, purchaseReason := spec.Name == "logit", "--model logit", ""
	var bt *Backtest
	var err error
	if spec.Name == "auto" {
		// Every purchase model and the logit (on the --btyd model's
		// outputs) in one backtest with the cutoff one horizon back.
		models := []string{purchase, "logit"}
		if spec.Purchase == "" {
			models = append(slices.Clone(PurchaseModels), "logit")
		}
		bo := BacktestOptions{Features: fo, HoldoutDays: spec.HorizonDays, Models: models,
			Purchase: purchase, LogitL2: spec.l2(), Fit: spec.Fit}
		bo.Features.AsOf = fo.AsOf.AddDate(0, 0, -spec.HorizonDays)
		bt, err = RunBacktest(ctx, w, bo)
		switch {
		case err != nil && !errors.Is(err, model.ErrNoData):
			return nil, nil, err
		case err != nil:
			bt, reason = nil, "auto: no customers before the backtest cutoff, so the purchase model gives churn_risk"
		default:
			best, why := choosePurchaseModel(bt, purchase)
			useLogit, reason = chooseChurnModel(bt, best)
			if !useLogit && best != purchase {
				purchase, purchaseReason = best, why
			}
		}
	}
	mf, err := FitModels(res, purchase, spec.Fit)
	if err != nil {
		return nil, nil, err
	}
	mf.Requested = spec.Name
	if useLogit {
		var rm *RiskModel
		if bt != nil && bt.files[purchase] != nil {
			// The backtest's cutoff is D − H with a holdout to D: its
			// features and purchase fit are the training data at D.
			rm, err = trainRiskModel(bt.res, bt.files[purchase], spec.HorizonDays, spec.l2())
		} else {
			rm, err = TrainRiskModel(ctx, w, fo, purchase, spec.HorizonDays, spec.l2(), spec.Fit)
		}
		if err != nil {
			if spec.Name == "logit" {
				return nil, nil, err
			}
			useLogit, reason = false, "auto: the risk model could not be trained ("+err.Error()+"), so the purchase model gives churn_risk"
		} else {
			mf.Risk = rm
		}
	}
	if bt != nil {
		bt.DropCohort() // done with them; the caller keeps only the metrics
	}
	source := purchase
	if useLogit {
		source = "logit"
	}
	mf.ChurnRisk = &ChurnRiskChoice{Source: source, Reason: reason, PurchaseReason: purchaseReason}
	return mf, bt, nil
}

// aucTie is the churn AUC difference below which two models count as
// equally good at ranking, and calibration decides.
const aucTie = 0.002

// choosePurchaseModel is the purchase model of an auto backtest that
// predicted churn best: the highest churn AUC; within aucTie of it, the
// lowest Brier score (calibration), then the smallest error of the
// holdout's total purchases. It keeps dflt when no other model beats it.
func choosePurchaseModel(bt *Backtest, dflt string) (string, string) {
	var best *ModelMetrics
	better := func(m, b *ModelMetrics) bool {
		switch {
		case m.ChurnAUC > b.ChurnAUC+aucTie:
			return true
		case m.ChurnAUC < b.ChurnAUC-aucTie:
			return false
		case m.Brier != b.Brier:
			return m.Brier < b.Brier
		}
		return math.Abs(m.TotalErrorPct) < math.Abs(b.TotalErrorPct)
	}
	var def *ModelMetrics
	for i := range bt.Models {
		m := &bt.Models[i]
		if m.Model == "logit" || m.Error != "" || len(m.Undefined) > 0 {
			continue
		}
		if m.Model == dflt {
			def = m
		}
		if best == nil || better(m, best) {
			best = m
		}
	}
	if best == nil || best.Model == dflt || def != nil && !better(best, def) {
		return dflt, ""
	}
	return best.Model, fmt.Sprintf("auto: %s predicted churn best of the purchase models in the backtest with cutoff %s: AUC %.4f, Brier %.4f",
		best.Model, bt.Cutoff, best.ChurnAUC, best.Brier)
}

// chooseChurnModel reads an auto backtest: the risk model wins only with a
// strictly higher churn AUC.
func chooseChurnModel(bt *Backtest, purchase string) (bool, string) {
	var pm, lm *ModelMetrics
	for i := range bt.Models {
		switch bt.Models[i].Model {
		case purchase:
			pm = &bt.Models[i]
		case "logit":
			lm = &bt.Models[i]
		}
	}
	where := fmt.Sprintf("backtest with cutoff %s and a %d-day holdout", bt.Cutoff, bt.HoldoutDays)
	switch {
	case lm == nil || lm.Error != "":
		msg := "no result"
		if lm != nil {
			msg = lm.Error
		}
		return false, fmt.Sprintf("auto: the risk model failed in the %s (%s), so %s gives churn_risk", where, msg, purchase)
	case pm == nil || pm.Error != "":
		return true, fmt.Sprintf("auto: %s failed in the %s; logit gives churn_risk (AUC %.4f)", purchase, where, lm.ChurnAUC)
	case lm.ChurnAUC > pm.ChurnAUC:
		return true, fmt.Sprintf("auto: logit predicted churn better in the %s: AUC %.4f against %.4f for %s (Brier %.4f against %.4f)",
			where, lm.ChurnAUC, pm.ChurnAUC, purchase, lm.Brier, pm.Brier)
	default:
		return false, fmt.Sprintf("auto: %s predicted churn at least as well in the %s: AUC %.4f against %.4f for logit (Brier %.4f against %.4f)",
			purchase, where, pm.ChurnAUC, lm.ChurnAUC, pm.Brier, lm.Brier)
	}
}
