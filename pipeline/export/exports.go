// Package export writes what retention teams and marketers read from a
// night's customer table: the CRM feed (CSV for people; Parquet and JSON
// Lines for machines), its delta against the previous run, and one file per
// segment and per perk, side by side.
package export

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/report"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/churnhq/churn/features"
	"github.com/parquet-go/parquet-go"
)

// CRMHeader is the CRM feed's header; the order is a contract (DESIGN.md).
var CRMHeader = []string{"customer_id", "rfm_segment", "r_score", "f_score", "m_score", "first_purchase", "last_purchase",
	"orders", "frequency", "recency", "tenure", "monetary_avg", "total_spend", "p_alive", "churn_risk",
	"risk_tier", "expected_purchases", "expected_spend", "expected_next_purchase", "clv",
	"recommended_perk", "scored_at", "model",
	"p_alive_p10", "p_alive_p90", "churn_risk_p10", "churn_risk_p90", "clv_p10", "clv_p90", "purchases_p10", "purchases_p90",
	"churn_risk_pct", "clv_pct", "model_version", "horizon_days", "as_of", "updated_at", "arm", "no_perk_reason", "p_alive_note"}

// oneTimeNote is the feed's p_alive_note for a customer without a repeat
// purchase whom the model calls alive for sure (BG/NBD's p_alive of 1).
const oneTimeNote = "one-time buyer: alive by definition"

// deltaHeader is the delta's header: the feed's, and whether the row is a
// tombstone (a customer of the previous feed who is not in this one).
var deltaHeader = append(slices.Clone(CRMHeader), "deleted")

// ExportOptions shape the files people open.
type ExportOptions struct {
	Excel    bool   // start every CSV with a UTF-8 byte-order mark
	Timezone string // reporting time zone of dates (default UTC)
	// Formats of the CRM feed: csv, parquet, jsonl; nil = DefaultExportFormats.
	// The CSV and the Parquet forms are always written: people read the
	// one, and the next night reads the other.
	Formats []string
	// HorizonDays is the scores' horizon, for the feed's horizon_days.
	HorizonDays float64
}

// ExportFormats are the forms the CRM feed can be written in; the CSV is
// for people, Parquet and JSON Lines for machines (exact ids, typed values).
var ExportFormats = []string{"csv", "parquet", "jsonl"}

// DefaultExportFormats are written when the config and flags name none.
var DefaultExportFormats = []string{"csv", "parquet"}

