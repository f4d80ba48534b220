package night

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/parquet-go/parquet-go"
)

// ScoreOptions are the inputs of `churn score` besides the model.
type ScoreOptions struct {
	HorizonDays  float64 `json:"horizon_days"`         // horizon of expected_purchases and churn_risk, in days (default 90)
	CLVMonths    int     `json:"clv_months"`           // horizon of clv in months of 365.25/12 days (default 12)
	DiscountRate float64 `json:"discount_rate_annual"` // annual discount rate of clv (default 0.10)
	Margin       float64 `json:"margin"`               // share of spend that is margin (default 0.30)
	TierMedium   float64 `json:"tier_medium_from"`     // churn_risk ≥ TierMedium is medium (default 0.5)
	TierHigh     float64 `json:"tier_high_from"`       // churn_risk ≥ TierHigh is high (default 0.8)
	// TierHysteresis is the margin by which churn_risk must leave a
	// customer's previous tier before the tier changes (default 0.02; 0
	// = none); see ApplyHysteresis.
	TierHysteresis float64 `json:"tier_hysteresis"`
	// NoIntervals skips the intervals (the backtest and the risk model's
	// training need the point scores only).
	NoIntervals bool `json:"-" yaml:"-"`
}

// DefaultScoreOptions are the documented defaults.
func DefaultScoreOptions() ScoreOptions {
	return ScoreOptions{HorizonDays: 90, CLVMonths: 12, DiscountRate: 0.10, Margin: 0.30, TierMedium: 0.5, TierHigh: 0.8, TierHysteresis: 0.02}
}

// Validate reports the first option out of range.
func (o ScoreOptions) Validate() error {
	switch {
	case !(o.HorizonDays > 0):
		return fmt.Errorf("%w: --horizon must be positive", warehouse.ErrOption)
	case o.CLVMonths < 1 || o.CLVMonths > 600:
		return fmt.Errorf("%w: --clv-months must be 1–600", warehouse.ErrOption)
	case !(o.DiscountRate >= 0):
		return fmt.Errorf("%w: --discount-rate must be an annual rate ≥ 0 (0.1 = 10 %%)", warehouse.ErrOption)
	case o.DiscountRate > 1:
		// 10 is 1,000 % a year: almost surely meant as 10 %.
		return fmt.Errorf("%w: --discount-rate %g is %g %% a year; give the rate as a fraction (0.10 = 10 %%)", warehouse.ErrOption, o.DiscountRate, 100*o.DiscountRate)
	case o.Margin > 1:
		// 30 is 3,000 % of revenue: almost surely meant as 30 %.
		return fmt.Errorf("%w: --margin %g is %g %% of revenue; give the margin as a fraction in (0, 1] (0.30 = 30 %%)", warehouse.ErrOption, o.Margin, 100*o.Margin)
	case !(o.Margin > 0):
		return fmt.Errorf("%w: --margin must be in (0, 1]", warehouse.ErrOption)
	case !(o.TierMedium > 0) || !(o.TierHigh > o.TierMedium) || o.TierHigh > 1:
		return fmt.Errorf("%w: --risk-tiers must be two thresholds 0 < medium < high ≤ 1", warehouse.ErrOption)
	case !(o.TierHysteresis >= 0) || o.TierHysteresis >= (o.TierHigh-o.TierMedium)/2:
		return fmt.Errorf("%w: --tier-hysteresis must be ≥ 0 and below half the gap between the tiers (%g)", warehouse.ErrOption, (o.TierHigh-o.TierMedium)/2)
	}
	return nil
}

// xTKey is a distinct (x, T): the alive-conditional future depends on it alone.
type xTKey struct{ x, T float64 }

// Score is one customer's scores; see the README for definitions and units.
type Score struct {
	PAlive            float64
	ChurnRisk         float64 // P(no purchase within the horizon | history)
	Tier              string  // low, medium, high
	ExpectedPurchases float64 // within the horizon
	ExpectedSpend     float64 // per purchase, currency units
	CLV               float64 // discounted expected margin over CLVMonths, currency units
	// NextPurchase is the date by which an active customer buys again with
	// probability ½; zero when that is more than ten years away.
	NextPurchase time.Time
	// The 80 % intervals (intervals.go): of p_alive, churn_risk and clv
	// from the parameters' uncertainty; of the purchase count in the
	// horizon from both the customer's randomness and the parameters'.
	PAliveP10, PAliveP90       float64
	ChurnRiskP10, ChurnRiskP90 float64
	CLVP10, CLVP90             float64
	PurchasesP10, PurchasesP90 float64
}

