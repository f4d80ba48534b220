package perkplan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// ErrCampaigns is a bad campaign history: the message names the line and column.
var ErrCampaigns = errors.New("campaign history")

// Campaign is one row of the campaign history (--history): a perk sent
// to a customer on a day, or a customer held out of it (a control).
type Campaign struct {
	CustomerID string
	// PerkID is the perk sent, or for a control the perk it was held out
	// of; "control" for a control of the old form, pooled across perks.
	PerkID  string
	Control bool
	SentDay int32 // features.DayOf numbering, in the reporting time zone
	Line    int
}

// pooled reports a control of the old form, held out of no perk in particular.
func (c *Campaign) pooled() bool { return c.Control && c.PerkID == "control" }

// ReadCampaigns reads a campaign history CSV with the columns customer_id,
// perk_id, sent_at (YYYY-MM-DD, or an RFC 3339 instant taken as a day in
// loc) and, optionally, arm: treated or control, a control naming the perk
// it was held out of (as campaign.csv writes them). Without arm, perk_id
// "control" (any case) marks a control of no particular perk. Ids written
// spreadsheet-safe by churn ("'=x") read back exactly.
func ReadCampaigns(path string, loc *time.Location) ([]Campaign, error) {
	var out []Campaign
	err := sheet.EachRow(path, ErrCampaigns, []string{"customer_id", "perk_id", "sent_at"}, nil, func(row sheet.Row) error {
		c := Campaign{CustomerID: sheet.RestoreCell(row.Get("customer_id")), PerkID: sheet.RestoreCell(row.Get("perk_id")), Line: row.Line}
		switch arm := strings.ToLower(row.Get("arm")); arm {
		case "", "treated":
		case "control":
			c.Control = true
		default:
			return fmt.Errorf("%w %s line %d, column arm: %q is not treated or control", ErrCampaigns, path, row.Line, arm)
		}
		if strings.EqualFold(c.PerkID, "control") {
			c.PerkID, c.Control = "control", true
		}
		if c.CustomerID == "" || c.PerkID == "" {
			return fmt.Errorf("%w %s line %d: customer_id and perk_id must not be empty", ErrCampaigns, path, row.Line)
		}
		s := row.Get("sent_at")
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("%w %s line %d, column sent_at: %q is not a date (YYYY-MM-DD) or an RFC 3339 time", ErrCampaigns, path, row.Line, s)
			}
		}
		c.SentDay = features.DayOf(t.UnixMicro(), loc)
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w %s: no rows", ErrCampaigns, path)
	}
	return out, nil
}

// UpliftEstimate is one line of uplift.csv: the uplift of a perk on the
// probability of a purchase within its window, for one group of customers
// (their RFM segment on the day before the send, or "all").
type UpliftEstimate struct {
	PerkID      string
	Group       string
	Treated     int     // customers sent the perk
	Control     int     // control customers
	TreatedRate float64 // share with a purchase in the window
	ControlRate float64
	Raw         float64 // TreatedRate − ControlRate
	StdErr      float64 // of Raw
	Weight      float64 // of Raw in the shrunk estimate; the rest is the perk-wide estimate
	Uplift      float64 // the shrunk estimate, clamped to [0, 1] for the plan
	CILow       float64 // 95 % interval of the shrunk estimate (before clamping)
	CIHigh      float64
}

// PerkUplift is what the history says about one perk.
type PerkUplift struct {
	PerkID     string  `json:"perk_id"`
	Sends      int     `json:"sends"`
	Learned    bool    `json:"learned"` // enough sends and controls to replace the catalog prior
	Overall    float64 `json:"uplift_all"`
	OverallSE  float64 `json:"uplift_all_std_err"`
	Tau        float64 `json:"between_group_sd"` // spread of the true uplift across groups, estimated
	Qini       float64 `json:"qini"`             // on the held-out customers; NaN-free: 0 when there are none
	AUUC       float64 `json:"auuc"`
	HeldOut    int     `json:"held_out_sends"`
	WindowDays int     `json:"window_days"`
	// PerCustomer is the T-learner's comparison with the segment estimate,
	// when the history has enough of the perk to fit it.
	PerCustomer *PerCustomerUplift `json:"per_customer,omitempty"`
	// OwnControls is true when the perk was measured against the customers
	// held out of it (the history's arm column); false, against the
	// pooled controls.
	OwnControls bool `json:"own_controls"`
}

