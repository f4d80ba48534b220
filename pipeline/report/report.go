// Package report draws a run's report.html: from the summaries a run
// keeps in memory, or, for churn report, from the run's files.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ReportData is what report.html shows; everything is read from the files
// of a run directory, so `churn report` can redraw any past run.
type ReportData struct {
	AsOf        string
	Version     string   // of churn, as the run recorded it
	Warnings    []string // the run's warnings (run.json)
	Scores      *night.ScoresMeta
	Model       *night.ModelFile
	Backtest    *night.Backtest
	Plan        *perkplan.Plan
	Quality     QualitySummary
	Segments    []NameCount
	Tiers       []NameCount
	TopAtRisk   [][]string // customer, segment, churn risk, CLV, perk, reason
	Charts      map[string]template.HTML
	ChartTitles []string
}

// NameCount is a labelled count.
type NameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// QualitySummary is the warehouse's ingest totals and rejected rows by reason.
type QualitySummary struct {
	Files      int64       `json:"files"`
	RowsRead   int64       `json:"rows_read"`
	Accepted   int64       `json:"rows_accepted"`
	Rejected   int64       `json:"rows_rejected"`
	Duplicates int64       `json:"rows_duplicate"`
	ByReason   []NameCount `json:"rejected_by_reason"`
}