// ScoresMeta is scores.json: what the numbers in scores.parquet mean.
type ScoresMeta struct {
	AsOf       string `json:"as_of"`
	Model      string `json:"model"`
	SpendModel string `json:"spend_model"`
	// ChurnRiskModel is where churn_risk comes from: the purchase model, or logit.
	ChurnRiskModel string `json:"churn_risk_model"`
	Unit           string `json:"unit"`
	ScoreOptions
	Currency      string         `json:"currency"`
	Customers     int            `json:"customers"`
	Tiers         map[string]int `json:"tiers"`
	SpendFallback float64        `json:"spend_fallback"` // expected spend of customers without repeat purchases
	// IntervalDraws is the number of parameter draws behind the intervals
	// (0: none, IntervalNote says why).
	IntervalDraws int    `json:"interval_draws"`
	IntervalNote  string `json:"interval_note,omitempty"`
	// TiersHeld counts the customers whose previous tier the hysteresis
	// kept; TiersFrom is the run it took them from ("" for none).
	TiersHeld int    `json:"tiers_held"`
	TiersFrom string `json:"tiers_from,omitempty"`
	// OneTimeAlive counts the customers without a repeat purchase whom the
	// model calls alive for sure (p_alive 1: BG/NBD's definition, as its
	// customers drop out only just after a repeat purchase).
	OneTimeAlive int `json:"one_time_buyers_p_alive_1"`
}

// ReadScoresMeta reads DIR/scores.json.
func ReadScoresMeta(dir string) (*ScoresMeta, error) {
	m, err := warehouse.ReadJSONFile[ScoresMeta](filepath.Join(dir, "scores.json"))
	if err == nil && m == nil {
		err = fmt.Errorf("%w: %s", os.ErrNotExist, filepath.Join(dir, "scores.json"))
	}
	return m, err
}

// ModelLabel is the CRM feed's model column: purchase model, the spend
// model when there is one, and logit when churn_risk comes from it.
func (mf *ModelFile) ModelLabel() string {
	label := mf.Model
	if mf.Spend != nil {
		label += "+" + mf.Spend.Model
	}
	if mf.ChurnRisk != nil && mf.ChurnRisk.Source == "logit" {
		label += "+logit"
	}
	return label
}

// ScoreCustomers scores every customer of res with the models of mf. The
// purchase-model quantities are computed once per distinct (x, T) and
// pattern (x, t_x, T), in parallel, and joined back.
func ScoreCustomers(res *features.Result, mf *ModelFile, opt ScoreOptions) ([]Score, ScoresMeta, error) {
	return ScoreCustomersContext(context.Background(), res, mf, opt)
}

