package night

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// ModelFile is model.json: the fitted purchase model of one as-of date and,
// under "spend", the spend model; parameters by their literature names.
type ModelFile struct {
	FittedModel
	Unit        string `json:"unit"`
	Calibration struct {
		Start string `json:"start"` // first purchase of the earliest customer
		End   string `json:"end"`   // the as-of date
	} `json:"calibration"`
	Spend *FittedModel `json:"spend,omitempty"`
	// Requested is what --model asked for when that is logit or auto.
	Requested string `json:"requested,omitempty"`
	// Risk is the supervised churn model, when one was trained.
	Risk *RiskModel `json:"risk,omitempty"`
	// ChurnRisk says where churn_risk comes from, when logit or auto chose.
	ChurnRisk *ChurnRiskChoice `json:"churn_risk,omitempty"`
}

// FittedModel is one fitted model as model.json records it.
type FittedModel struct {
	Model  string             `json:"model"`
	Params map[string]float64 `json:"params"`
	StdErr map[string]float64 `json:"std_err,omitempty"`
	// Covariance of the parameters (inverse observed information), by name:
	// the intervals of the scores draw the parameters from it.
	Covariance map[string]map[string]float64 `json:"covariance,omitempty"`
	LogLik     float64                       `json:"log_likelihood"`
	Customers  float64                       `json:"customers"`
	Patterns   int                           `json:"patterns"`
	Optimizer  struct {
		Status     string `json:"status"`
		Iterations int    `json:"iterations"`
		FuncEvals  int    `json:"function_evaluations"`
	} `json:"optimizer"`
	// Warning says what a user should know of the fit (a boundary fit
	// refitted with a penalty); run.json and the report repeat it.
	Warning string `json:"warning,omitempty"`
}

// fittedModel names the parameters (and standard errors, when the fit has
// them) of a fit.
func fittedModel(name string, names []string, values []float64, st model.FitStats) FittedModel {
	fm := FittedModel{Model: name, Params: map[string]float64{}, LogLik: st.LogLikelihood, Customers: st.Customers, Patterns: st.Patterns}
	for i, n := range names {
		fm.Params[n] = values[i]
	}
	if len(st.StdErr) == len(names) {
		fm.StdErr = map[string]float64{}
		for i, n := range names {
			fm.StdErr[n] = st.StdErr[i]
		}
	}
	if k := len(names); len(st.Cov) == k*k {
		fm.Covariance = map[string]map[string]float64{}
		for i, n := range names {
			fm.Covariance[n] = map[string]float64{}
			for j, m := range names {
				fm.Covariance[n][m] = st.Cov[i*k+j]
			}
		}
	}
	fm.Optimizer.Status, fm.Optimizer.Iterations, fm.Optimizer.FuncEvals = st.Status, st.Iterations, st.FuncEvals
	fm.Warning = st.Warning
	return fm
}

// Warnings joins the warnings of the purchase and spend fits ("" for none).
func (mf *ModelFile) Warnings() string {
	var w []string
	for _, fm := range []*FittedModel{&mf.FittedModel, mf.Spend} {
		if fm != nil && fm.Warning != "" {
			w = append(w, fm.Warning)
		}
	}
	return strings.Join(w, "; ")
}

// ErrUnknownModel is returned for a model name that is not one of PurchaseModels.
var ErrUnknownModel = errors.New("unknown model")

// PurchaseModels are the names --model accepts.
var PurchaseModels = []string{"bgnbd", "pareto", "mbgnbd"}

