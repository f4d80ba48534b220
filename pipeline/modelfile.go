package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
)

// ModelFile is model.json: the fitted purchase and spend models of one
// as-of date, parameters by their literature names.
type ModelFile struct {
	Model       string             `json:"model"`
	Params      map[string]float64 `json:"params"`
	StdErr      map[string]float64 `json:"std_err,omitempty"`
	Unit        string             `json:"unit"`
	LogLik      float64            `json:"log_likelihood"`
	Customers   float64            `json:"customers"`
	Patterns    int                `json:"patterns"`
	Calibration struct {
		Start string `json:"start"` // first purchase of the earliest customer
		End   string `json:"end"`   // the as-of date
	} `json:"calibration"`
	Optimizer struct {
		Status     string `json:"status"`
		Iterations int    `json:"iterations"`
		FuncEvals  int    `json:"function_evaluations"`
	} `json:"optimizer"`
	Spend *SpendModelFile `json:"spend,omitempty"`
}

// SpendModelFile is the Gamma-Gamma part of model.json.
type SpendModelFile struct {
	Model     string             `json:"model"`
	Params    map[string]float64 `json:"params"`
	StdErr    map[string]float64 `json:"std_err,omitempty"`
	LogLik    float64            `json:"log_likelihood"`
	Customers float64            `json:"customers"`
	Status    string             `json:"status"`
}

// ErrModelNotBuilt is returned for a model name this build does not fit yet.
var ErrModelNotBuilt = errors.New("model not available in this build")

// FitModels fits the purchase model (BG/NBD) and the spend model
// (Gamma-Gamma, on repeat buyers with positive monetary value) to features.
func FitModels(res *features.Result, name string, opt model.FitOptions) (*ModelFile, error) {
	if name != "bgnbd" {
		return nil, fmt.Errorf("%w: %q (this build fits bgnbd; pareto and mbgnbd are planned)", ErrModelNotBuilt, name)
	}
	n := len(res.Customers)
	x, tx, T := make([]float64, n), make([]float64, n), make([]float64, n)
	var spend []model.SpendPattern
	start := time.Time{}
	for i := range res.Customers {
		c := &res.Customers[i]
		x[i], tx[i], T[i] = float64(c.Frequency), c.Recency, c.T
		if c.Frequency > 0 && c.MonetaryValue > 0 {
			spend = append(spend, model.SpendPattern{X: float64(c.Frequency), M: c.MonetaryValue, Count: 1})
		}
		if start.IsZero() || c.FirstPurchase.Before(start) {
			start = c.FirstPurchase
		}
	}
	fit, err := model.FitBGNBD(model.Compress(x, tx, T), opt)
	if err != nil {
		return nil, fmt.Errorf("fit bgnbd: %w", err)
	}
	mf := &ModelFile{
		Model:     "bgnbd",
		Params:    map[string]float64{"r": fit.R, "alpha": fit.Alpha, "a": fit.A, "b": fit.B},
		Unit:      res.Unit.String(),
		LogLik:    fit.LogLikelihood,
		Customers: fit.Customers,
		Patterns:  fit.Patterns,
	}
	if len(fit.StdErr) == 4 {
		mf.StdErr = map[string]float64{"r": fit.StdErr[0], "alpha": fit.StdErr[1], "a": fit.StdErr[2], "b": fit.StdErr[3]}
	}
	mf.Calibration.Start = start.Format("2006-01-02")
	mf.Calibration.End = res.AsOf.Format("2006-01-02")
	mf.Optimizer.Status, mf.Optimizer.Iterations, mf.Optimizer.FuncEvals = fit.Status, fit.Iterations, fit.FuncEvals
	if len(spend) > 0 {
		gg, err := model.FitGammaGamma(spend, opt)
		if err != nil {
			return nil, fmt.Errorf("fit gamma-gamma: %w", err)
		}
		mf.Spend = &SpendModelFile{Model: "gamma-gamma", Params: map[string]float64{"p": gg.P, "q": gg.Q, "gamma": gg.Gamma},
			LogLik: gg.LogLikelihood, Customers: gg.Customers, Status: gg.Status}
		if len(gg.StdErr) == 3 {
			mf.Spend.StdErr = map[string]float64{"p": gg.StdErr[0], "q": gg.StdErr[1], "gamma": gg.StdErr[2]}
		}
	}
	return mf, nil
}

// WriteModelFile writes model.json atomically.
func WriteModelFile(dir string, mf *ModelFile) error {
	return WriteFileAtomic(filepath.Join(dir, "model.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(mf)
	})
}

// FitRun computes the features of an as-of date and fits the models to them.
func FitRun(ctx context.Context, w *Warehouse, fo FeaturesOptions, name string, opt model.FitOptions) (*ModelFile, error) {
	res, err := ComputeFeatures(ctx, w, fo)
	if err != nil {
		return nil, err
	}
	return FitModels(res, name, opt)
}