// ScoreCustomersContext is ScoreCustomers that stops, with ctx's error, soon
// after ctx is done (SIGTERM): the per-pattern work can be long for a fit
// near a boundary.
func ScoreCustomersContext(ctx context.Context, res *features.Result, mf *ModelFile, opt ScoreOptions) ([]Score, ScoresMeta, error) {
	meta := ScoresMeta{AsOf: res.AsOf.Format(time.DateOnly), Model: mf.Model, Unit: res.Unit.String(),
		ScoreOptions: opt, Customers: len(res.Customers), Tiers: map[string]int{}}
	if len(res.Currencies) == 1 {
		meta.Currency = res.Currencies[0]
	}
	if err := opt.Validate(); err != nil {
		return nil, meta, err
	}
	if mf.Unit != res.Unit.String() {
		return nil, meta, fmt.Errorf("%w: model.json was fitted in %ss, the features are in %ss; refit or pass --unit %s", warehouse.ErrOption, mf.Unit, res.Unit, mf.Unit)
	}
	pm, err := mf.PurchaseModel()
	if err != nil {
		return nil, meta, err
	}
	params := pm.Params()
	r, alpha := params[0], params[1]
	unitDays := res.Unit.Days()
	horizon := opt.HorizonDays / unitDays
	month := 365.25 / 12 / unitDays

	keys, of := CustomerPatterns(res)
	// Every model here factors as E[X(t) | x, t_x, T] = P(alive | x, t_x, T)
	// · E[X(t) | alive at T, x, T] and P(no purchase) = 1 − P(alive) +
	// P(alive) · P(no purchase | alive, x, T): once alive at T, the future
	// depends on (x, T) alone (the posterior of the rates). So the costly
	// parts (hypergeometric series, 12 CLV months) are computed once per
	// distinct (x, T) — far fewer than patterns — and each pattern needs only
	// its P(alive). The alive-conditional values are the model's own
	// predictions at t_x = T divided by its P(alive) there.
	type xT = xTKey
	type aliveScore struct {
		p0, expected, discounted, waitDays float64
	}
	slot := map[xT]int32{}
	var xts []xT
	xtOf := make([]int32, len(keys))
	for j, k := range keys {
		key := xT{k.X, k.T}
		i, ok := slot[key]
		if !ok {
			i = int32(len(xts))
			slot[key] = i
			xts = append(xts, key)
		}
		xtOf[j] = i
	}
	alive := make([]aliveScore, len(xts))
	pAlive := make([]float64, len(keys))
	strided(ctx, len(xts), func() func(int) {
		return func(j int) {
			x, T := xts[j].x, xts[j].T
			s := &alive[j]
			pa := pm.PAlive(x, T, T)
			s.p0, s.discounted = aliveConditional(pm, opt, horizon, month, x, T, pa)
			s.expected = pm.ExpectedPurchases(horizon, x, T, T) / pa
			s.waitDays = model.MedianWait(r, alpha, x, T) * unitDays
		}
	})
	strided(ctx, len(keys), func() func(int) {
		return func(j int) {
			k := keys[j]
			pAlive[j] = pm.PAlive(k.X, k.TX, k.T)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, meta, fmt.Errorf("scoring interrupted: %w", err)
	}

	gg, haveGG := mf.SpendModel()
	fallback := 0.0
	switch {
	case haveGG && gg.Q > 1:
		fallback = gg.P * gg.Gamma / (gg.Q - 1) // the population mean spend per purchase
		meta.SpendModel = "gamma-gamma"
	default:
		// No usable spend model: the mean spend per order over customers.
		var sum float64
		for i := range res.Customers {
			sum += res.Customers[i].MonetaryAvg
		}
		if len(res.Customers) > 0 {
			fallback = sum / float64(len(res.Customers))
		}
		meta.SpendModel = "mean spend per order"
		haveGG = false
	}
	meta.SpendFallback = fallback
	out := make([]Score, len(res.Customers))
	for i := range res.Customers {
		c := &res.Customers[i]
		pa := pAlive[of[i]]
		p := &alive[xtOf[of[i]]]
		spend := fallback
		if haveGG && c.Frequency > 0 {
			spend = gg.ExpectedSpend(float64(c.Frequency), c.MonetaryValue)
		}
		out[i] = Score{PAlive: pa, ChurnRisk: clamp01(1 - pa + pa*p.p0), ExpectedPurchases: pa * p.expected, ExpectedSpend: spend,
			CLV: opt.Margin * spend * pa * p.discounted}
		if p.waitDays <= 3652 {
			out[i].NextPurchase = res.AsOf.AddDate(0, 0, int(math.Ceil(p.waitDays)))
		}
	}
	if !opt.NoIntervals {
		scoreIntervals(ctx, res, mf, pm, opt, keys, of, xts, xtOf, fallback, out, &meta)
	}
	if err := ctx.Err(); err != nil {
		return nil, meta, fmt.Errorf("scoring interrupted: %w", err)
	}
	meta.ChurnRiskModel = mf.Model
	if mf.ChurnRisk != nil && mf.ChurnRisk.Source == "logit" {
		rm := mf.Risk
		if rm == nil {
			return nil, meta, fmt.Errorf("model.json: churn_risk comes from the risk model but there is none; refit")
		}
		if float64(rm.HorizonDays) != opt.HorizonDays {
			return nil, meta, fmt.Errorf("%w: the risk model in model.json predicts %d days ahead, --horizon asks for %g; refit with --horizon %dd or use that horizon",
				warehouse.ErrOption, rm.HorizonDays, opt.HorizonDays, rm.HorizonDays)
		}
		risk, lo, hi, err := rm.churnRisk(res, out)
		if err != nil {
			return nil, meta, err
		}
		for i := range out {
			out[i].ChurnRisk, out[i].ChurnRiskP10, out[i].ChurnRiskP90 = risk[i], lo[i], hi[i]
		}
		meta.ChurnRiskModel = "logit"
	}
	for i := range out {
		c := &res.Customers[i]
		sc := out[i]
		switch {
		case sc.ChurnRisk >= opt.TierHigh:
			sc.Tier = "high"
		case sc.ChurnRisk >= opt.TierMedium:
			sc.Tier = "medium"
		default:
			sc.Tier = "low"
		}
		for k, v := range []float64{sc.PAlive, sc.ChurnRisk, sc.ExpectedPurchases, sc.ExpectedSpend, sc.CLV,
			sc.PAliveP10, sc.PAliveP90, sc.ChurnRiskP10, sc.ChurnRiskP90, sc.CLVP10, sc.CLVP90, sc.PurchasesP10, sc.PurchasesP90} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				name := [...]string{"p_alive", "churn_risk", "expected_purchases", "expected_spend", "clv",
					"p_alive_p10", "p_alive_p90", "churn_risk_p10", "churn_risk_p90", "clv_p10", "clv_p90", "purchases_p10", "purchases_p90"}[k]
				return nil, meta, fmt.Errorf("scoring customer %q (x=%d t_x=%g T=%g): %s is %v under %s %v: please report this with the model.json",
					c.CustomerID, c.Frequency, c.Recency, c.T, name, v, mf.Model, mf.Params)
			}
		}
		meta.Tiers[sc.Tier]++
		if c.Frequency == 0 && sc.PAlive >= 1 {
			meta.OneTimeAlive++
		}
		out[i] = sc
	}
	return out, meta, nil
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// ScoreRow is one row of scores.parquet.
type ScoreRow struct {
	CustomerID        string  `parquet:"customer_id"`
	PAlive            float64 `parquet:"p_alive"`
	ChurnRisk         float64 `parquet:"churn_risk"`
	RiskTier          string  `parquet:"risk_tier,dict"`
	ExpectedPurchases float64 `parquet:"expected_purchases"`
	ExpectedSpend     float64 `parquet:"expected_spend"`
	CLV               float64 `parquet:"clv"`
	NextPurchase      *int32  `parquet:"expected_next_purchase,date,optional"`
	PAliveP10         float64 `parquet:"p_alive_p10"`
	PAliveP90         float64 `parquet:"p_alive_p90"`
	ChurnRiskP10      float64 `parquet:"churn_risk_p10"`
	ChurnRiskP90      float64 `parquet:"churn_risk_p90"`
	CLVP10            float64 `parquet:"clv_p10"`
	CLVP90            float64 `parquet:"clv_p90"`
	PurchasesP10      int32   `parquet:"purchases_p10"`
	PurchasesP90      int32   `parquet:"purchases_p90"`
}

// WriteScores writes scores.parquet and scores.json into dir.
func WriteScores(dir string, res *features.Result, scores []Score, meta ScoresMeta) error {
	err := warehouse.WriteFileAtomic(filepath.Join(dir, "scores.parquet"), func(f io.Writer) error {
		// Row groups encoded on every core (one encoder took 2 s of 3M rows).
		w := warehouse.NewParallelParquet[ScoreRow](f, FeatureRowGroup, runtime.GOMAXPROCS(0), parquet.Compression(warehouse.ZstdCodec))
		for i := range scores {
			s := &scores[i]
			row := ScoreRow{CustomerID: res.Customers[i].CustomerID, PAlive: s.PAlive, ChurnRisk: s.ChurnRisk, RiskTier: s.Tier,
				ExpectedPurchases: s.ExpectedPurchases, ExpectedSpend: s.ExpectedSpend, CLV: s.CLV,
				PAliveP10: s.PAliveP10, PAliveP90: s.PAliveP90, ChurnRiskP10: s.ChurnRiskP10, ChurnRiskP90: s.ChurnRiskP90,
				CLVP10: s.CLVP10, CLVP90: s.CLVP90, PurchasesP10: int32(s.PurchasesP10), PurchasesP90: int32(s.PurchasesP90)}
			if !s.NextPurchase.IsZero() {
				d := int32(s.NextPurchase.Unix() / 86400)
				row.NextPurchase = &d
			}
			if err := w.Add(row); err != nil {
				w.Stop()
				return err
			}
		}
		return w.Close()
	})
	if err != nil {
		return err
	}
	return warehouse.WriteJSON(filepath.Join(dir, "scores.json"), meta)
}

// aliveConditional is what an active customer with x repeat purchases and
// age T is expected to do: P(no purchase within the horizon) and the
// discounted purchases of the CLV months, Σ_m (E[X(m months)] −
// E[X(m−1 months)]) / (1+d)^(m/12), both conditional on being alive
// (pa = P(alive | x, T, T)). Scores and their intervals' draws share it.
func aliveConditional(pm model.PurchaseModel, opt ScoreOptions, horizon, month, x, T, pa float64) (p0, discounted float64) {
	p0 = (pm.ProbNoPurchase(horizon, x, T, T) - (1 - pa)) / pa
	prev := 0.0
	for m := 1; m <= opt.CLVMonths; m++ {
		cum := pm.ExpectedPurchases(float64(m)*month, x, T, T) / pa
		discounted += (cum - prev) / math.Pow(1+opt.DiscountRate, float64(m)/12)
		prev = cum
	}
	return p0, discounted
}

// strided runs the body worker() makes, once per worker, for every j in
// [0, n) on GOMAXPROCS workers (worker wk takes j ≡ wk), stopping early
// once ctx is done; the caller checks ctx after.
func strided(ctx context.Context, n int, worker func() func(j int)) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			body := worker()
			for j := wk; j < n; j += workers {
				if ctx.Err() != nil {
					return
				}
				body(j)
			}
		}(wk)
	}
	wg.Wait()
}