// Uplift is the uplift learned from a campaign history.
type Uplift struct {
	Perks     []PerkUplift     `json:"perks"`
	Estimates []UpliftEstimate `json:"-"`
	Rows      int              `json:"rows"`
	// Skipped counts history rows not used, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// UpliftOptions tune the estimation.
type UpliftOptions struct {
	// MinSends is the number of sends and of controls a perk needs before its
	// learned uplift replaces the catalog prior; default 100.
	MinSends int
}

// maxSendDays bounds the distinct send days: each costs one features pass.
const maxSendDays = 60

// heldOut puts three customers in ten into the evaluation part, by a hash
// of the id.
func heldOut(id string) bool { return night.IDBucket("uplift:"+id, 10) < 3 }

type outcome struct {
	perk     string // sent, or held out of ("control": pooled)
	control  bool
	x        [nUpliftInputs]float64 // the customer's features the day before the send
	group    string
	firstIn  int64 // days from the day before the send to the first purchase after it; 0 = none
	observed int64 // days after the day before the send that the warehouse covers up to the as-of date
	held     bool
}

// EstimateUplift measures each catalog perk's uplift from a campaign
// history: a customer's outcome is a purchase within the perk's window
// (valid_days) from the send day, the send day included, taken from the
// warehouse; controls are measured over each perk's window. Customers are
// grouped by their RFM segment on the day before the send. Per perk and
// group the uplift is the difference of the purchase rates, shrunk toward
// the perk-wide difference by its precision (normal–normal empirical
// Bayes); seven customers in ten estimate, three in ten measure the
// estimates' ranking with Qini and AUUC, then all estimate the final values.
func EstimateUplift(ctx context.Context, w *warehouse.Warehouse, fo night.FeaturesOptions, history []Campaign, perks []Perk, opt UpliftOptions) (*Uplift, error) {
	if opt.MinSends == 0 {
		opt.MinSends = 100
	}
	window := map[string]int{}
	maxWindow := 0
	for _, p := range perks {
		window[p.ID] = p.ValidDays
		maxWindow = max(maxWindow, p.ValidDays)
	}
	up := &Uplift{Rows: len(history), Skipped: map[string]int{}}
	days := map[int32][]int{}
	for i, c := range history {
		if !c.pooled() && window[c.PerkID] == 0 {
			up.Skipped["perk not in the catalog"]++
			continue
		}
		days[c.SentDay] = append(days[c.SentDay], i)
	}
	if len(days) > maxSendDays {
		return nil, fmt.Errorf("%w: %d distinct send days; churn groups customers by their segment on the day before each send and handles at most %d", ErrCampaigns, len(days), maxSendDays)
	}
	sendDays := make([]int32, 0, len(days))
	for d := range days {
		sendDays = append(sendDays, d)
	}
	slices.Sort(sendDays)
	var outs []outcome
	for _, d := range sendDays {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := fo
		f.AsOf = time.Unix(int64(d-1)*86400, 0).UTC() // the day before the send
		f.HoldoutEnd = f.AsOf.AddDate(0, 0, maxWindow)
		if f.HoldoutEnd.After(fo.AsOf) {
			f.HoldoutEnd = fo.AsOf // windows not over yet are not used (below)
		}
		observed := int64(f.HoldoutEnd.Sub(f.AsOf).Hours() / 24)
		res, err := night.ComputeFeatures(ctx, w, f)
		if err != nil {
			return nil, err
		}
		for _, i := range days[d] {
			c := history[i]
			k, ok := sort.Find(len(res.Customers), func(j int) int { return strings.Compare(c.CustomerID, res.Customers[j].CustomerID) })
			if !ok {
				up.Skipped["no purchase before the send"]++
				continue
			}
			cu := &res.Customers[k]
			if !c.pooled() && observed < int64(window[c.PerkID]) {
				up.Skipped["window not over at the as-of date"]++
				continue
			}
			outs = append(outs, outcome{perk: c.PerkID, control: c.Control, x: upliftRow(cu), group: cu.Segment, firstIn: int64(cu.HoldoutFirst), observed: observed, held: heldOut(c.CustomerID)})
		}
	}
	// A perk with controls of its own is measured against them alone; one
	// without, against the pooled controls of the old form.
	own := map[string]bool{}
	for i := range outs {
		if outs[i].control && outs[i].perk != "control" {
			own[outs[i].perk] = true
		}
	}
	for _, p := range perks {
		pu := PerkUplift{PerkID: p.ID, WindowDays: p.ValidDays, OwnControls: own[p.ID]}
		train := estimatePerk(outs, p.ID, own[p.ID], p.ValidDays, func(o *outcome) bool { return !o.held })
		pu.Qini, pu.AUUC, pu.HeldOut = qini(outs, p.ID, own[p.ID], p.ValidDays, train)
		all := estimatePerk(outs, p.ID, own[p.ID], p.ValidDays, func(*outcome) bool { return true })
		pu.Sends, pu.Overall, pu.OverallSE, pu.Tau = all.overall.Treated, all.overall.Raw, all.overall.StdErr, all.tau
		pu.Learned = all.overall.Treated >= opt.MinSends && all.overall.Control >= opt.MinSends
		if pu.Learned {
			if ch := fitCustomerModel(outs, p.ID, own[p.ID], p.ValidDays, train); ch != nil {
				pu.PerCustomer = &PerCustomerUplift{Model: ch.model, Qini: ch.qini, QiniCI: ch.qiniCI, AUUC: ch.auuc, AUUCCI: ch.auucCI,
					SegmentQini: ch.segQini, SegmentQiniCI: ch.segQiniCI, SegmentAUUC: ch.segAUUC, SegmentAUUCCI: ch.segAUUCCI,
					DifferenceCI: ch.diffCI, Used: ch.use}
				pu.PerCustomer.Reason = ch.reason()
			}
		}
		up.Perks = append(up.Perks, pu)
		if all.overall.Treated > 0 {
			up.Estimates = append(up.Estimates, all.overall)
			for _, g := range all.order {
				up.Estimates = append(up.Estimates, *all.groups[g])
			}
		}
	}
	return up, nil
}

type perkEstimate struct {
	overall UpliftEstimate
	groups  map[string]*UpliftEstimate
	order   []string
	tau     float64
}

// role is whether outcome o is a treated customer or a control of perk,
// whose controls are its own (own) or the pooled ones.
func (o *outcome) role(perk string, own bool) (treated, control bool) {
	if !o.control {
		return o.perk == perk, false
	}
	if own {
		return false, o.perk == perk
	}
	return false, o.perk == "control"
}

// estimatePerk estimates one perk's uplift overall and per group from the
// outcomes that keep accepts.
func estimatePerk(outs []outcome, perk string, own bool, windowDays int, keep func(*outcome) bool) perkEstimate {
	pe := perkEstimate{overall: UpliftEstimate{PerkID: perk, Group: "all"}, groups: map[string]*UpliftEstimate{}}
	type counts struct{ nt, yt, nc, yc int }
	byGroup := map[string]*counts{}
	var all counts
	for i := range outs {
		o := &outs[i]
		treated, control := o.role(perk, own)
		if !(treated || control) || !keep(o) || o.observed < int64(windowDays) {
			continue
		}
		c := byGroup[o.group]
		if c == nil {
			c = &counts{}
			byGroup[o.group] = c
		}
		y := o.firstIn >= 1 && o.firstIn <= int64(windowDays)
		for _, c := range []*counts{c, &all} {
			if treated {
				c.nt++
				if y {
					c.yt++
				}
			} else {
				c.nc++
				if y {
					c.yc++
				}
			}
		}
	}
	fill := func(e *UpliftEstimate, c counts) {
		e.Treated, e.Control = c.nt, c.nc
		if c.nt == 0 || c.nc == 0 {
			return
		}
		e.TreatedRate, e.ControlRate = float64(c.yt)/float64(c.nt), float64(c.yc)/float64(c.nc)
		e.Raw = e.TreatedRate - e.ControlRate
		// The variance of a rate of 0 or 1 is not 0: a rate is never known
		// better than one success in n+2 (the Agresti–Caffo adjustment).
		v := func(y, n int) float64 { p := (float64(y) + 1) / (float64(n) + 2); return p * (1 - p) / float64(n) }
		e.StdErr = math.Sqrt(v(c.yt, c.nt) + v(c.yc, c.nc))
	}
	fill(&pe.overall, all)
	pe.overall.Weight, pe.overall.Uplift = 1, pe.overall.Raw
	pe.overall.CILow, pe.overall.CIHigh = pe.overall.Raw-1.96*pe.overall.StdErr, pe.overall.Raw+1.96*pe.overall.StdErr
	for g, c := range byGroup {
		e := &UpliftEstimate{PerkID: perk, Group: g}
		fill(e, *c)
		pe.groups[g] = e
		pe.order = append(pe.order, g)
	}
	sort.Strings(pe.order)
	// τ², the variance of the true group uplifts, by the method of moments:
	// the spread of the raw estimates less their sampling variance.
	var sum, sumSq, sumVar float64
	n := 0
	for _, e := range pe.groups {
		if e.Treated > 0 && e.Control > 0 {
			sum += e.Raw
			sumSq += e.Raw * e.Raw
			sumVar += e.StdErr * e.StdErr
			n++
		}
	}
	tau2 := 0.0
	if n > 1 {
		mean := sum / float64(n)
		tau2 = math.Max(0, (sumSq-float64(n)*mean*mean)/float64(n-1)-sumVar/float64(n))
	}
	pe.tau = math.Sqrt(tau2)
	for _, e := range pe.groups {
		if e.Treated == 0 || e.Control == 0 {
			e.Weight, e.Uplift = 0, pe.overall.Raw
			e.CILow, e.CIHigh = pe.overall.CILow, pe.overall.CIHigh
			continue
		}
		se2 := e.StdErr * e.StdErr
		e.Weight = tau2 / (tau2 + se2)
		e.Uplift = e.Weight*e.Raw + (1-e.Weight)*pe.overall.Raw
		sd := math.Sqrt(e.Weight*se2 + (1-e.Weight)*(1-e.Weight)*pe.overall.StdErr*pe.overall.StdErr)
		e.CILow, e.CIHigh = e.Uplift-1.96*sd, e.Uplift+1.96*sd
	}
	return pe
}

// qini ranks the held-out sends and controls of a perk by the uplift
// estimated without them (their group's) and returns the Qini coefficient
// and the AUUC. The Qini curve at the top n customers is
// Y_t(n) − Y_c(n)·N_t(n)/N_c(n), the incremental purchases; AUUC is its mean
// over the ranking per treated customer, and the Qini coefficient is AUUC
// less that of a random ranking (the straight line to the same end point).
// Groups tie, so the curve moves a group at a time.
func qini(outs []outcome, perk string, own bool, windowDays int, est perkEstimate) (float64, float64, int) {
	type grp struct {
		score          float64
		nt, yt, nc, yc float64
	}
	gs := map[string]*grp{}
	held := 0
	for i := range outs {
		o := &outs[i]
		treated, control := o.role(perk, own)
		if !o.held || !(treated || control) || o.observed < int64(windowDays) {
			continue
		}
		g := gs[o.group]
		if g == nil {
			s := est.overall.Raw
			if e, ok := est.groups[o.group]; ok {
				s = e.Uplift
			}
			g = &grp{score: s}
			gs[o.group] = g
		}
		y := 0.0
		if o.firstIn >= 1 && o.firstIn <= int64(windowDays) {
			y = 1
		}
		if treated {
			g.nt++
			g.yt += y
			held++
		} else {
			g.nc++
			g.yc += y
		}
	}
	list := make([]*grp, 0, len(gs))
	names := make([]string, 0, len(gs))
	for n := range gs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		list = append(list, gs[n])
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].score > list[j].score })
	var nt, yt, nc, yc, area, total float64
	for _, g := range list {
		total += g.nt + g.nc
	}
	if total == 0 {
		return 0, 0, 0
	}
	curve := func() float64 {
		if nc == 0 {
			return 0
		}
		return yt - yc*nt/nc
	}
	// Trapezoids over the customers ranked; within a group the curve is
	// taken as linear.
	prev := 0.0
	for _, g := range list {
		nt, yt, nc, yc = nt+g.nt, yt+g.yt, nc+g.nc, yc+g.yc
		q := curve()
		area += (prev + q) / 2 * (g.nt + g.nc)
		prev = q
	}
	if nt == 0 {
		return 0, 0, 0
	}
	auuc := area / total / nt
	random := prev / 2 / nt
	return auuc - random, auuc, held
}

