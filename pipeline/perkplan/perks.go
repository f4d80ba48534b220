// Package perkplan makes the perk plan: the catalog marketers edit, the
// uplift learned from the campaign history, and the allocation under a
// budget and capacities with a reason per customer (plan.csv, plan.json).
package perkplan

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/model"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// ErrCatalog is a bad perk catalog: the message names the line and column.
var ErrCatalog = errors.New("perk catalog")

// PerkKinds are the loyalty instruments a catalog may list.
var PerkKinds = []string{"points", "punch_card", "discount", "free_item", "free_service", "early_access", "event_invite", "gift_card"}

// Perk is one row of perks.csv. Money is in currency units.
type Perk struct {
	ID, Name, Kind string
	Cost           float64  // face value / item cost / per-invite cost; for points with points_value, the number of points
	Capacity       int      // most customers who may get it; −1 = unlimited
	Segments       []string // eligible RFM segments; empty = all
	MinOrders      int64
	MinCLV         float64
	Uplift         float64            // prior reduction of the churn probability
	SegmentUplift  map[string]float64 // per-segment priors that override Uplift
	PointsValue    float64            // points: money per point (0: cost is money)
	Punches        int                // punch_card: purchases to earn the free item
	DiscountPct    float64            // discount: percent off (0: cost is an amount off)
	Redemption     float64            // share redeemed; −1 = the kind's default
	ValidDays      int                // validity window (default 90)
	// ContactCost is what sending the perk costs whether or not it is used
	// (−1: the config's, by Channel); ControlShare the share of its
	// customers held out as controls (−1: the config's).
	ContactCost  float64
	Channel      string // email, sms, mail, or empty
	ControlShare float64
}

// Channels are the contact channels a catalog's channel column may name.
var Channels = []string{"email", "sms", "mail"}

var catalogColumns = []string{"perk_id", "name", "kind", "cost", "capacity", "segments", "min_orders", "min_clv", "uplift",
	"segment_uplift", "points_value", "punches", "discount_pct", "redemption_rate", "breakage", "valid_days",
	"contact_cost", "channel", "control_share"}