// LoadReportData reads a run directory (and, for a run without run.json,
// the warehouse's manifest and quarantine for data quality).
func LoadReportData(w *warehouse.Warehouse, runDir string) (*ReportData, error) {
	d := &ReportData{AsOf: filepath.Base(runDir), Charts: map[string]template.HTML{}}
	var err error
	if d.Scores, err = night.ReadScoresMeta(runDir); err != nil {
		return nil, fmt.Errorf("%w (run churn score or churn run first)", err)
	}
	if d.Model, err = warehouse.ReadJSONFile[night.ModelFile](filepath.Join(runDir, "model.json")); err == nil && d.Model == nil {
		err = fmt.Errorf("%s has no model.json: run churn fit (or churn run) first", runDir)
	}
	if err != nil {
		return nil, err
	}
	if d.Backtest, err = warehouse.ReadJSONFile[night.Backtest](filepath.Join(runDir, "backtest.json")); err != nil {
		return nil, err
	}
	if d.Plan, err = warehouse.ReadJSONFile[perkplan.Plan](filepath.Join(runDir, "plan.json")); err != nil {
		return nil, err
	}
	// What the report shows of run.json: the version, and data quality as
	// the run recorded it (or from the warehouse now).
	type runRecord struct {
		Version  string          `json:"version"`
		Quality  *QualitySummary `json:"data_quality"`
		Warnings []string        `json:"warnings"`
	}
	run, err := warehouse.ReadJSONFile[runRecord](filepath.Join(runDir, "run.json"))
	if err != nil {
		return nil, err
	}
	if run != nil {
		d.Version, d.Warnings = run.Version, run.Warnings
	}
	if run != nil && run.Quality != nil {
		d.Quality = *run.Quality
	} else {
		q, err := WarehouseQuality(w)
		if err != nil {
			return nil, err
		}
		d.Quality = *q
	}
	// Per customer from the CRM feed.
	reasons := map[string]string{}
	if d.Plan != nil {
		if err := sheet.EachRow(filepath.Join(runDir, "plan.csv"), sheet.ErrRunFile, []string{"customer_id", "reason"}, nil, func(row sheet.Row) error {
			reasons[row.Get("customer_id")] = row.Get("reason")
			return nil
		}); err != nil {
			return nil, err
		}
	}
	t := NewReportTally()
	crm := []string{"customer_id", "rfm_segment", "risk_tier", "churn_risk", "clv", "recommended_perk"}
	err = sheet.EachRow(filepath.Join(runDir, "exports", "crm_scores.csv"), sheet.ErrRunFile, crm, nil, func(row sheet.Row) error {
		clv, _ := strconv.ParseFloat(row.Get("clv"), 64)
		id := row.Get("customer_id")
		t.Add(id, row.Get("rfm_segment"), row.Get("risk_tier"), []byte(row.Get("churn_risk")), []byte(row.Get("clv")), clv, row.Get("recommended_perk"), reasons[id],
			func() (Band, Band) {
				return Band{row.Get("churn_risk_p10"), row.Get("churn_risk_p90")}, Band{row.Get("clv_p10"), row.Get("clv_p90")}
			})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, d.summarise(t)
}

// NewReportData is the report of a run from what the run holds in memory:
// nothing is read back.
func NewReportData(asOf, version string, warnings []string, meta *night.ScoresMeta, mf *night.ModelFile, bt *night.Backtest, plan *perkplan.Plan, q QualitySummary, t *ReportTally) (*ReportData, error) {
	d := &ReportData{AsOf: asOf, Version: version, Warnings: warnings, Scores: meta, Model: mf, Backtest: bt, Plan: plan, Quality: q, Charts: map[string]template.HTML{}}
	return d, d.summarise(t)
}

// ReportTally is what the report shows of the customers, tallied as the CRM
// feed is written (or as churn report reads it back): segment and tier
// sizes, the churn-risk histogram, and the 20 high-risk customers of most CLV.
type ReportTally struct {
	segs, tiers map[string]int
	riskBins    [20]float64 // customers per 0.05 of churn risk, as the feed rounds it
	tops        []reportTop // by CLV as the feed rounds it, descending; ties in feed order
}

type reportTop struct {
	clv float64
	row []string // customer, segment, churn risk, CLV, perk, reason
}

func NewReportTally() *ReportTally {
	return &ReportTally{segs: map[string]int{}, tiers: map[string]int{}}
}

// Band is an 80 % interval of a score, as the feed rounds it: its bounds'
// text, empty when the feed has none (one written before intervals).
type Band struct{ Lo, Hi string }

// with is v followed by the band in parentheses, when there is one.
func (b Band) with(v string) string {
	if b.Lo == "" {
		return v
	}
	return v + " (" + b.Lo + "–" + b.Hi + ")"
}

// Add tallies one customer as the feed writes it: risk and clv are its
// text; clvExact is a value within half a unit of clv, to skip most
// customers without parsing their clv; bands makes the text of the
// churn risk's and the CLV's intervals, called only for the customers the
// report lists.
func (t *ReportTally) Add(id, seg, tier string, risk, clv []byte, clvExact float64, perk, reason string, bands func() (riskBand, clvBand Band)) {
	t.segs[seg]++
	t.tiers[tier]++
	// The feed's churn_risk has four decimals: its bin is 10⁴·risk div 500.
	var d int
	for i := 0; i < len(risk); i++ {
		if c := risk[i]; c >= '0' && c <= '9' {
			d = d*10 + int(c-'0')
		}
	}
	t.riskBins[min(19, d/500)]++
	if tier != "high" || len(t.tops) == 20 && clvExact < t.tops[19].clv-1 {
		return
	}
	v, _ := strconv.ParseFloat(string(clv), 64)
	if len(t.tops) == 20 && v <= t.tops[19].clv {
		return
	}
	j := len(t.tops)
	for j > 0 && t.tops[j-1].clv < v {
		j--
	}
	rb, cb := bands()
	t.tops = slices.Insert(t.tops, j, reportTop{v, []string{id, seg, rb.with(string(risk)), cb.with(string(clv)), perk, reason}})
	if len(t.tops) > 20 {
		t.tops = t.tops[:20]
	}
}

// summarise fills the report's customer tables and draws the charts.
func (d *ReportData) summarise(t *ReportTally) error {
	d.Segments = sortedCounts(t.segs, nil)
	d.Tiers = sortedCounts(t.tiers, []string{"high", "medium", "low"})
	for _, tp := range t.tops {
		d.TopAtRisk = append(d.TopAtRisk, tp.row)
	}
	return d.drawCharts(t.riskBins[:])
}

// WarehouseQuality totals the manifest and counts quarantined rows by reason.
func WarehouseQuality(w *warehouse.Warehouse) (*QualitySummary, error) {
	var q QualitySummary
	entries, err := w.Manifest()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		q.Files++
		q.RowsRead += e.RowsRead
		q.Accepted += e.Accepted
		q.Rejected += e.Rejected
		q.Duplicates += e.Duplicates
	}
	reasons := map[string]int{}
	qs, _ := filepath.Glob(w.Path("quarantine", "*.csv"))
	for _, f := range qs {
		if err := countColumn(f, "reason", reasons); err != nil {
			return nil, err
		}
	}
	q.ByReason = sortedCounts(reasons, nil)
	return &q, nil
}

func sortedCounts(m map[string]int, order []string) []NameCount {
	var out []NameCount
	for _, n := range order {
		out = append(out, NameCount{n, m[n]})
	}
	var rest []NameCount
	for n, c := range m {
		if !slices.Contains(order, n) {
			rest = append(rest, NameCount{n, c})
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].Count != rest[j].Count {
			return rest[i].Count > rest[j].Count
		}
		return rest[i].Name < rest[j].Name
	})
	return append(out, rest...)
}