// learnedUplift is what the plan uses of a perk's learned uplift: per
// segment, the perk-wide value for segments the history did not have.
type learnedUplift struct {
	ok        bool // the history learned this perk
	overall   float64
	bySegment map[string]float64
	customer  *CustomerModel // per customer, where it beat the segments
}

// table returns, per catalog perk, its learned uplift clamped to [0, 1];
// built once per plan, so the per-option lookup is one map access.
func (u *Uplift) table(perks []Perk) []learnedUplift {
	out := make([]learnedUplift, len(perks))
	if u == nil {
		return out
	}
	clamp := func(v float64) float64 { return math.Min(1, math.Max(0, v)) }
	for k, p := range perks {
		for _, pu := range u.Perks {
			if pu.PerkID == p.ID && pu.Learned {
				out[k] = learnedUplift{ok: true, overall: clamp(pu.Overall), bySegment: map[string]float64{}}
				if pu.PerCustomer != nil && pu.PerCustomer.Used {
					out[k].customer = pu.PerCustomer.Model
				}
			}
		}
		if !out[k].ok {
			continue
		}
		for _, e := range u.Estimates {
			if e.PerkID == p.ID && e.Group != "all" {
				out[k].bySegment[e.Group] = clamp(e.Uplift)
			}
		}
	}
	return out
}