// ReadCatalog reads and checks perks.csv against the segment names in use.
// Any bad cell is an error naming its line and column; nothing is half-read.
func ReadCatalog(path string, segments []string) ([]Perk, error) {
	var perks []Perk
	seen := map[string]bool{}
	err := sheet.EachRow(path, ErrCatalog, []string{"perk_id", "name", "kind", "cost", "uplift"}, catalogColumns, func(row sheet.Row) error {
		var err error
		get := row.Get
		bad := func(name, why string) error {
			return fmt.Errorf("%w %s line %d, column %s: %q %s", ErrCatalog, path, row.Line, name, get(name), why)
		}
		num := func(name string, def, lo, hi float64) (float64, error) {
			s := get(name)
			if s == "" {
				return def, nil
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil || math.IsNaN(v) || v < lo || v > hi {
				return 0, bad(name, fmt.Sprintf("is not a number in [%g, %g]", lo, hi))
			}
			return v, nil
		}
		p := Perk{ID: get("perk_id"), Name: get("name"), Kind: strings.ToLower(get("kind")), Capacity: -1, Redemption: -1}
		if p.ID == "" {
			return bad("perk_id", "is empty")
		}
		if seen[p.ID] {
			return bad("perk_id", "appears twice")
		}
		seen[p.ID] = true
		if p.Name == "" {
			p.Name = p.ID
		}
		if !slices.Contains(PerkKinds, p.Kind) {
			return bad("kind", "is not one of "+strings.Join(PerkKinds, ", "))
		}
		if p.Cost, err = num("cost", math.NaN(), 0, 1e12); err != nil {
			return err
		}
		if math.IsNaN(p.Cost) {
			return bad("cost", "is empty")
		}
		if s := get("capacity"); s != "" {
			// Spreadsheets and pandas write whole numbers as "2000.0".
			n, err := strconv.ParseFloat(s, 64)
			if err != nil || n < 0 || n != math.Trunc(n) || n > 1e9 {
				return bad("capacity", "is not a whole number ≥ 0 (leave empty for unlimited)")
			}
			p.Capacity = int(n)
		}
		for _, s := range strings.Split(get("segments"), ";") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if !slices.Contains(segments, s) {
				return bad("segments", fmt.Sprintf("names %q, not a segment (%s)", s, strings.Join(segments, "; ")))
			}
			p.Segments = append(p.Segments, s)
		}
		mo, err := num("min_orders", 0, 0, 1e9)
		if err != nil {
			return err
		}
		p.MinOrders = int64(mo)
		if p.MinCLV, err = num("min_clv", math.Inf(-1), -1e12, 1e12); err != nil {
			return err
		}
		if p.Uplift, err = num("uplift", math.NaN(), 0, 1); err != nil {
			return err
		}
		if math.IsNaN(p.Uplift) {
			return bad("uplift", "is empty (the expected reduction of churn probability, 0–1)")
		}
		if s := get("segment_uplift"); s != "" {
			p.SegmentUplift = map[string]float64{}
			for _, kv := range strings.Split(s, ";") {
				name, val, ok := strings.Cut(kv, "=")
				name = strings.TrimSpace(name)
				v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if !ok || err != nil || v < 0 || v > 1 || !slices.Contains(segments, name) {
					return bad("segment_uplift", "is not a list of Segment=uplift; pairs with known segments and uplifts in [0, 1]")
				}
				p.SegmentUplift[name] = v
			}
		}
		if p.PointsValue, err = num("points_value", 0, 0, 1e6); err != nil {
			return err
		}
		pu, err := num("punches", 0, 0, 1000)
		if err != nil {
			return err
		}
		p.Punches = int(pu)
		if p.Kind == "punch_card" && p.Punches < 1 {
			return bad("punches", "must be a whole number ≥ 1 for a punch card")
		}
		if p.DiscountPct, err = num("discount_pct", 0, 0, 100); err != nil {
			return err
		}
		if p.Redemption, err = num("redemption_rate", -1, 0, 1); err != nil {
			return err
		}
		if p.Redemption < 0 {
			br, err := num("breakage", -1, 0, 1)
			if err != nil {
				return err
			}
			if br >= 0 {
				p.Redemption = 1 - br
			}
		}
		vd, err := num("valid_days", 90, 1, 3660)
		if err != nil {
			return err
		}
		p.ValidDays = int(vd)
		if p.ContactCost, err = num("contact_cost", -1, 0, 1e9); err != nil {
			return err
		}
		if p.Channel = strings.ToLower(get("channel")); p.Channel != "" && !slices.Contains(Channels, p.Channel) {
			return bad("channel", "is not one of "+strings.Join(Channels, ", "))
		}
		if p.ControlShare, err = num("control_share", -1, 0, 0.9); err != nil {
			return err
		}
		perks = append(perks, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(perks) == 0 {
		return nil, fmt.Errorf("%w %s: no perks", ErrCatalog, path)
	}
	return perks, nil
}

// expectedCost is what giving perk p to a customer is expected to cost,
// from the customer's predicted behaviour over the perk's validity window
// (README, "Perks"):
//
//	points        face value × redemption (default 0.6)
//	punch_card    item cost × P(at least `punches` purchases in the window)
//	discount      pct × expected purchases in the window × expected spend; or amount × P(a purchase)
//	free_item, free_service   cost × P(a purchase in the window) × redemption (default 1)
//	gift_card     face value × redemption (default 0.8)
//	early_access, event_invite   cost per invitation
func expectedCost(p *Perk, pm model.PurchaseModel, c *features.Customer, s *night.Score, unitDays float64) float64 {
	w := float64(p.ValidDays) / unitDays
	x, tx, T := float64(c.Frequency), c.Recency, c.T
	red := func(def float64) float64 {
		if p.Redemption >= 0 {
			return p.Redemption
		}
		return def
	}
	pBuy := func() float64 { return 1 - pm.ProbNoPurchase(w, x, tx, T) }
	switch p.Kind {
	case "points":
		face := p.Cost
		if p.PointsValue > 0 {
			face = p.Cost * p.PointsValue
		}
		return face * red(0.6)
	case "punch_card":
		return p.Cost * probAtLeast(pm, p.Punches, w, x, tx, T) * red(1)
	case "discount":
		if p.DiscountPct > 0 {
			return p.DiscountPct / 100 * pm.ExpectedPurchases(w, x, tx, T) * s.ExpectedSpend * red(1)
		}
		return p.Cost * pBuy() * red(1)
	case "free_item", "free_service":
		return p.Cost * pBuy() * red(1)
	case "gift_card":
		return p.Cost * red(0.8)
	}
	return p.Cost // early_access, event_invite
}

// probAtLeast is P(at least n purchases in the next t): P(alive) times the
// negative-binomial tail of an active customer's purchases (posterior rate
// Gamma(r+x, α+T)). It ignores drop-out within the window, so it errs
// toward a higher cost.
func probAtLeast(pm model.PurchaseModel, n int, t, x, tx, T float64) float64 {
	par := pm.Params()
	k, al := par[0]+x, par[1]
	q := (al + T) / (al + T + t) // P(success) of the negative binomial
	// P(N = j) = Γ(k+j)/(Γ(k) j!) q^k (1−q)^j, summed for j < n in logs.
	var below float64
	lg, _ := math.Lgamma(k)
	for j := 0; j < n; j++ {
		lgkj, _ := math.Lgamma(k + float64(j))
		lfj, _ := math.Lgamma(float64(j) + 1)
		below += math.Exp(lgkj - lg - lfj + k*math.Log(q) + float64(j)*math.Log1p(-q))
	}
	return pm.PAlive(x, tx, T) * math.Max(0, 1-below)
}

// PlanOptions are the inputs of `churn recommend`.
type PlanOptions struct {
	Budget float64  // currency units
	Tiers  []string // eligible risk tiers (default high, medium)
	// Uplift, when set, is learned from a campaign history; it replaces the
	// catalog prior of every perk it learned.
	Uplift *Uplift
	// ContactCost is the cost of one send for a perk whose catalog row has
	// none, by channel ("" for a perk without one).
	ContactCost map[string]float64
	// ControlShare is the share of each perk's customers held out as its
	// control group (default DefaultControlShare; a negative value, none).
	ControlShare *float64
}

// DefaultControlShare is recommend.control-share's default.
const DefaultControlShare = 0.10

// contactCost is the cost of sending perk p.
func (o PlanOptions) contactCost(p *Perk) float64 {
	if p.ContactCost >= 0 {
		return p.ContactCost
	}
	if v, ok := o.ContactCost[p.Channel]; ok {
		return v
	}
	return o.ContactCost[""]
}

// controlShare is the share of perk p's customers held out.
func (o PlanOptions) controlShare(p *Perk) float64 {
	if p.ControlShare >= 0 {
		return p.ControlShare
	}
	if o.ControlShare == nil {
		return DefaultControlShare
	}
	return math.Max(0, *o.ControlShare)
}

// IsControl is the control draw: deterministic from the as-of date and a
// hash of the customer id, independent of everything the plan knows of
// the customer, so re-runs hold out the same customers.
func IsControl(asOf, customerID string, share float64) bool {
	return share > 0 && float64(night.IDBucket("control:"+asOf+":"+customerID, 1_000_000)) < share*1e6
}

// PlanRow is one line of plan.csv.
type PlanRow struct {
	Customer int // index into the features
	Perk     *Perk
	Cost     float64 // expected cost of the perk and its contact
	Contact  float64 // of which the contact
	Uplift   float64
	Kept     float64 // uplift × CLV
	Value    float64 // Kept − Cost
	Arm      string  // treated, or control: held out, not sent, its budget not spent
	Reason   string
}

// PerkSummary is one perk's line of plan.json.
type PerkSummary struct {
	PerkID       string  `json:"perk_id"`
	Name         string  `json:"name"`
	Kind         string  `json:"kind"`
	Customers    int     `json:"customers"`   // treated
	Controls     int     `json:"controls"`    // held out of the perk
	WindowDays   int     `json:"window_days"` // valid_days: the window its effect is measured over
	ControlShare float64 `json:"control_share"`
	ContactCost  float64 `json:"contact_cost"`
	Capacity     int     `json:"capacity"` // −1 = unlimited
	Cost         float64 `json:"expected_cost"`
	Value        float64 `json:"expected_value"`
	UpliftSource string  `json:"uplift_source"`
	// Learned is what the campaign history said about the perk, when one was given.
	Learned *PerkUplift `json:"uplift_learned,omitempty"`
}

// Plan is plan.json: the totals of a perk plan.
type Plan struct {
	AsOf        string  `json:"as_of"`
	Currency    string  `json:"currency"`
	Budget      float64 `json:"budget"`
	BudgetUsed  float64 `json:"budget_used"`
	Objective   float64 `json:"expected_value"`
	Bound       float64 `json:"upper_bound"`
	GapPct      float64 `json:"optimality_gap_pct"`
	Eligible    int     `json:"eligible_customers"`
	Recommended int     `json:"customers_with_perk"` // treated
	Controls    int     `json:"controls"`
	// MinValue is the least expected net value of a perk given: one minor
	// unit of the currency.
	MinValue    float64       `json:"min_value"`
	Tiers       []string      `json:"tiers"`
	HorizonDays float64       `json:"horizon_days"`
	Perks       []PerkSummary `json:"perks"`
	Rows        []PlanRow     `json:"-"`
	// Curve is the expected value bought by each budget, from 0 to
	// Saturation, the budget past which no perk has positive value.
	Curve      []CurvePoint `json:"value_curve"`
	Saturation float64      `json:"saturation_budget"`
	// Baselines are the value of the rules a plan replaces, at the budget
	// the plan spends and under the same uplift.
	Baselines Baselines `json:"baselines"`
	noPerk    []string  // per customer offered a perk who gets none: why
}

// MakePlan chooses at most one perk per eligible customer under the budget
// and the perks' capacities, maximising uplift × CLV − expected cost.
func MakePlan(res *features.Result, scores []night.Score, meta night.ScoresMeta, mf *night.ModelFile, perks []Perk, opt PlanOptions) (*Plan, error) {
	if !(opt.Budget >= 0) {
		return nil, fmt.Errorf("%w: --budget must be an amount ≥ 0", warehouse.ErrOption)
	}
	if len(opt.Tiers) == 0 {
		opt.Tiers = []string{"high", "medium"}
	}
	pm, err := mf.PurchaseModel()
	if err != nil {
		return nil, err
	}
	unitDays := res.Unit.Days()
	plan := &Plan{AsOf: res.AsOf.Format("2006-01-02"), Currency: meta.Currency, Budget: opt.Budget, Tiers: opt.Tiers, HorizonDays: meta.HorizonDays}
	plan.MinValue = math.Pow10(-warehouse.CurrencyDecimals(meta.Currency))
	if meta.Currency == "" {
		plan.MinValue = 0.01
	}
	contact := make([]float64, len(perks))
	for k := range perks {
		contact[k] = opt.contactCost(&perks[k])
	}
	type detail struct{ cost, contact, uplift, kept float64 }
	// Per customer, for the reasons of those without a perk and for the
	// baselines: whether any perk was offered, and the cheapest offered
	// perk's and one drawn at random's (cost, value), worth it or not.
	offeredAny := make([]bool, len(res.Customers))
	cheapest := make([][2]float64, len(res.Customers))
	drawn := make([][2]float64, len(res.Customers))
	learned := opt.Uplift.table(perks)
	// Options are built per block of customers in parallel and joined in
	// customer order (which Allocate expects and then need not sort).
	workers := runtime.GOMAXPROCS(0)
	type block struct {
		opts     []model.Option
		details  []detail
		eligible int
		err      error
	}
	offered := func(c *features.Customer, s *night.Score, p *Perk) bool {
		return slices.Contains(opt.Tiers, s.Tier) && (len(p.Segments) == 0 || slices.Contains(p.Segments, c.Segment)) &&
			int64(c.Orders) >= p.MinOrders && s.CLV >= p.MinCLV
	}
	span := func(wk int) (int, int) {
		return wk * len(res.Customers) / workers, (wk + 1) * len(res.Customers) / workers
	}
	// Count each block's options first, so that every block writes its
	// own part of one slice (growing the slices copied millions of options
	// over and over).
	counts := make([]int, workers+1)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			lo, hi := span(wk)
			for i := lo; i < hi; i++ {
				for k := range perks {
					if offered(&res.Customers[i], &scores[i], &perks[k]) {
						counts[wk+1]++
					}
				}
			}
		}(wk)
	}
	wg.Wait()
	for wk := 1; wk <= workers; wk++ {
		counts[wk] += counts[wk-1]
	}
	opts := make([]model.Option, counts[workers])
	details := make([]detail, counts[workers]) // parallel to opts
	blocks := make([]block, workers)
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			bl := &blocks[wk]
			lo, hi := span(wk)
			bl.opts, bl.details = opts[counts[wk]:counts[wk]:counts[wk+1]], details[counts[wk]:counts[wk]:counts[wk+1]]
			for i := lo; i < hi; i++ {
				c := &res.Customers[i]
				s := &scores[i]
				any, nOffered := false, 0
				for k := range perks {
					p := &perks[k]
					if !offered(c, s, p) {
						continue
					}
					any = true
					nOffered++
					up := p.Uplift
					if v, ok := p.SegmentUplift[c.Segment]; ok {
						up = v
					}
					if learned[k].ok {
						up = learned[k].of(c)
					}
					cost := expectedCost(p, pm, c, s, unitDays) + contact[k]
					kept := up * s.CLV
					if math.IsNaN(cost) || math.IsInf(cost, 0) {
						bl.err = fmt.Errorf("expected cost of perk %s for customer %q is %v: please report this", p.ID, c.CustomerID, cost)
						return
					}
					if nOffered == 1 || cost < cheapest[i][0] {
						cheapest[i] = [2]float64{cost, kept - cost}
					}
					// Reservoir sampling of one offered perk, by a hash: the same every run.
					if mix64(uint64(i)<<8|uint64(nOffered))%uint64(nOffered) == 0 {
						drawn[i] = [2]float64{cost, kept - cost}
					}
					if kept-cost < plan.MinValue {
						continue // not worth one minor unit: never "€0.00 of value for €0.00"
					}
					bl.opts = append(bl.opts, model.Option{Customer: int32(i), Perk: int32(k), Value: kept - cost, Cost: cost})
					bl.details = append(bl.details, detail{cost, contact[k], up, kept})
				}
				if any {
					bl.eligible++
					offeredAny[i] = true
				}
			}
		}(wk)
	}
	wg.Wait()
	eligible := 0
	for _, bl := range blocks {
		if bl.err != nil {
			return nil, bl.err
		}
		eligible += bl.eligible
	}
	plan.Eligible = eligible
	capacity := make([]int, len(perks))
	for k := range perks {
		capacity[k] = perks[k].Capacity
	}
	al := model.Allocate(opts, len(res.Customers), opt.Budget, capacity)
	plan.BudgetUsed, plan.Objective, plan.Bound, plan.GapPct = al.Cost, al.Objective, al.Bound, 100*al.Gap
	sums := make([]PerkSummary, len(perks))
	for k := range perks {
		p := &perks[k]
		src := "catalog prior"
		if len(p.SegmentUplift) > 0 {
			src = "catalog prior, per segment"
		}
		sums[k] = PerkSummary{PerkID: p.ID, Name: p.Name, Kind: p.Kind, Capacity: p.Capacity, UpliftSource: src,
			ControlShare: opt.controlShare(p), ContactCost: contact[k], WindowDays: p.ValidDays}
		if opt.Uplift != nil {
			for i := range opt.Uplift.Perks {
				if pu := &opt.Uplift.Perks[i]; pu.PerkID == p.ID {
					sums[k].Learned = pu
					if pu.Learned && pu.PerCustomer != nil && pu.PerCustomer.Used {
						sums[k].UpliftSource = fmt.Sprintf("learned from %d sends: %s", pu.Sends, pu.PerCustomer.Reason)
					} else if pu.Learned {
						sums[k].UpliftSource = fmt.Sprintf("learned from %d sends: per segment, shrunk toward the perk-wide %.4f (Qini %.4f on %d held-out sends)",
							pu.Sends, pu.Overall, pu.Qini, pu.HeldOut)
						if pu.PerCustomer != nil {
							sums[k].UpliftSource += "; " + pu.PerCustomer.Reason
						}
					} else if pu.Sends == 0 {
						sums[k].UpliftSource = src + " (not in the campaign history)"
					} else {
						sums[k].UpliftSource = fmt.Sprintf("%s (the history has %d sends of it, too few to learn from)", src, pu.Sends)
					}
				}
			}
		}
	}
	sym := currencySymbol(meta.Currency)
	phrases := make([]string, len(perks))
	for k := range perks {
		phrases[k] = perkPhrase(&perks[k])
	}
	buf := make([]byte, 0, 256)
	plan.Rows = make([]PlanRow, 0, len(al.Choice)/2)
	for i, j := range al.Choice {
		if j < 0 {
			continue
		}
		o := opts[j]
		p := &perks[o.Perk]
		d := details[j]
		c := &res.Customers[i]
		row := PlanRow{Customer: i, Perk: p, Cost: d.cost, Contact: d.contact, Uplift: d.uplift, Kept: d.kept, Value: o.Value, Arm: "treated"}
		row.Reason = reason(buf[:0], c, scores[i].ChurnRisk, meta.HorizonDays, phrases[o.Perk], sym, d.kept, d.cost, d.contact)
		if IsControl(plan.AsOf, c.CustomerID, sums[o.Perk].ControlShare) {
			// Held out: not sent, so its cost is not spent and its value not
			// counted; its outcome measures the perk's effect.
			row.Arm = "control"
			row.Reason = "control group of " + p.ID + ": held out so the perk's effect can be measured; " + row.Reason
			plan.BudgetUsed -= d.cost
			plan.Objective -= o.Value
			sums[o.Perk].Controls++
			plan.Controls++
		} else {
			sums[o.Perk].Customers++
			sums[o.Perk].Cost += d.cost
			sums[o.Perk].Value += o.Value
			plan.Recommended++
		}
		plan.Rows = append(plan.Rows, row)
	}
	plan.Perks = sums
	// The reasons, the baselines and the curve, side by side.
	var side sync.WaitGroup
	side.Add(2)
	go func() {
		defer side.Done()
		plan.noPerk = noPerkReasons(opts, al, offeredAny, plan)
	}()
	go func() {
		defer side.Done()
		plan.Baselines = baselines(scores, offeredAny, cheapest, drawn, al.Cost, al.Objective)
	}()
	uplift := make([]float64, len(details))
	for j := range details {
		uplift[j] = details[j].uplift
	}
	plan.Curve, plan.Saturation = valueCurve(opts, uplift, opt.Budget)
	side.Wait()
	return plan, nil
}

