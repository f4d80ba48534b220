package features

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// ScoreRange is the span of a metric among the customers with one score.
type ScoreRange struct {
	Score     int     `json:"score"`
	Customers int     `json:"customers"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
}

// RFMCuts are the cut points of one run's RFM scores, written next to the
// features so a marketer can read what a score means.
type RFMCuts struct {
	// RecencyDays: days since the last purchase (fewer = higher score).
	RecencyDays []ScoreRange `json:"recency_days"`
	// Orders: purchases up to the as-of date.
	Orders []ScoreRange `json:"orders"`
	// Spend: total purchases, in currency units.
	Spend []ScoreRange `json:"spend"`
}

// quintiles are one metric's score cuts. A value's score is 1 + ⌊5·(number
// of strictly smaller values)/n⌋: quintiles by rank, equal values always
// equal scores, deterministic. As the score grows with the value, it is 1 +
// the number of cuts at or below the value.
type quintiles struct {
	cuts  []int64 // cuts[s−2]: the smallest value that scores s or more
	bands [5]struct {
		n        int
		min, max int64
	}
}

// quintilesOf sorts vals and finds their cuts and the span of each score.
func quintilesOf(vals []int64) quintiles {
	sortInt64s(vals)
	var q quintiles
	n := len(vals)
	below := 0
	for k, v := range vals {
		if k > 0 && v != vals[k-1] {
			below = k
		}
		s := 1 + 5*below/n
		for len(q.cuts) < s-1 {
			q.cuts = append(q.cuts, v)
		}
		b := &q.bands[s-1]
		if b.n == 0 {
			b.min = v
		}
		b.max = v
		b.n++
	}
	return q
}

// sortInt64s sorts vals in ascending order: by counting when they span
// fewer values than there are (days, orders), else by an LSD radix sort on
// 11-bit digits of v − min, with no pass for digits all values share.
func sortInt64s(vals []int64) {
	if len(vals) < 1<<12 {
		slices.Sort(vals)
		return
	}
	lo := slices.Min(vals)
	span := uint64(slices.Max(vals)) - uint64(lo)
	if span < uint64(len(vals)) {
		counts := make([]int, span+1)
		for _, v := range vals {
			counts[uint64(v)-uint64(lo)]++
		}
		i := 0
		for d, c := range counts {
			for ; c > 0; c-- {
				vals[i] = lo + int64(d)
				i++
			}
		}
		return
	}
	const digit = 11
	src, dst := vals, make([]int64, len(vals))
	for shift := 0; shift < bits.Len64(span); shift += digit {
		var next [1 << digit]int
		for _, v := range src {
			next[(uint64(v)-uint64(lo))>>shift&(1<<digit-1)]++
		}
		if next[(uint64(src[0])-uint64(lo))>>shift&(1<<digit-1)] == len(src) {
			continue
		}
		sum := 0
		for d, c := range next {
			next[d] = sum
			sum += c
		}
		for _, v := range src {
			d := (uint64(v) - uint64(lo)) >> shift & (1<<digit - 1)
			dst[next[d]] = v
			next[d]++
		}
		src, dst = dst, src
	}
	copy(vals, src)
}

func (q *quintiles) score(v int64) int {
	s := 1
	for _, c := range q.cuts {
		if v >= c {
			s++
		}
	}
	return s
}

// ranges are the bands as a marketer reads them, display turning a value
// into the unit shown (it may reverse the order, as for recency).
func (q *quintiles) ranges(display func(int64) float64) []ScoreRange {
	out := make([]ScoreRange, 5)
	for s := range out {
		b := q.bands[s]
		out[s] = ScoreRange{Score: s + 1, Customers: b.n}
		if b.n > 0 {
			lo, hi := display(b.min), display(b.max)
			out[s].Min, out[s].Max = min(lo, hi), max(lo, hi)
		}
	}
	return out
}

// SegmentRule names the customers whose scores fall in its ranges. A zero
// range matches any score. FM is the mean of F and M rounded half up.
type SegmentRule struct {
	Name        string
	R, F, M, FM [2]int // inclusive [lo, hi]; {0, 0} = any
}

func (r SegmentRule) matches(rs, fs, ms int) bool {
	fm := (fs + ms + 1) / 2
	in := func(rg [2]int, v int) bool { return rg == [2]int{} || (v >= rg[0] && v <= rg[1]) }
	return in(r.R, rs) && in(r.F, fs) && in(r.M, ms) && in(r.FM, fm)
}

// SegmentTable maps every (r, f, m) score triple to exactly one segment:
// the first rule that matches.
type SegmentTable struct {
	Rules []SegmentRule
	// lookup[r-1][f-1][m-1] is the segment name.
	lookup [5][5][5]string
}

// The default segment names.
const (
	Champions         = "Champions"
	LoyalCustomers    = "Loyal Customers"
	PotentialLoyalist = "Potential Loyalist"
	NewCustomers      = "New Customers"
	Promising         = "Promising"
	NeedAttention     = "Need Attention"
	AboutToSleep      = "About To Sleep"
	AtRisk            = "At Risk"
	CantLoseThem      = "Can't Lose Them"
	Hibernating       = "Hibernating"
	Lost              = "Lost"
)

// defaultGrid is the default table on R (rows, 5 first) and FM = round((F+M)/2)
// (columns, 1 first), the widely used eleven-segment RFM map.
var defaultGrid = [5][5]string{
	/* R5 */ {NewCustomers, PotentialLoyalist, PotentialLoyalist, Champions, Champions},
	/* R4 */ {Promising, PotentialLoyalist, PotentialLoyalist, LoyalCustomers, Champions},
	/* R3 */ {AboutToSleep, NeedAttention, NeedAttention, LoyalCustomers, LoyalCustomers},
	/* R2 */ {Hibernating, AboutToSleep, AtRisk, AtRisk, CantLoseThem},
	/* R1 */ {Lost, Hibernating, AtRisk, CantLoseThem, CantLoseThem},
}

// DefaultSegments returns the default table: one rule per cell of the R × FM grid.
func DefaultSegments() *SegmentTable {
	var rules []SegmentRule
	for row := 0; row < 5; row++ {
		r := 5 - row
		for col := 0; col < 5; col++ {
			fm := col + 1
			rules = append(rules, SegmentRule{Name: defaultGrid[row][col], R: [2]int{r, r}, FM: [2]int{fm, fm}})
		}
	}
	t, err := NewSegmentTable(rules)
	if err != nil {
		panic(err) // the default table is complete by construction
	}
	return t
}

// NewSegmentTable checks that every one of the 125 score triples matches a
// rule, and builds the lookup.
func NewSegmentTable(rules []SegmentRule) (*SegmentTable, error) {
	t := &SegmentTable{Rules: rules}
	var missing []string
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				for _, rule := range rules {
					if rule.matches(r, f, m) {
						t.lookup[r-1][f-1][m-1] = rule.Name
						break
					}
				}
				if t.lookup[r-1][f-1][m-1] == "" {
					missing = append(missing, fmt.Sprintf("%d%d%d", r, f, m))
				}
			}
		}
	}
	if len(missing) > 0 {
		if len(missing) > 10 {
			missing = append(missing[:10], "…")
		}
		return nil, fmt.Errorf("segment table: no rule matches r,f,m = %s", strings.Join(missing, " "))
	}
	return t, nil
}

// Segment returns the segment of a score triple.
func (t *SegmentTable) Segment(r, f, m int) string { return t.lookup[r-1][f-1][m-1] }

// Names lists the segment names in the order of their first rule.
func (t *SegmentTable) Names() []string {
	var out []string
	for _, r := range t.Rules {
		if !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}

// ParseScoreRange reads "4-5", "3" or "" (any).
func ParseScoreRange(s string) ([2]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return [2]int{}, nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 1 || b > 5 || a > b {
		return [2]int{}, fmt.Errorf("score range %q: want N or N-M with 1 ≤ N ≤ M ≤ 5", s)
	}
	return [2]int{a, b}, nil
}