func (l learnedUplift) of(c *features.Customer) float64 {
	if l.customer != nil {
		return l.customer.uplift(c)
	}
	segment := c.Segment
	if v, ok := l.bySegment[segment]; ok {
		return v
	}
	return l.overall
}

// LearnUplift reads the campaign history at path and estimates the uplift
// of the catalog's perks up to fo.AsOf; it returns nil for no path.
func LearnUplift(ctx context.Context, w *warehouse.Warehouse, fo night.FeaturesOptions, path string, perks []Perk) (*Uplift, error) {
	if path == "" {
		return nil, nil
	}
	loc, err := night.ReportingZone(fo.Timezone)
	if err != nil {
		return nil, err
	}
	history, err := ReadCampaigns(path, loc)
	if err != nil {
		return nil, err
	}
	return EstimateUplift(ctx, w, fo, history, perks, UpliftOptions{})
}

// WriteUplift writes uplift.csv into dir.
func WriteUplift(dir string, u *Uplift) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	return sheet.WriteCSV(filepath.Join(dir, "uplift.csv"), false, func(w *sheet.SafeCSVWriter) error {
		if err := w.Write([]string{"perk_id", "group", "treated", "control", "treated_rate", "control_rate", "uplift_raw", "std_err",
			"weight", "uplift", "ci_low", "ci_high", "used_by_plan"}); err != nil {
			return err
		}
		learned := map[string]bool{}
		for _, p := range u.Perks {
			learned[p.PerkID] = p.Learned
		}
		for _, e := range u.Estimates {
			used := "no: catalog prior (too few sends)"
			if learned[e.PerkID] {
				used = "yes"
			}
			if err := w.Write([]string{e.PerkID, e.Group, strconv.Itoa(e.Treated), strconv.Itoa(e.Control), f(e.TreatedRate), f(e.ControlRate),
				f(e.Raw), f(e.StdErr), f(e.Weight), f(e.Uplift), f(e.CILow), f(e.CIHigh), used}); err != nil {
				return err
			}
		}
		return nil
	})
}