// reason is the plan row's sentence, e.g. "At Risk, 4 orders, last 97 days
// ago, 81 % risk of no purchase in 90 days: a 15 % discount (…) is expected
// to keep $3.40 of value for $0.68", appended to buf (a million of them are
// built per plan, so without fmt).
func reason(buf []byte, c *features.Customer, risk, horizonDays float64, phrase, sym string, kept, cost, contact float64) string {
	buf = append(buf, c.Segment...)
	buf = append(buf, ", "...)
	buf = strconv.AppendInt(buf, int64(c.Orders), 10)
	if c.Orders == 1 {
		buf = append(buf, " order, last "...)
	} else {
		buf = append(buf, " orders, last "...)
	}
	buf = strconv.AppendInt(buf, int64(c.DaysSinceLast), 10)
	buf = append(buf, " days ago, "...)
	buf = strconv.AppendFloat(buf, 100*risk, 'f', 0, 64)
	buf = append(buf, " % risk of no purchase in "...)
	buf = strconv.AppendFloat(buf, horizonDays, 'f', 0, 64)
	buf = append(buf, " days: "...)
	buf = append(buf, phrase...)
	buf = append(buf, " is expected to keep "...)
	buf = append(buf, sym...)
	buf = strconv.AppendFloat(buf, kept, 'f', 2, 64)
	buf = append(buf, " of value for "...)
	buf = append(buf, sym...)
	buf = strconv.AppendFloat(buf, cost, 'f', 2, 64)
	if contact > 0 {
		buf = append(buf, " (contact "...)
		buf = append(buf, sym...)
		buf = strconv.AppendFloat(buf, contact, 'f', 2, 64)
		buf = append(buf, " included)"...)
	}
	buf = append(buf, ", a net "...)
	buf = append(buf, sym...)
	buf = strconv.AppendFloat(buf, kept-cost, 'f', 2, 64)
	return string(buf)
}