func countColumn(path, name string, into map[string]int) error {
	return sheet.EachRow(path, sheet.ErrRunFile, nil, nil, func(row sheet.Row) error {
		if _, ok := row.Col[name]; ok {
			into[row.Get(name)]++
		}
		return nil
	})
}

// svg renders a plot as an inline SVG element.
// svg renders a plot as an inline SVG element of the given height (the
// width is the page's).
func svg(p *plot.Plot, height vg.Length) (template.HTML, error) {
	c := vgsvg.New(7*vg.Inch, height)
	// A margin on the left: gonum measures labels in its own fonts, and a
	// browser without them draws wider ones, which the left edge would cut.
	p.Draw(draw.Crop(draw.New(c), vg.Points(48), 0, 0, 0))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	s = strings.ReplaceAll(s, "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	return template.HTML(s), nil
}

// The report's colours (Tableau 10): distinct, readable in print and by
// most colour-blind readers.
var (
	blue, orange, red, teal, green = rgb(0x4E79A7), rgb(0xF28E2B), rgb(0xE15759), rgb(0x76B7B2), rgb(0x59A14F)
	purple, brown, grey            = rgb(0xB07AA1), rgb(0x9C755F), rgb(0x79706E)
	palette                        = []color.Color{blue, orange, green, purple, teal, brown, red}
)

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

// countTicks marks an axis of counts: whole numbers only, with thousands
// separators ("5,000", not "5000.00").
type countTicks struct{}

func (countTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = thousands(int64(t.Value))
		}
		out = append(out, t)
	}
	return out
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// style sets the fonts and the grid every chart shares. The fonts are
// Liberation Sans, which has Arial's and Helvetica's metrics, so text a
// browser draws in either takes the room gonum measured for it.
func style(p *plot.Plot, title string) {
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		f.Variant = "Sans"
	}
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(11)
		a.Tick.Label.Font.Size = vg.Points(10)
		a.Color, a.Tick.Color = grey, grey
	}
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = color.Gray{Y: 225}, color.Gray{Y: 225}
	p.Add(g)
}

// hBarPlot is a bar chart of named values, bars across so that every name
// fits beside its bar, the first value at the top; counts get whole ticks.
// It returns the plot and the height it needs.
func hBarPlot(title, valueLabel string, labels []string, values []float64, counts bool, c color.Color) (*plot.Plot, vg.Length, error) {
	p := plot.New()
	style(p, title)
	p.X.Label.Text = valueLabel
	n := len(values)
	rev := make(plotter.Values, n)
	names := make([]string, n)
	for i := range values {
		rev[n-1-i], names[n-1-i] = values[i], labels[i]
	}
	bars, err := plotter.NewBarChart(rev, vg.Points(14))
	if err != nil {
		return nil, 0, err
	}
	bars.Horizontal = true
	bars.Color, bars.LineStyle.Width = c, 0
	p.Add(bars)
	p.NominalY(names...)
	p.X.Min = 0
	if counts {
		p.X.Tick.Marker = countTicks{}
	}
	return p, vg.Points(float64(22*n + 90)), nil
}

