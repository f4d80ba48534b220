// Package report draws a run's report.html: from the summaries a run
// keeps in memory, or, for churn report, from the run's files.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
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
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ReportData is what report.html shows; everything is read from the files
// of a run directory, so `churn report` can redraw any past run.
type ReportData struct {
	AsOf        string
	Version     string // of churn, as the run recorded it
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
		Version string          `json:"version"`
		Quality *QualitySummary `json:"data_quality"`
	}
	run, err := warehouse.ReadJSONFile[runRecord](filepath.Join(runDir, "run.json"))
	if err != nil {
		return nil, err
	}
	if run != nil {
		d.Version = run.Version
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
		t.Add(id, row.Get("rfm_segment"), row.Get("risk_tier"), []byte(row.Get("churn_risk")), []byte(row.Get("clv")), clv, row.Get("recommended_perk"), reasons[id])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, d.summarise(t)
}

// NewReportData is the report of a run from what the run holds in memory:
// nothing is read back.
func NewReportData(asOf, version string, meta *night.ScoresMeta, mf *night.ModelFile, bt *night.Backtest, plan *perkplan.Plan, q QualitySummary, t *ReportTally) (*ReportData, error) {
	d := &ReportData{AsOf: asOf, Version: version, Scores: meta, Model: mf, Backtest: bt, Plan: plan, Quality: q, Charts: map[string]template.HTML{}}
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

// Add tallies one customer as the feed writes it: risk and clv are its
// text; clvExact is a value within half a unit of clv, to skip most
// customers without parsing their clv.
func (t *ReportTally) Add(id, seg, tier string, risk, clv []byte, clvExact float64, perk, reason string) {
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
	t.tops = slices.Insert(t.tops, j, reportTop{v, []string{id, seg, string(risk), string(clv), perk, reason}})
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
func svg(p *plot.Plot) (template.HTML, error) {
	wt, err := p.WriterTo(6*vg.Inch, 3.6*vg.Inch, "svg")
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return template.HTML(s), nil
}

func barPlot(title, xLabel, yLabel string, labels []string, values []float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xLabel, yLabel
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(18))
	if err != nil {
		return nil, err
	}
	p.Add(bars)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign = -1
	return p, nil
}

func (d *ReportData) drawCharts(hist []float64) error {
	add := func(key, title string, p *plot.Plot, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", key, err)
		}
		s, err := svg(p)
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
	p, err := barPlot("RFM segments", "segment", "customers", labels, vals)
	if err := add("segments", "RFM segments", p, err); err != nil {
		return err
	}
	// Churn risk histogram, 20 bins of 0.05.
	var bins []string
	for i := range hist {
		bins = append(bins, fmt.Sprintf("%.2f", float64(i)/20))
	}
	p, err = barPlot(fmt.Sprintf("Churn risk (no purchase within %.0f days)", d.Scores.HorizonDays), "churn risk, lower bin edge (probability)", "customers", bins, hist)
	if err := add("risk", "Churn risk distribution", p, err); err != nil {
		return err
	}
	if bt := d.Backtest; bt != nil && len(bt.Tracking) > 0 {
		p := plot.New()
		p.Title.Text = "Backtest: cumulative repeat purchases, actual vs predicted"
		p.X.Label.Text, p.Y.Label.Text = fmt.Sprintf("weeks since %s", bt.Tracking[0].WeekEnd), "cumulative repeat purchases (customer-days)"
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
		l.Width = vg.Points(2)
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
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2 + float64(k))}
			p.Add(l)
			p.Legend.Add(name, l)
		}
		cutLine, _ := plotter.NewLine(plotter.XYs{{X: cut, Y: 0}, {X: cut, Y: cum}})
		cutLine.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
		p.Add(cutLine)
		p.Legend.Add("cutoff", cutLine)
		p.Legend.Top, p.Legend.Left = true, true
		if err := add("tracking", "Backtest tracking", p, nil); err != nil {
			return err
		}
		p = plot.New()
		p.Title.Text = "Calibration of churn risk on the holdout (deciles)"
		p.X.Label.Text, p.Y.Label.Text = "predicted churn probability", "observed share without a purchase"
		diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
		diag.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(diag)
		var lift []float64
		var liftLabels []string
		for _, m := range bt.Models {
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
			p.Add(sc)
			p.Legend.Add(m.Model, sc)
			lift = append(lift, m.LiftTop10, m.LiftTop20)
			liftLabels = append(liftLabels, m.Model+" top 10 %", m.Model+" top 20 %")
		}
		p.Legend.Top, p.Legend.Left = true, true
		if err := add("calibration", "Calibration", p, nil); err != nil {
			return err
		}
		p, err = barPlot("Lift of churn risk on the holdout", "model and share of customers ranked riskiest", "churn rate ÷ overall churn rate", liftLabels, lift)
		if err := add("lift", "Lift", p, err); err != nil {
			return err
		}
	}
	if d.Plan != nil && len(d.Plan.Perks) > 0 {
		var labels []string
		var vals []float64
		for _, s := range d.Plan.Perks {
			labels, vals = append(labels, s.PerkID), append(vals, float64(s.Customers))
		}
		p, err := barPlot("Perk plan: customers per perk", "perk", "customers", labels, vals)
		if err := add("plan", "Perk plan", p, err); err != nil {
			return err
		}
	}
	return nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f2":  func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"f4":  func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) },
	"pct": func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + " %" },
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
{{with .Model.ChurnRisk}}<tr><th>churn risk from</th><td>{{.Source}}: {{.Reason}}</td></tr>{{end}}
<tr><th>horizon</th><td>churn risk and expected purchases over {{.Scores.HorizonDays}} days; CLV over {{.Scores.CLVMonths}} months at {{pct .Scores.DiscountRate}} a year and a {{pct .Scores.Margin}} margin, in {{.Scores.Currency}}</td></tr>
</table></section>
<section id="quality"><h2>Data quality</h2>
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
<p>{{.Recommended}} of {{.Eligible}} eligible customers get a perk. Expected cost {{f2 .BudgetUsed}} of a budget of {{f2 .Budget}} {{.Currency}}; expected value {{f2 .Objective}} (upper bound {{f2 .Bound}}, optimality gap {{f2 .GapPct}} %).</p>
<table><tr><th>perk</th><th>kind</th><th>customers</th><th>capacity</th><th>expected cost</th><th>expected value</th><th>uplift from</th></tr>
{{range .Perks}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td class="n">{{.Customers}}</td><td class="n">{{if lt .Capacity 0}}unlimited{{else}}{{.Capacity}}{{end}}</td><td class="n">{{f2 .Cost}}</td><td class="n">{{f2 .Value}}</td><td>{{.UpliftSource}}</td></tr>{{end}}</table>
</section>{{end}}
{{if .Plan}}<figure class="chart" id="chart-plan">{{index .Charts "plan"}}</figure>{{end}}
<section id="top"><h2>Top at-risk customers by value</h2>
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