// PerCustomerUplift is plan.json's record of a perk's per-customer uplift
// model against its segment estimate, on the held-out customers, with
// 95 % Poisson-bootstrap bands.
type PerCustomerUplift struct {
	Model         *CustomerModel `json:"model"`
	Qini          float64        `json:"qini"`
	QiniCI        [2]float64     `json:"qini_ci95"`
	AUUC          float64        `json:"auuc"`
	AUUCCI        [2]float64     `json:"auuc_ci95"`
	SegmentQini   float64        `json:"segment_qini"`
	SegmentQiniCI [2]float64     `json:"segment_qini_ci95"`
	SegmentAUUC   float64        `json:"segment_auuc"`
	SegmentAUUCCI [2]float64     `json:"segment_auuc_ci95"`
	// DifferenceCI is the band of Qini − segment Qini, paired.
	DifferenceCI [2]float64 `json:"difference_ci95"`
	Used         bool       `json:"used"`
	Reason       string     `json:"reason"`
}

func (ch *customerChoice) reason() string {
	switch {
	case ch.use:
		return fmt.Sprintf("per customer: its held-out Qini %.4f [%.4f, %.4f] beats the segments' %.4f (difference [%.4f, %.4f] above 0)",
			ch.qini, ch.qiniCI[0], ch.qiniCI[1], ch.segQini, ch.diffCI[0], ch.diffCI[1])
	case ch.qiniCI[0] <= 0:
		return fmt.Sprintf("per segment: the per-customer model's held-out Qini %.4f has a band [%.4f, %.4f] that does not exclude 0", ch.qini, ch.qiniCI[0], ch.qiniCI[1])
	default:
		return fmt.Sprintf("per segment: the per-customer model's held-out Qini %.4f does not beat the segments' %.4f beyond noise (difference [%.4f, %.4f])",
			ch.qini, ch.segQini, ch.diffCI[0], ch.diffCI[1])
	}
}