// perkPhrase names a perk in a sentence: "a 20 % discount", "Double points".
func perkPhrase(p *Perk) string {
	if p.Kind == "discount" && p.DiscountPct > 0 {
		return fmt.Sprintf("a %g %% discount (%s)", p.DiscountPct, p.Name)
	}
	return p.Name
}

// currencySymbol is the sign people write before an amount.
func currencySymbol(code string) string {
	switch strings.ToUpper(code) {
	case "USD":
		return "$"
	case "EUR":
		return "€"
	case "GBP":
		return "£"
	case "JPY":
		return "¥"
	case "":
		return ""
	}
	return strings.ToUpper(code) + " "
}

// Recommendations turns a plan into one entry per customer for the exports.
func (p *Plan) Recommendations(customers int) []Recommendation {
	recs := make([]Recommendation, customers)
	for i, why := range p.noPerk {
		recs[i].NoPerkReason = why // "" for the others
	}
	for _, r := range p.Rows {
		if r.Arm == "control" { // not to be sent: the feed shows no perk, and the arm
			recs[r.Customer] = Recommendation{Arm: r.Arm, Reason: r.Reason, NoPerkReason: "control: held out of " + r.Perk.ID}
			continue
		}
		recs[r.Customer] = Recommendation{PerkID: r.Perk.ID, Arm: r.Arm, Reason: r.Reason}
	}
	return recs
}