func (d *ReportData) drawCharts(hist []float64) error {
	add := func(key, title string, p *plot.Plot, height vg.Length, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", key, err)
		}
		s, err := svg(p, height)
		if err != nil {
			return fmt.Errorf("chart %s: %w", key, err)
		}
		d.Charts[key] = s
		d.ChartTitles = append(d.ChartTitles, title)
		return nil
	}
	var labels []string
	var vals []float64
	for _, s := range d.Segments {
		labels, vals = append(labels, s.Name), append(vals, float64(s.Count))
	}
	p, h, err := hBarPlot("Customers per RFM segment", "customers", labels, vals, true, blue)
	if err := add("segments", "RFM segments", p, h, err); err != nil {
		return err
	}
	if err := d.riskChart(hist, add); err != nil {
		return err
	}
	if bt := d.Backtest; bt != nil && len(bt.Tracking) > 0 {
		p := plot.New()
		style(p, "Backtest: repeat purchases, actual and predicted")
		p.X.Label.Text, p.Y.Label.Text = fmt.Sprintf("weeks since %s", bt.Tracking[0].WeekEnd), "repeat purchase days, cumulative"
		p.X.Tick.Marker, p.Y.Tick.Marker = countTicks{}, countTicks{}
		actual := make(plotter.XYs, len(bt.Tracking))
		cum := 0.0
		cut := 0.0
		for i, tp := range bt.Tracking {
			cum += tp.Actual
			actual[i] = plotter.XY{X: float64(i), Y: cum}
			if !tp.Holdout {
				cut = float64(i)
			}
		}
		l, err := plotter.NewLine(actual)
		if err != nil {
			return err
		}
		l.Width, l.Color = vg.Points(2.5), grey
		p.Add(l)
		p.Legend.Add("actual", l)
		for k, name := range bt.TrackedModels() {
			pts := make(plotter.XYs, len(bt.Tracking))
			c := 0.0
			for i, tp := range bt.Tracking {
				c += tp.Predicted[name]
				pts[i] = plotter.XY{X: float64(i), Y: c}
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Width, l.Color = vg.Points(1.5), palette[k%len(palette)]
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(name+" (predicted)", l)
		}
		cutLine, _ := plotter.NewLine(plotter.XYs{{X: cut, Y: 0}, {X: cut, Y: cum}})
		cutLine.Dashes, cutLine.Color = []vg.Length{vg.Points(1), vg.Points(3)}, grey
		p.Add(cutLine)
		p.Legend.Add("cutoff", cutLine)
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-8)
		if err := add("tracking", "Backtest tracking", p, 3.8*vg.Inch, nil); err != nil {
			return err
		}
		p = plot.New()
		style(p, "Calibration of churn risk on the holdout (deciles)")
		p.X.Label.Text, p.Y.Label.Text = "predicted churn probability", "observed share with no purchase"
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
		diag.Dashes, diag.Color = []vg.Length{vg.Points(2), vg.Points(2)}, grey
		p.Add(diag)
		p.Legend.Add("perfect calibration", diag)
		var lift []float64
		var liftLabels []string
		for k, m := range bt.Models {
			if m.Error != "" {
				continue
			}
			var pts plotter.XYs
			for _, b := range m.Calibration {
				pts = append(pts, plotter.XY{X: b.Predicted, Y: b.Observed})
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color, sc.Radius, sc.Shape = palette[k%len(palette)], vg.Points(3.5), draw.CircleGlyph{}
			p.Add(sc)
			p.Legend.Add(m.Model, sc)
			lift = append(lift, m.LiftTop10, m.LiftTop20)
			liftLabels = append(liftLabels, m.Model+", riskiest 10 %", m.Model+", riskiest 20 %")
		}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-8)
		if err := add("calibration", "Calibration", p, 4.2*vg.Inch, nil); err != nil {
			return err
		}
		if len(lift) > 0 { // no model with metrics (every fit failed): no lift to show
			p, h, err := hBarPlot("Lift of churn risk on the holdout", "churn rate of the group ÷ churn rate of all customers", liftLabels, lift, false, orange)
			if err := add("lift", "Lift", p, h, err); err != nil {
				return err
			}
		}
	}
	if d.Plan != nil && len(d.Plan.Perks) > 0 {
		var labels []string
		var vals []float64
		for _, s := range d.Plan.Perks {
			labels, vals = append(labels, s.PerkID), append(vals, float64(s.Customers))
		}
		p, h, err := hBarPlot("Perk plan: customers per perk", "customers", labels, vals, true, green)
		if err := add("plan", "Perk plan", p, h, err); err != nil {
			return err
		}
	}
	if d.Plan != nil && len(d.Plan.Curve) > 1 {
		p := plot.New()
		style(p, "Value by budget")
		p.X.Label.Text, p.Y.Label.Text = "budget", "expected value kept, net of cost"
		pts := make(plotter.XYs, len(d.Plan.Curve))
		var chosen plotter.XYs
		for i, c := range d.Plan.Curve {
			pts[i] = plotter.XY{X: c.Budget, Y: c.Value}
			if c.Chosen {
				chosen = plotter.XYs{{X: c.Budget, Y: c.Value}}
			}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Width, l.Color = vg.Points(2), blue
		p.Add(l)
		p.Legend.Add("what each budget buys", l)
		if chosen != nil {
			sc, err := plotter.NewScatter(chosen)
			if err != nil {
				return err
			}
			sc.Color, sc.Radius, sc.Shape = orange, vg.Points(5), draw.CircleGlyph{}
			p.Add(sc)
			p.Legend.Add("this plan", sc)
		}
		p.Legend.Top, p.Legend.Left = true, false
		if err := add("budget", "Value by budget", p, 3.4*vg.Inch, nil); err != nil {
			return err
		}
	}
	return nil
}