// ParseExportFormats reads a comma-separated list of ExportFormats.
func ParseExportFormats(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(ExportFormats, f) {
			return nil, fmt.Errorf("%w: export format %q: want %s", warehouse.ErrOption, f, strings.Join(ExportFormats, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no export format given (want %s)", warehouse.ErrOption, strings.Join(ExportFormats, ", "))
	}
	return out, nil
}

// Exports is what WriteExports wrote.
type Exports struct {
	Files         []string // paths relative to the run directory
	DeltaRows     int
	PreviousRun   string // as-of of the run the delta compares with; "" on the first run
	SegmentCounts map[string]int
	// Tally is what the report shows of the customers, taken from the feed
	// as it was written.
	Tally *report.ReportTally
}

// exportRow builds one customer's CRM record as strings.
type exportRow struct {
	res      *features.Result
	scores   []night.Score
	recs     []perkplan.Recommendation
	loc      *time.Location
	dec      int
	scoredAt string
	model    string
	// The columns of the feed contract that are not the customer's own.
	riskPct, clvPct []int16
	modelVersion    string
	horizonDays     int64
	asOfDays        int32
	cmp             *comparison
}

func (e *exportRow) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(e.loc).Format(time.DateOnly)
}

func (e *exportRow) money(v float64) string { return strconv.FormatFloat(v, 'f', e.dec, 64) }

// noPerk is why customer i, offered a perk, gets none ("" otherwise).
func (e *exportRow) noPerk(i int) string {
	if e.recs == nil {
		return ""
	}
	return e.recs[i].NoPerkReason
}

// pAliveNote says in words when p_alive is 1 by the model's definition.
func (e *exportRow) pAliveNote(i int) string {
	if e.res.Customers[i].Frequency == 0 && e.scores[i].PAlive >= 1 {
		return oneTimeNote
	}
	return ""
}

// arm is customer i's arm in the plan: treated, control, or "".
func (e *exportRow) arm(i int) string {
	if e.recs == nil {
		return ""
	}
	return e.recs[i].Arm
}

func (e *exportRow) perk(i int) string {
	if e.recs == nil {
		return ""
	}
	return e.recs[i].PerkID
}

func (e *exportRow) record(i int) []string {
	c := &e.res.Customers[i]
	s := &e.scores[i]
	f4 := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	next := ""
	if !s.NextPurchase.IsZero() {
		next = s.NextPurchase.Format(time.DateOnly)
	}
	return []string{c.CustomerID, c.Segment, strconv.Itoa(int(c.RScore)), strconv.Itoa(int(c.FScore)), strconv.Itoa(int(c.MScore)),
		e.date(c.FirstPurchase()), e.date(c.LastPurchase()), strconv.FormatInt(int64(c.Orders), 10), strconv.FormatInt(int64(c.Frequency), 10),
		f4(c.Recency), strconv.FormatInt(int64(c.TenureDays), 10), e.money(c.MonetaryAvg), warehouse.FormatAmount(c.TotalSpendMicros, e.dec),
		f4(s.PAlive), f4(s.ChurnRisk), s.Tier, f4(s.ExpectedPurchases), e.money(s.ExpectedSpend), next, e.money(s.CLV),
		e.perk(i), e.scoredAt, e.model,
		f4(s.PAliveP10), f4(s.PAliveP90), f4(s.ChurnRiskP10), f4(s.ChurnRiskP90), e.money(s.CLVP10), e.money(s.CLVP90),
		strconv.Itoa(int(s.PurchasesP10)), strconv.Itoa(int(s.PurchasesP90)),
		strconv.Itoa(int(e.riskPct[i])), strconv.Itoa(int(e.clvPct[i])), e.modelVersion, strconv.FormatInt(e.horizonDays, 10),
		e.scoredAt, dayString(e.cmp.updated[i]), e.arm(i), e.noPerk(i), e.pAliveNote(i)}
}

// dayString is a day since 1970-01-01 as YYYY-MM-DD.
func dayString(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly) }