// WritePlan writes plan.csv and plan.json into dir.
func WritePlan(dir string, res *features.Result, plan *Plan, excel bool) error {
	dec := 2
	if plan.Currency != "" {
		dec = warehouse.CurrencyDecimals(plan.Currency)
	}
	m := func(v float64) string { return strconv.FormatFloat(v, 'f', dec, 64) }
	err := sheet.WriteCSV(filepath.Join(dir, "plan.csv"), excel, func(w *sheet.SafeCSVWriter) error {
		if err := w.Write([]string{"customer_id", "perk_id", "perk_name", "kind", "expected_cost", "expected_uplift", "expected_value", "reason",
			"arm", "contact_cost"}); err != nil {
			return err
		}
		for _, r := range plan.Rows {
			if err := w.Write([]string{res.Customers[r.Customer].CustomerID, r.Perk.ID, r.Perk.Name, r.Perk.Kind, m(r.Cost),
				strconv.FormatFloat(r.Uplift, 'f', 4, 64), m(r.Value), r.Reason, r.Arm, m(r.Contact)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := WriteCampaign(dir, res, plan, excel); err != nil {
		return err
	}
	return warehouse.WriteJSON(filepath.Join(dir, "plan.json"), plan)
}

// WriteCampaign writes campaign.csv: the plan's sends and controls in the
// campaign history's form (customer_id, perk_id, arm, sent_at), sent_at
// the day after the as-of date, when the plan's sends go out. Appended to
// the history, the next night's --history measures each perk against its
// own controls.
func WriteCampaign(dir string, res *features.Result, plan *Plan, excel bool) error {
	sent := res.AsOf.AddDate(0, 0, 1).Format(time.DateOnly)
	return sheet.WriteCSV(filepath.Join(dir, "campaign.csv"), excel, func(w *sheet.SafeCSVWriter) error {
		if err := w.Write([]string{"customer_id", "perk_id", "arm", "sent_at"}); err != nil {
			return err
		}
		for _, r := range plan.Rows {
			if err := w.Write([]string{res.Customers[r.Customer].CustomerID, r.Perk.ID, r.Arm, sent}); err != nil {
				return err
			}
		}
		return nil
	})
}

// Recommendation is the perk chosen for one customer ("" for none), and
// its arm: treated, control (held out of a perk: no perk sent), or "".
type Recommendation struct {
	PerkID string
	Arm    string
	Reason string
	// NoPerkReason says why a customer offered a perk gets none.
	NoPerkReason string
}