// FitModels fits the purchase model (bgnbd, pareto or mbgnbd) and the spend
// model (Gamma-Gamma, on repeat buyers with positive monetary value) to features.
func FitModels(res *features.Result, name string, opt model.FitOptions) (*ModelFile, error) {
	if !slices.Contains(PurchaseModels, name) {
		return nil, fmt.Errorf("%w %q: want one of %v", ErrUnknownModel, name, PurchaseModels)
	}
	var spend []model.SpendPattern
	var first int64 = math.MaxInt64 // the earliest first purchase, µs
	for i := range res.Customers {
		c := &res.Customers[i]
		if c.Frequency > 0 && c.MonetaryValue > 0 {
			spend = append(spend, model.SpendPattern{X: float64(c.Frequency), M: c.MonetaryValue, Count: 1})
		}
		first = min(first, c.FirstPurchaseMicros)
	}
	start := time.UnixMicro(first).UTC()
	ps, _ := CustomerPatterns(res)
	fit, err := model.FitPurchaseModel(name, ps, opt)
	if err != nil {
		if fit != nil {
			return nil, fmt.Errorf("fit %s: %w (optimiser: %s)", name, err, fit.Status)
		}
		return nil, fmt.Errorf("fit %s: %w", name, err)
	}
	mf := &ModelFile{
		FittedModel: fittedModel(name, fit.Model.ParamNames(), fit.Model.Params(), fit.FitStats),
		Unit:        res.Unit.String(),
	}
	mf.Calibration.Start = start.Format("2006-01-02")
	mf.Calibration.End = res.AsOf.Format("2006-01-02")
	if len(spend) > 0 {
		gg, err := model.FitGammaGamma(spend, opt)
		switch {
		case errors.Is(err, model.ErrNotConverged):
			// Too few or too alike repeat buyers to fit: the scores take the
			// mean spend per order (ScoreCustomers), and the fit says why.
			mf.Warning = strings.TrimPrefix(mf.Warning+"; ", "; ") + fmt.Sprintf("gamma-gamma not fitted on %d repeat buyers (%v): spend per purchase is the mean spend per order", len(spend), err)
		case err != nil:
			return nil, fmt.Errorf("fit gamma-gamma: %w", err)
		default:
			sm := fittedModel("gamma-gamma", []string{"p", "q", "gamma"}, []float64{gg.P, gg.Q, gg.Gamma}, gg.FitStats)
			mf.Spend = &sm
		}
	}
	return mf, nil
}

// CustomerPatterns compresses the customers' (x, t_x, T) into weighted
// patterns, with the index of each customer's pattern.
func CustomerPatterns(res *features.Result) ([]model.Pattern, []int32) {
	n := len(res.Customers)
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range res.Customers {
		c := &res.Customers[i]
		x[i], tx[i], T[i] = float64(c.Frequency), c.Recency, c.T
	}
	return model.CompressIndexed(x, tx, T)
}

// PurchaseModel returns the fitted purchase model of a model file.
func (mf *ModelFile) PurchaseModel() (model.PurchaseModel, error) {
	return model.NewPurchaseModel(mf.Model, mf.Params)
}

// SpendModel returns the fitted Gamma-Gamma model, or false when there was
// none (no repeat buyers with positive spend).
func (mf *ModelFile) SpendModel() (model.GammaGamma, bool) {
	if mf.Spend == nil {
		return model.GammaGamma{}, false
	}
	p := mf.Spend.Params
	return model.GammaGamma{P: p["p"], Q: p["q"], Gamma: p["gamma"]}, true
}

// ReadModelFile reads DIR/model.json.
func ReadModelFile(dir string) (*ModelFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, err
	}
	var mf ModelFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "model.json"), err)
	}
	return &mf, nil
}

// WriteModelFile writes model.json atomically.
func WriteModelFile(dir string, mf *ModelFile) error {
	return warehouse.WriteFileAtomic(filepath.Join(dir, "model.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(mf)
	})
}

// FitRun computes the features of an as-of date and fits the models to them.
func FitRun(ctx context.Context, w *warehouse.Warehouse, fo FeaturesOptions, name string, opt model.FitOptions) (*ModelFile, error) {
	res, err := ComputeFeatures(ctx, w, fo)
	if err != nil {
		return nil, err
	}
	return FitModels(res, name, opt)
}
