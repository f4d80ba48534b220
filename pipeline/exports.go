package pipeline

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
)

// CRMHeader is the CRM feed's header; the order is a contract (DESIGN.md).
var CRMHeader = []string{"customer_id", "rfm_segment", "r_score", "f_score", "m_score", "first_purchase", "last_purchase",
	"orders", "frequency", "recency", "tenure", "monetary_avg", "total_spend", "p_alive", "churn_risk",
	"risk_tier", "expected_purchases", "expected_spend", "expected_next_purchase", "clv",
	"recommended_perk", "scored_at", "model"}

// Recommendation is the perk chosen for one customer ("" for none).
type Recommendation struct {
	PerkID string
	Reason string
}

// ExportOptions shape the files people open.
type ExportOptions struct {
	Excel    bool   // start every CSV with a UTF-8 byte-order mark
	Timezone string // reporting time zone of dates (default UTC)
}

// Exports is what WriteExports wrote.
type Exports struct {
	Files         []string // paths relative to the run directory
	DeltaRows     int
	PreviousRun   string // as-of of the run the delta compares with; "" on the first run
	SegmentCounts map[string]int
}

// exportRow builds one customer's CRM record as strings.
type exportRow struct {
	res      *features.Result
	scores   []Score
	recs     []Recommendation
	loc      *time.Location
	dec      int
	scoredAt string
	model    string
}

func (e *exportRow) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(e.loc).Format(time.DateOnly)
}

func (e *exportRow) money(v float64) string { return strconv.FormatFloat(v, 'f', e.dec, 64) }

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
	return []string{c.CustomerID, c.Segment, strconv.Itoa(c.RScore), strconv.Itoa(c.FScore), strconv.Itoa(c.MScore),
		e.date(c.FirstPurchase), e.date(c.LastPurchase), strconv.FormatInt(c.Orders, 10), strconv.FormatInt(c.Frequency, 10),
		f4(c.Recency), strconv.FormatInt(c.TenureDays, 10), e.money(c.MonetaryAvg), FormatAmount(c.TotalSpendMicros, e.dec),
		f4(s.PAlive), f4(s.ChurnRisk), s.Tier, f4(s.ExpectedPurchases), e.money(s.ExpectedSpend), next, e.money(s.CLV),
		e.perk(i), e.scoredAt, e.model}
}