// WriteExports writes the CRM feed (exports/crm_scores.csv, .parquet and,
// when asked, .jsonl), exports/crm_delta.csv and segments/*.csv into runDir,
// the three groups side by side. prevRunDir is the previous run's directory
// ("" for none): the delta holds the customers whose risk tier, segment or
// recommended perk differ from it, and new customers. recs may be nil (no
// plan yet).
func WriteExports(runDir, prevRunDir string, res *features.Result, scores []night.Score, recs []perkplan.Recommendation, mf *night.ModelFile, opt ExportOptions) (*Exports, error) {
	loc, err := night.ReportingZone(opt.Timezone)
	if err != nil {
		return nil, err
	}
	formats := opt.Formats
	if formats == nil {
		formats = DefaultExportFormats
	}
	dec := 2
	if len(res.Currencies) == 1 {
		dec = warehouse.CurrencyDecimals(res.Currencies[0])
	}
	er := &exportRow{res: res, scores: scores, recs: recs, loc: loc, dec: dec,
		scoredAt: res.AsOf.Format(time.DateOnly), model: mf.ModelLabel(), modelVersion: ModelVersion(mf),
		horizonDays: int64(math.Round(opt.HorizonDays)), asOfDays: civilDays(res.AsOf, res.AsOf.Location())}
	// The percentiles and the comparison with the previous feed, side by side.
	var pctDone sync.WaitGroup
	pctDone.Add(2)
	go func() {
		defer pctDone.Done()
		risk := make([]float64, len(scores))
		for i := range scores {
			risk[i] = scores[i].ChurnRisk
		}
		er.riskPct = RankPercent(risk)
	}()
	go func() {
		defer pctDone.Done()
		clv := make([]float64, len(scores))
		for i := range scores {
			clv[i] = scores[i].CLV
		}
		er.clvPct = RankPercent(clv)
	}()
	out := &Exports{SegmentCounts: map[string]int{}}
	er.cmp, err = er.compare(prevRunDir)
	pctDone.Wait()
	if err != nil {
		return nil, err
	}
	out.PreviousRun = er.cmp.prevRun
	feedFiles := []string{"exports/crm_scores.csv", "exports/crm_delta.csv"}
	if slices.Contains(formats, "jsonl") {
		feedFiles = append(feedFiles, "exports/crm_scores.jsonl")
	}
	out.Files = append(out.Files, feedFiles...)
	out.Files = append(out.Files, "exports/crm_scores.parquet", "exports/crm_delta.parquet")

	var wg sync.WaitGroup
	errs := make([]error, 3)
	var segFiles []string
	wg.Add(3)
	go func() {
		defer wg.Done()
		out.Tally = report.NewReportTally()
		out.DeltaRows, errs[0] = er.writeFeedCSV(runDir, feedFiles, opt.Excel, out.Tally)
	}()
	go func() {
		defer wg.Done()
		errs[1] = er.writeFeedParquet(filepath.Join(runDir, "exports", "crm_scores.parquet"), filepath.Join(runDir, "exports", "crm_delta.parquet"))
	}()
	go func() {
		defer wg.Done()
		segFiles, errs[2] = er.writeSegments(runDir, out.SegmentCounts, opt.Excel)
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A form not asked for this time must not stay behind from an earlier
	// command in the same run directory, stale beside the new feed.
	for _, form := range []string{"jsonl"} {
		if !slices.Contains(formats, form) {
			if err := os.Remove(filepath.Join(runDir, "exports", "crm_scores."+form)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	out.Files = append(out.Files, segFiles...)
	return out, nil
}

// writeFeedCSV writes the feed, the delta and, when among files, the JSON
// Lines twin in one pass, each line encoded once, and tallies the
// customers for the report. It returns the delta's rows, tombstones
// included.
func (er *exportRow) writeFeedCSV(runDir string, files []string, excel bool, tally *report.ReportTally) (int, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(runDir, f)
	}
	deltaRows := 0
	err := sheet.WriteFilesAtomic(paths, func(ws []*bufio.Writer) error {
		feed, delta := sheet.NewSafeCSV(ws[0], excel), sheet.NewSafeCSV(ws[1], excel)
		feed.Write(CRMHeader)
		delta.Write(deltaHeader)
		var line []byte
		var f crmFields
		for i := range er.res.Customers {
			c, s := &er.res.Customers[i], &er.scores[i]
			line = er.appendCRMLine(line[:0], i, &f)
			feed.WriteLine(line)
			if len(ws) > 2 {
				writeCRMJSONLine(ws[2], er.record(i))
			}
			perk, reason := "", ""
			if er.recs != nil {
				perk, reason = er.recs[i].PerkID, er.recs[i].Reason
			}
			tally.Add(c.CustomerID, c.Segment, s.Tier, line[f.risk[0]:f.risk[1]], line[f.clv[0]:f.clv[1]], s.CLV, perk, reason, func() (report.Band, report.Band) {
				f4 := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
				return report.Band{Lo: f4(s.ChurnRiskP10), Hi: f4(s.ChurnRiskP90)}, report.Band{Lo: er.money(s.CLVP10), Hi: er.money(s.CLVP90)}
			})
			if er.cmp.delta[i] {
				deltaRows++
				line = append(line[:len(line)-1], ",false\n"...)
				delta.WriteLine(line)
			}
		}
		// Tombstones: the id, as_of and updated_at (this night), deleted.
		asOf := er.scoredAt
		for _, id := range er.cmp.gone {
			deltaRows++
			rec := make([]string, len(deltaHeader))
			rec[0] = id
			rec[crmCol("as_of")], rec[crmCol("updated_at")], rec[len(rec)-1] = asOf, asOf, "true"
			delta.Write(rec)
		}
		if err := feed.Flush(); err != nil {
			return err
		}
		return delta.Flush()
	})
	return deltaRows, err
}

// crmFields are where appendCRMLine put the churn risk and the CLV.
type crmFields struct{ risk, clv [2]int }

// lineEncoder appends the fields of one CSV line as SafeCSVWriter writes
// them, formatting numbers and dates in place (no strings are made).
type lineEncoder struct {
	dst []byte
	num [64]byte
	loc *time.Location
	dec int
}

// number appends a formatted number or date: they need no quoting, and
// only a sign that does not start a plain number ("-Inf") is neutralised.
func (e *lineEncoder) number(b []byte) {
	e.dst = append(e.dst, ',')
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') && !sheet.IsPlainNumber(string(b)) {
		e.dst = sheet.AppendSafeField(e.dst, string(b))
		return
	}
	e.dst = append(e.dst, b...)
}

func (e *lineEncoder) text(v string) {
	e.dst = sheet.AppendSafeField(append(e.dst, ','), v)
}

func (e *lineEncoder) integer(v int64) { e.number(strconv.AppendInt(e.num[:0], v, 10)) }

// amount appends millionths as money with the currency's decimals.
func (e *lineEncoder) amount(micros int64) {
	e.number(warehouse.AppendAmount(e.num[:0], micros, e.dec))
}
func (e *lineEncoder) f4(v float64)    { e.number(appendFixed(e.num[:0], v, 4)) }
func (e *lineEncoder) money(v float64) { e.number(appendFixed(e.num[:0], v, e.dec)) }

// pow10 are the powers of ten appendFixed scales by.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// appendFixed appends v with dec decimals, the bytes of strconv.AppendFloat(
// dst, v, 'f', dec, 64), without its general algorithm where that is safe:
// v·10^dec below 10⁹ in magnitude (its float error is then under 10⁻⁷)
// and not within 10⁻⁶ of a rounding tie; elsewhere, and for NaN and ±Inf,
// strconv decides.
func appendFixed(dst []byte, v float64, dec int) []byte {
	if dec < 0 || dec >= len(pow10) {
		return strconv.AppendFloat(dst, v, 'f', dec, 64)
	}
	n := math.Abs(v) * pow10[dec]
	if !(n < 1e9) {
		return strconv.AppendFloat(dst, v, 'f', dec, 64)
	}
	if f := n - math.Floor(n); math.Abs(f-0.5) < 1e-6 {
		return strconv.AppendFloat(dst, v, 'f', dec, 64)
	}
	r := uint64(math.Round(n))
	if math.Signbit(v) {
		dst = append(dst, '-') // as strconv: -0.00001 is "-0.0000"
	}
	return warehouse.AppendScaled(dst, r, dec)
}

// date appends t's calendar date in the reporting zone, or nothing for zero.
func (e *lineEncoder) date(t time.Time) {
	if t.IsZero() {
		e.number(nil)
		return
	}
	e.number(t.In(e.loc).AppendFormat(e.num[:0], time.DateOnly))
}

// appendCRMLine appends customer i's feed line: the bytes SafeCSVWriter
// writes for record(i), without making its strings.
func (er *exportRow) appendCRMLine(dst []byte, i int, f *crmFields) []byte {
	c, s := &er.res.Customers[i], &er.scores[i]
	e := lineEncoder{dst: sheet.AppendSafeField(dst, c.CustomerID), loc: er.loc, dec: er.dec}
	e.text(c.Segment)
	e.integer(int64(c.RScore))
	e.integer(int64(c.FScore))
	e.integer(int64(c.MScore))
	e.date(c.FirstPurchase())
	e.date(c.LastPurchase())
	e.integer(int64(c.Orders))
	e.integer(int64(c.Frequency))
	e.f4(c.Recency)
	e.integer(int64(c.TenureDays))
	e.money(c.MonetaryAvg)
	e.amount(c.TotalSpendMicros)
	e.f4(s.PAlive)
	f.risk[0] = len(e.dst) + 1
	e.f4(s.ChurnRisk)
	f.risk[1] = len(e.dst)
	e.text(s.Tier)
	e.f4(s.ExpectedPurchases)
	e.money(s.ExpectedSpend)
	if s.NextPurchase.IsZero() {
		e.number(nil)
	} else {
		e.number(s.NextPurchase.AppendFormat(e.num[:0], time.DateOnly))
	}
	f.clv[0] = len(e.dst) + 1
	e.money(s.CLV)
	f.clv[1] = len(e.dst)
	e.text(er.perk(i))
	e.text(er.scoredAt)
	e.text(er.model)
	e.f4(s.PAliveP10)
	e.f4(s.PAliveP90)
	e.f4(s.ChurnRiskP10)
	e.f4(s.ChurnRiskP90)
	e.money(s.CLVP10)
	e.money(s.CLVP90)
	e.integer(int64(s.PurchasesP10))
	e.integer(int64(s.PurchasesP90))
	e.integer(int64(er.riskPct[i]))
	e.integer(int64(er.clvPct[i]))
	e.text(er.modelVersion)
	e.integer(er.horizonDays)
	e.text(er.scoredAt)
	e.number(time.Unix(int64(er.cmp.updated[i])*86400, 0).UTC().AppendFormat(e.num[:0], time.DateOnly))
	e.text(er.arm(i))
	e.text(er.noPerk(i))
	e.text(er.pAliveNote(i))
	return append(e.dst, '\n')
}

// segHeader is the header of the segment and perk files.
var segHeader = []string{"customer_id", "rfm_segment", "last_purchase", "orders", "total_spend", "churn_risk", "risk_tier", "clv", "recommended_perk", "reason"}

// appendSegmentLine appends customer i's line of a segment file.
func (er *exportRow) appendSegmentLine(dst []byte, i int) []byte {
	c, s := &er.res.Customers[i], &er.scores[i]
	reason := ""
	if er.recs != nil {
		reason = er.recs[i].Reason
	}
	e := lineEncoder{dst: sheet.AppendSafeField(dst, c.CustomerID), loc: er.loc, dec: er.dec}
	e.text(c.Segment)
	e.date(c.LastPurchase())
	e.integer(int64(c.Orders))
	e.amount(c.TotalSpendMicros)
	e.f4(s.ChurnRisk)
	e.text(s.Tier)
	e.money(s.CLV)
	e.text(er.perk(i))
	e.text(reason)
	return append(e.dst, '\n')
}

// CRMRow is one row of exports/crm_scores.parquet: the CSV feed's columns
// in its order, typed, with the ids exactly as ingested. Dates are calendar
// dates in the reporting time zone, total_spend is DECIMAL(18,6), and an
// empty expected_next_purchase or recommended_perk is null.
type CRMRow struct {
	CustomerID           string  `parquet:"customer_id"`
	Segment              string  `parquet:"rfm_segment,dict"`
	RScore               int32   `parquet:"r_score"`
	FScore               int32   `parquet:"f_score"`
	MScore               int32   `parquet:"m_score"`
	FirstPurchase        int32   `parquet:"first_purchase,date"`
	LastPurchase         int32   `parquet:"last_purchase,date"`
	Orders               int64   `parquet:"orders"`
	Frequency            int64   `parquet:"frequency"`
	Recency              float64 `parquet:"recency"`
	Tenure               int64   `parquet:"tenure"`
	MonetaryAvg          float64 `parquet:"monetary_avg"`
	TotalSpend           int64   `parquet:"total_spend,decimal(6:18)"`
	PAlive               float64 `parquet:"p_alive"`
	ChurnRisk            float64 `parquet:"churn_risk"`
	RiskTier             string  `parquet:"risk_tier,dict"`
	ExpectedPurchases    float64 `parquet:"expected_purchases"`
	ExpectedSpend        float64 `parquet:"expected_spend"`
	ExpectedNextPurchase *int32  `parquet:"expected_next_purchase,date,optional"`
	CLV                  float64 `parquet:"clv"`
	RecommendedPerk      *string `parquet:"recommended_perk,optional,dict"`
	ScoredAt             int32   `parquet:"scored_at,date"`
	Model                string  `parquet:"model,dict"`
	PAliveP10            float64 `parquet:"p_alive_p10"`
	PAliveP90            float64 `parquet:"p_alive_p90"`
	ChurnRiskP10         float64 `parquet:"churn_risk_p10"`
	ChurnRiskP90         float64 `parquet:"churn_risk_p90"`
	CLVP10               float64 `parquet:"clv_p10"`
	CLVP90               float64 `parquet:"clv_p90"`
	PurchasesP10         int32   `parquet:"purchases_p10"`
	PurchasesP90         int32   `parquet:"purchases_p90"`
	ChurnRiskPct         int32   `parquet:"churn_risk_pct"`
	CLVPct               int32   `parquet:"clv_pct"`
	ModelVersion         string  `parquet:"model_version,dict"`
	HorizonDays          int32   `parquet:"horizon_days"`
	AsOf                 int32   `parquet:"as_of,date"`
	UpdatedAt            int32   `parquet:"updated_at,date"`
	Arm                  *string `parquet:"arm,optional,dict"` // treated, control; null without a plan line
	NoPerkReason         *string `parquet:"no_perk_reason,optional"`
	PAliveNote           *string `parquet:"p_alive_note,optional,dict"`
}

// DeltaRow is a row of exports/crm_delta.parquet: the feed's row, or for
// a tombstone only customer_id, as_of, updated_at and deleted = true.
type DeltaRow struct {
	CRMRow
	Deleted bool `parquet:"deleted"`
}

// civilDays is the days since 1970-01-01 of t's calendar date in loc.
func civilDays(t time.Time, loc *time.Location) int32 {
	y, m, d := t.In(loc).Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// crmRow is customer i's feed row, typed.
func (er *exportRow) crmRow(i int) CRMRow {
	row := er.ownRow(i)
	row.ChurnRiskPct, row.CLVPct = int32(er.riskPct[i]), int32(er.clvPct[i])
	row.UpdatedAt = er.cmp.updated[i]
	return row
}

// ownRow is customer i's feed row without the columns computed over the
// whole feed or against the previous one (the percentiles, updated_at).
func (er *exportRow) ownRow(i int) CRMRow {
	c, s := &er.res.Customers[i], &er.scores[i]
	row := CRMRow{CustomerID: c.CustomerID, Segment: c.Segment, RScore: int32(c.RScore), FScore: int32(c.FScore), MScore: int32(c.MScore),
		FirstPurchase: civilDays(c.FirstPurchase(), er.loc), LastPurchase: civilDays(c.LastPurchase(), er.loc),
		Orders: int64(c.Orders), Frequency: int64(c.Frequency), Recency: c.Recency, Tenure: int64(c.TenureDays), MonetaryAvg: c.MonetaryAvg,
		TotalSpend: c.TotalSpendMicros, PAlive: s.PAlive, ChurnRisk: s.ChurnRisk, RiskTier: s.Tier,
		ExpectedPurchases: s.ExpectedPurchases, ExpectedSpend: s.ExpectedSpend, CLV: s.CLV, ScoredAt: er.asOfDays, Model: er.model,
		PAliveP10: s.PAliveP10, PAliveP90: s.PAliveP90, ChurnRiskP10: s.ChurnRiskP10, ChurnRiskP90: s.ChurnRiskP90,
		CLVP10: s.CLVP10, CLVP90: s.CLVP90, PurchasesP10: int32(s.PurchasesP10), PurchasesP90: int32(s.PurchasesP90),
		ModelVersion: er.modelVersion, HorizonDays: int32(er.horizonDays), AsOf: er.asOfDays}
	if !s.NextPurchase.IsZero() {
		d := civilDays(s.NextPurchase, time.UTC)
		row.ExpectedNextPurchase = &d
	}
	if p := er.perk(i); p != "" {
		row.RecommendedPerk = &p
	}
	if a := er.arm(i); a != "" {
		row.Arm = &a
	}
	if why := er.noPerk(i); why != "" {
		row.NoPerkReason = &why
	}
	if note := er.pAliveNote(i); note != "" {
		row.PAliveNote = &note
	}
	return row
}

// writeFeedParquet writes the feed and the delta as Parquet, their row
// groups encoded on every core.
func (er *exportRow) writeFeedParquet(path, deltaPath string) error {
	f, err := warehouse.CreateOutput(path)
	if err != nil {
		return err
	}
	df, err := warehouse.CreateOutput(deltaPath)
	if err != nil {
		f.Abort()
		return err
	}
	opts := parquet.Compression(&warehouse.FastSnappy{})
	w := warehouse.NewParallelParquet[CRMRow](f, night.FeatureRowGroup, runtime.GOMAXPROCS(0), opts)
	dw := warehouse.NewParallelParquet[DeltaRow](df, night.FeatureRowGroup, runtime.GOMAXPROCS(0), opts)
	fail := func(err error) error {
		w.Stop()
		dw.Stop()
		f.Abort()
		df.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	for i := range er.res.Customers {
		row := er.crmRow(i)
		if err := w.Add(row); err != nil {
			return fail(err)
		}
		if er.cmp.delta[i] {
			if err := dw.Add(DeltaRow{CRMRow: row}); err != nil {
				return fail(err)
			}
		}
	}
	for _, id := range er.cmp.gone {
		if err := dw.Add(DeltaRow{CRMRow: CRMRow{CustomerID: id, ScoredAt: er.asOfDays, AsOf: er.asOfDays, UpdatedAt: er.asOfDays,
			ModelVersion: er.modelVersion, HorizonDays: int32(er.horizonDays), Model: er.model}, Deleted: true}); err != nil {
			return fail(err)
		}
	}
	if err := f.CommitAfter(w.Close); err != nil {
		dw.Stop()
		df.Abort()
		return err
	}
	return df.CommitAfter(dw.Close)
}

// writeSegments writes one file per segment (every segment of the table,
// even empty ones, so a marketer's import does not break on a missing
// file) and one per perk; counts gets the customers per segment.
func (er *exportRow) writeSegments(runDir string, counts map[string]int, excel bool) ([]string, error) {
	res, recs := er.res, er.recs
	names := slices.Clone(res.SegmentNames)
	perkSet := map[string]bool{}
	for i := range res.Customers {
		counts[res.Customers[i].Segment]++
		if recs != nil && recs[i].PerkID != "" {
			perkSet[recs[i].PerkID] = true
		}
	}
	for _, n := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	perks := slices.Sorted(maps.Keys(perkSet))
	var files []string
	segFile, perkFile := map[string]int{}, map[string]int{}
	for _, n := range names {
		if _, ok := counts[n]; !ok {
			counts[n] = 0 // every segment of the table has a file, empty or not
		}
		segFile[n] = len(files)
		files = append(files, "segments/"+Slug(n)+".csv")
	}
	for _, p := range perks {
		perkFile[p] = len(files)
		files = append(files, "segments/perk_"+Slug(p)+".csv")
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(runDir, f)
	}
	// All files at once, in one pass over the customers in id order: each
	// file gets its rows in that order, and the rows are read in order.
	err := sheet.WriteFilesAtomic(paths, func(ws []*bufio.Writer) error {
		out := make([]*sheet.SafeCSVWriter, len(ws))
		for i, w := range ws {
			out[i] = sheet.NewSafeCSV(w, excel)
			out[i].Write(segHeader)
		}
		var line []byte
		for i := range res.Customers {
			line = er.appendSegmentLine(line[:0], i)
			out[segFile[res.Customers[i].Segment]].WriteLine(line)
			if recs != nil && recs[i].PerkID != "" {
				out[perkFile[recs[i].PerkID]].WriteLine(line)
			}
		}
		for _, w := range out {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Segment or perk files of an earlier command that this one did not
	// write (a perk no longer in the plan, a re-score without a plan) go:
	// the directory holds this feed's files only.
	old, _ := filepath.Glob(filepath.Join(runDir, "segments", "*.csv"))
	for _, p := range old {
		rel := "segments/" + filepath.Base(p)
		if !slices.Contains(files, rel) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	return files, nil
}

// Slug makes a file name of a segment or perk name: lower case, letters and
// digits, '_' between words ("Can't Lose Them" → "cant_lose_them").
func Slug(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		case r == '\'' || r == '’':
		default:
			under = true
		}
	}
	if b.Len() == 0 {
		return "unnamed"
	}
	return b.String()
}

// crmCol is the position of a column in the CRM feed.
func crmCol(name string) int { return slices.Index(CRMHeader, name) }

// crmNumeric are the CRM columns written as JSON numbers.
var crmNumeric = map[string]bool{"r_score": true, "f_score": true, "m_score": true, "orders": true, "frequency": true,
	"recency": true, "tenure": true, "monetary_avg": true, "total_spend": true, "p_alive": true, "churn_risk": true,
	"expected_purchases": true, "expected_spend": true, "clv": true,
	"p_alive_p10": true, "p_alive_p90": true, "churn_risk_p10": true, "churn_risk_p90": true, "clv_p10": true, "clv_p90": true,
	"purchases_p10": true, "purchases_p90": true, "churn_risk_pct": true, "clv_pct": true, "horizon_days": true}

// crmJSONKeys are the feed's keys as JSON object keys with their colon.
var crmJSONKeys = func() []string {
	out := make([]string, len(CRMHeader))
	for i, k := range CRMHeader {
		kb, _ := json.Marshal(k)
		out[i] = string(kb) + ":"
	}
	return out
}()

// writeCRMJSONLine writes one CRM record as a JSON object: the same keys in
// the same order, numbers as numbers, empty dates and perks as null.
func writeCRMJSONLine(bw *bufio.Writer, rec []string) {
	bw.WriteByte('{')
	for j, k := range CRMHeader {
		if j > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(crmJSONKeys[j])
		switch {
		case crmNumeric[k]:
			bw.WriteString(rec[j])
		case rec[j] == "" && (k == "expected_next_purchase" || k == "recommended_perk"):
			bw.WriteString("null")
		default:
			vb, _ := json.Marshal(rec[j])
			bw.Write(vb)
		}
	}
	bw.WriteString("}\n")
}

// readCRMKeys reads (risk_tier, rfm_segment, recommended_perk) per customer
// from a previous run's crm_scores.csv; a missing run or feed gives nil.
func readCRMKeys(runDir string) (map[string][3]string, error) {
	if runDir == "" {
		return nil, nil
	}
	out := map[string][3]string{}
	crm := []string{"customer_id", "risk_tier", "rfm_segment", "recommended_perk"}
	err := sheet.EachRow(filepath.Join(runDir, "exports", "crm_scores.csv"), sheet.ErrRunFile, crm, nil, func(row sheet.Row) error {
		out[row.Get("customer_id")] = [3]string{row.Get("risk_tier"), row.Get("rfm_segment"), row.Get("recommended_perk")}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return out, err
}