// riskChart is the histogram of churn risk in 20 bins of 0.05, each bar in
// the colour of the tier its bin falls in.
func (d *ReportData) riskChart(hist []float64, add func(string, string, *plot.Plot, vg.Length, error) error) error {
	p := plot.New()
	style(p, fmt.Sprintf("Churn risk: probability of no purchase within %.0f days", d.Scores.HorizonDays))
	p.X.Label.Text, p.Y.Label.Text = "churn risk (bins of 0.05)", "customers"
	p.Y.Tick.Marker = countTicks{}
	tiers := []struct {
		name string
		from float64
		c    color.Color
	}{{"low", 0, green}, {"medium", d.Scores.TierMedium, orange}, {"high", d.Scores.TierHigh, red}}
	for k, tier := range tiers {
		to := 2.0
		if k+1 < len(tiers) {
			to = tiers[k+1].from
		}
		vals := make(plotter.Values, len(hist))
		for i, v := range hist {
			if lo := float64(i) / 20; lo >= tier.from-1e-9 && lo < to-1e-9 {
				vals[i] = v
			}
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(16))
		if err != nil {
			return fmt.Errorf("chart risk: %w", err)
		}
		bars.Color, bars.LineStyle.Width = tier.c, 0
		p.Add(bars)
		p.Legend.Add(tier.name+" risk", bars)
	}
	var bins []string
	for i := range hist {
		label := ""
		if i%4 == 0 {
			label = fmt.Sprintf("%.1f", float64(i)/20)
		}
		bins = append(bins, label)
	}
	p.NominalX(bins...)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-8)
	return add("risk", "Churn risk distribution", p, 3.6*vg.Inch, nil)
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f2":  func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"f4":  func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"pct": func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + " %" },
	// money is an amount with its currency code, when the run has one.
	"money": func(v float64, currency string) string {
		return strings.TrimSpace(strconv.FormatFloat(v, 'f', 2, 64) + " " + currency)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>churn report {{.AsOf}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.chart svg{max-width:100%;height:auto}
.small{color:#666;font-size:.9rem}
</style></head><body>
<h1>churn report — as of {{.AsOf}}</h1>
<section id="summary"><h2>Run summary</h2>
<table>
<tr><th>as-of date</th><td>{{.AsOf}}</td></tr>
{{with .Version}}<tr><th>churn version</th><td>{{.}}</td></tr>{{end}}
<tr><th>customers scored</th><td class="n">{{.Scores.Customers}}</td></tr>
<tr><th>model</th><td>{{.Model.Model}}{{with .Model.Spend}} + {{.Model}}{{end}}, fitted on {{.Model.Calibration.Start}} to {{.Model.Calibration.End}} (time unit: {{.Model.Unit}}; log-likelihood {{f2 .Model.LogLik}})</td></tr>
<tr><th>parameters</th><td>{{range $k, $v := .Model.Params}}{{$k}} = {{f4 $v}}; {{end}}{{with .Model.Spend}}{{range $k, $v := .Params}}{{$k}} = {{f4 $v}}; {{end}}{{end}}</td></tr>
{{with .Model.ChurnRisk}}<tr><th>churn risk from</th><td>{{.Source}}: {{.Reason}}</td></tr>{{with .PurchaseReason}}<tr><th>purchase model</th><td>{{.}}</td></tr>{{end}}{{end}}
<tr><th>intervals</th><td>{{if .Scores.IntervalDraws}}80 % intervals of p_alive, churn risk and CLV from {{.Scores.IntervalDraws}} draws of the fitted parameters; purchases_p10/p90 are quantiles of the purchase count in the horizon{{end}}{{with .Scores.IntervalNote}} {{.}}{{end}}</td></tr>
<tr><th>horizon</th><td>churn risk and expected purchases over {{.Scores.HorizonDays}} days; CLV over {{.Scores.CLVMonths}} months at {{pct .Scores.DiscountRate}} a year and a {{pct .Scores.Margin}} margin{{with .Scores.Currency}}, in {{.}}{{end}}</td></tr>
</table></section>
{{if .Warnings}}<section id="warnings"><h2>Warnings</h2>
<ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul></section>
{{end}}<section id="quality"><h2>Data quality</h2>
<table><tr><th>files ingested</th><td class="n">{{.Quality.Files}}</td></tr>
<tr><th>rows read</th><td class="n">{{.Quality.RowsRead}}</td></tr>
<tr><th>rows accepted</th><td class="n">{{.Quality.Accepted}}</td></tr>
<tr><th>rows quarantined</th><td class="n">{{.Quality.Rejected}}</td></tr>
<tr><th>duplicate orders dropped</th><td class="n">{{.Quality.Duplicates}}</td></tr></table>
{{if .Quality.ByReason}}<table><tr><th>quarantine reason</th><th>rows</th></tr>{{range .Quality.ByReason}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>{{else}}<p class="small">No row was quarantined.</p>{{end}}
</section>
<section id="segments"><h2>RFM segments</h2>
<table><tr><th>segment</th><th>customers</th></tr>{{range .Segments}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>
<figure class="chart" id="chart-segments">{{index .Charts "segments"}}</figure></section>
<section id="risk"><h2>Churn risk</h2>
<table><tr><th>risk tier</th><th>customers</th></tr>{{range .Tiers}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>
<p class="small">Tiers: high from a churn risk of {{.Scores.TierHigh}}, medium from {{.Scores.TierMedium}}.</p>
{{if .Scores.OneTimeAlive}}<p id="one-time">{{.Scores.OneTimeAlive}} customers have bought only once, and {{.Scores.Model}} gives each of them a p_alive of 1: in its model a customer can drop out only just after a repeat purchase, so one who has not made one is counted alive. That is the model's definition, not a sign that they are still active; their churn risk (no purchase in the next {{.Scores.HorizonDays}} days) is the number to act on, and it is high for most of them.</p>{{end}}
<figure class="chart" id="chart-risk">{{index .Charts "risk"}}</figure></section>
{{with .Backtest}}<section id="backtest"><h2>Backtest</h2>
<p>Fitted on data to {{.Cutoff}}, checked on {{.HoldoutEnd}} ({{.HoldoutDays}} days): {{.Customers}} customers, {{pct .ChurnRate}} made no purchase in the holdout.</p>
<table><tr><th>model</th><th>holdout purchases (actual)</th><th>predicted</th><th>error</th><th>churn AUC</th><th>Brier</th><th>lift top 10 %</th><th>MAE</th></tr>
{{range .Models}}<tr><td>{{.Model}}</td><td class="n">{{f2 .ActualRepeat}}</td><td class="n">{{f2 .PredRepeat}}</td><td class="n">{{f2 .TotalErrorPct}} %</td><td class="n">{{f4 .ChurnAUC}}</td><td class="n">{{f4 .Brier}}</td><td class="n">{{f2 .LiftTop10}}</td><td class="n">{{f4 .MAE}}</td></tr>{{end}}</table>
</section>{{end}}
{{if .Backtest}}<figure class="chart" id="chart-tracking">{{index .Charts "tracking"}}</figure>
<figure class="chart" id="chart-calibration">{{index .Charts "calibration"}}</figure>
<figure class="chart" id="chart-lift">{{index .Charts "lift"}}</figure>{{end}}
{{with .Plan}}<section id="plan"><h2>Perk plan</h2>
<p>{{.Recommended}} of {{.Eligible}} eligible customers get a perk. Expected cost {{money .BudgetUsed .Currency}} of a budget of {{money .Budget .Currency}}; expected value {{money .Objective .Currency}} (upper bound {{money .Bound .Currency}}, optimality gap {{f2 .GapPct}} %).</p>
<table><tr><th>perk</th><th>kind</th><th>customers</th><th>capacity</th><th>expected cost</th><th>expected value</th><th>uplift from</th></tr>
{{range .Perks}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td class="n">{{.Customers}}</td><td class="n">{{if lt .Capacity 0}}unlimited{{else}}{{.Capacity}}{{end}}</td><td class="n">{{f2 .Cost}}</td><td class="n">{{f2 .Value}}</td><td>{{.UpliftSource}}</td></tr>{{end}}</table>
<p>{{.Controls}} customers are held out as control groups (their perks are not sent, their cost not spent), so the next plan can measure what the perks really do.</p>
<h3 id="value-by-budget">Value by budget</h3>
<p>What each budget buys: the expected value kept net of cost, and the expected customers kept from churning, along the budget's price λ (capacities left out). Past {{money .Saturation .Currency}} no perk has positive value. The plan's budget is marked.</p>
<figure class="chart" id="chart-budget">{{index $.Charts "budget"}}</figure>
<table><tr><th>budget</th><th>expected value</th><th>customers with a perk</th><th>customers kept</th><th>λ</th></tr>
{{range .Curve}}<tr{{if .Chosen}} class="chosen"{{end}}><td class="n">{{money .Budget $.Plan.Currency}}{{if .Chosen}} ◀ this plan{{end}}</td><td class="n">{{f2 .Value}}</td><td class="n">{{.Customers}}</td><td class="n">{{f2 .Kept}}</td><td class="n">{{f4 .Lambda}}</td></tr>{{end}}</table>
<p>At the budget of this plan's allocation ({{money .Baselines.Budget .Currency}}, before its controls are held out), under the same uplift: this plan {{money .Baselines.Plan .Currency}}; the riskiest customers given the cheapest perk they may have {{money .Baselines.RiskiestCheapest .Currency}}; a random allocation {{money .Baselines.Random .Currency}}.</p>
</section>{{end}}
{{if .Plan}}<figure class="chart" id="chart-plan">{{index .Charts "plan"}}</figure>{{end}}
<section id="top"><h2>Top at-risk customers by value</h2>
<p>In parentheses: the 80 % interval of each score from the uncertainty of the fitted parameters.</p>
<table><tr><th>customer</th><th>segment</th><th>churn risk</th><th>CLV</th><th>perk</th><th>reason</th></tr>
{{range .TopAtRisk}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td><td class="n">{{index . 2}}</td><td class="n">{{index . 3}}</td><td>{{index . 4}}</td><td>{{index . 5}}</td></tr>{{end}}</table>
</section>
</body></html>
`))

// WriteReport renders report.html into runDir.
func WriteReport(runDir string, d *ReportData) error {
	return warehouse.WriteFileAtomic(filepath.Join(runDir, "report.html"), func(w io.Writer) error {
		return reportTemplate.Execute(w, d)
	})
}