// WriteExports writes exports/crm_scores.csv, exports/crm_scores.jsonl,
// exports/crm_delta.csv and segments/*.csv into runDir. prevRunDir is the
// previous run's directory ("" for none): the delta holds the customers
// whose risk tier, segment or recommended perk differ from it, and new
// customers. recs may be nil (no plan yet).
func WriteExports(runDir, prevRunDir string, res *features.Result, scores []Score, recs []Recommendation, mf *ModelFile, opt ExportOptions) (*Exports, error) {
	loc, err := reportingZone(opt.Timezone)
	if err != nil {
		return nil, err
	}
	dec := 2
	if len(res.Currencies) == 1 {
		dec = CurrencyDecimals(res.Currencies[0])
	}
	er := &exportRow{res: res, scores: scores, recs: recs, loc: loc, dec: dec,
		scoredAt: res.AsOf.Format(time.DateOnly), model: mf.ModelLabel()}
	out := &Exports{SegmentCounts: map[string]int{}}
	write := func(rel string, fn func(w *SafeCSVWriter) error) error {
		out.Files = append(out.Files, rel)
		return writeCSV(filepath.Join(runDir, rel), opt.Excel, fn)
	}

	prev, err := readCRMKeys(prevRunDir)
	if err != nil {
		return nil, err
	}
	if prevRunDir != "" {
		out.PreviousRun = filepath.Base(prevRunDir)
	}
	// The feed, its JSON Lines twin and the delta in one pass: each record
	// is formatted once.
	feedFiles := []string{"exports/crm_scores.csv", "exports/crm_scores.jsonl", "exports/crm_delta.csv"}
	paths := make([]string, len(feedFiles))
	for i, f := range feedFiles {
		paths[i] = filepath.Join(runDir, f)
	}
	out.Files = append(out.Files, feedFiles...)
	id, seg, tier, perk := crmCol("customer_id"), crmCol("rfm_segment"), crmCol("risk_tier"), crmCol("recommended_perk")
	err = writeFilesAtomic(paths, func(ws []*bufio.Writer) error {
		feed, delta := newSafeCSV(ws[0], opt.Excel), newSafeCSV(ws[2], opt.Excel)
		feed.Write(CRMHeader)
		delta.Write(CRMHeader)
		for i := range res.Customers {
			rec := er.record(i)
			feed.Write(rec)
			writeCRMJSONLine(ws[1], rec)
			// Compare what the file holds: the neutralised id, tier, segment, perk.
			k, ok := prev[NeutraliseCell(rec[id])]
			if ok && k == [3]string{rec[tier], NeutraliseCell(rec[seg]), NeutraliseCell(rec[perk])} {
				continue
			}
			out.DeltaRows++
			delta.Write(rec)
		}
		if err := feed.Flush(); err != nil {
			return err
		}
		return delta.Flush()
	})
	if err != nil {
		return nil, err
	}

	// One file per segment (every segment of the table, even empty ones, so
	// a marketer's import does not break on a missing file), one per perk.
	segHeader := []string{"customer_id", "rfm_segment", "last_purchase", "orders", "total_spend", "churn_risk", "risk_tier", "clv", "recommended_perk", "reason"}
	segRow := func(i int) []string {
		c := &res.Customers[i]
		s := &scores[i]
		reason := ""
		if recs != nil {
			reason = recs[i].Reason
		}
		return []string{c.CustomerID, c.Segment, er.date(c.LastPurchase), strconv.FormatInt(c.Orders, 10),
			FormatAmount(c.TotalSpendMicros, dec), strconv.FormatFloat(s.ChurnRisk, 'f', 4, 64), s.Tier, er.money(s.CLV), er.perk(i), reason}
	}
	bySeg := map[string][]int{}
	for i := range res.Customers {
		bySeg[res.Customers[i].Segment] = append(bySeg[res.Customers[i].Segment], i)
	}
	names := res.SegmentNames
	for n := range bySeg {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, name := range names {
		out.SegmentCounts[name] = len(bySeg[name])
		if err := write("segments/"+Slug(name)+".csv", func(w *SafeCSVWriter) error {
			if err := w.Write(segHeader); err != nil {
				return err
			}
			for _, i := range bySeg[name] {
				if err := w.Write(segRow(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if recs != nil {
		byPerk := map[string][]int{}
		for i := range recs {
			if recs[i].PerkID != "" {
				byPerk[recs[i].PerkID] = append(byPerk[recs[i].PerkID], i)
			}
		}
		perks := make([]string, 0, len(byPerk))
		for p := range byPerk {
			perks = append(perks, p)
		}
		slices.Sort(perks)
		for _, p := range perks {
			if err := write("segments/perk_"+Slug(p)+".csv", func(w *SafeCSVWriter) error {
				if err := w.Write(segHeader); err != nil {
					return err
				}
				for _, i := range byPerk[p] {
					if err := w.Write(segRow(i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
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

// writeFilesAtomic writes several files in one pass through buffered
// writers; each becomes visible (AtomicFile) only if fn and every flush
// succeed.
func writeFilesAtomic(paths []string, fn func(ws []*bufio.Writer) error) error {
	var files []*AtomicFile
	abort := func(err error) error {
		for _, f := range files {
			f.Abort()
		}
		return err
	}
	ws := make([]*bufio.Writer, len(paths))
	for i, p := range paths {
		f, err := CreateAtomic(p)
		if err != nil {
			return abort(err)
		}
		files = append(files, f)
		ws[i] = bufio.NewWriterSize(f, 1<<16)
	}
	if err := fn(ws); err != nil {
		return abort(fmt.Errorf("write %s: %w", paths[0], err))
	}
	for i, w := range ws {
		if err := w.Flush(); err != nil {
			return abort(fmt.Errorf("write %s: %w", paths[i], err))
		}
	}
	for i, f := range files {
		if err := f.Commit(); err != nil {
			return abort(err)
		}
		files[i] = nil
	}
	return nil
}

// newSafeCSV starts a spreadsheet-safe CSV on w, with a UTF-8 byte-order
// mark if asked. A write error surfaces at Flush.
func newSafeCSV(w *bufio.Writer, bom bool) *SafeCSVWriter {
	if bom {
		w.WriteString("\ufeff")
	}
	return NewSafeCSVWriter(w)
}

// writeCSV writes one spreadsheet-safe CSV atomically, with a BOM if asked.
func writeCSV(path string, bom bool, fn func(w *SafeCSVWriter) error) error {
	return writeFilesAtomic([]string{path}, func(ws []*bufio.Writer) error {
		w := newSafeCSV(ws[0], bom)
		if err := fn(w); err != nil {
			return err
		}
		return w.Flush()
	})
}

// crmCol is the position of a column in the CRM feed.
func crmCol(name string) int { return slices.Index(CRMHeader, name) }

// crmNumeric are the CRM columns written as JSON numbers.
var crmNumeric = map[string]bool{"r_score": true, "f_score": true, "m_score": true, "orders": true, "frequency": true,
	"recency": true, "tenure": true, "monetary_avg": true, "total_spend": true, "p_alive": true, "churn_risk": true,
	"expected_purchases": true, "expected_spend": true, "clv": true}

// writeCRMJSONLine writes one CRM record as a JSON object: the same keys in
// the same order, numbers as numbers, empty dates and perks as null.
func writeCRMJSONLine(bw *bufio.Writer, rec []string) {
	bw.WriteByte('{')
	for j, k := range CRMHeader {
		if j > 0 {
			bw.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		bw.Write(kb)
		bw.WriteByte(':')
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
// from a previous run's crm_scores.csv; a missing run gives an empty map.
func readCRMKeys(runDir string) (map[string][3]string, error) {
	out := map[string][3]string{}
	if runDir == "" {
		return out, nil
	}
	crm := []string{"customer_id", "risk_tier", "rfm_segment", "recommended_perk"}
	err := eachCSVRow(filepath.Join(runDir, "exports", "crm_scores.csv"), errRunFile, crm, nil, func(row csvRow) error {
		out[row.get("customer_id")] = [3]string{row.get("risk_tier"), row.get("rfm_segment"), row.get("recommended_perk")}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	return out, err
}

// PreviousRun returns the directory of the latest run before asOf that has a
// CRM feed, or "".
func (w *Warehouse) PreviousRun(asOf string) string {
	entries, err := os.ReadDir(w.path("runs"))
	if err != nil {
		return ""
	}
	best := ""
	for _, e := range entries {
		n := e.Name()
		if _, err := time.Parse(time.DateOnly, n); err != nil || n >= asOf {
			continue
		}
		if _, err := os.Stat(filepath.Join(w.path("runs", n), "exports", "crm_scores.csv")); err == nil && n > best {
			best = n
		}
	}
	if best == "" {
		return ""
	}
	return w.path("runs", best)
}
