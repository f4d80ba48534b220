package export

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/parquet-go/parquet-go"
)

// TrackedColumns are the feed's values whose change makes a customer's row
// changed: its updated_at moves, and the PostgreSQL table rewrites it.
// They are what a customer did and what the retention team acts on. The
// scores that move every night by the calendar alone (tenure, p_alive,
// churn_risk, CLV, their intervals and percentiles) do not make a row
// changed, so a CRM billed per data point written is not sent every
// customer every night.
var TrackedColumns = []string{"rfm_segment", "r_score", "f_score", "m_score", "first_purchase", "last_purchase",
	"orders", "frequency", "total_spend", "risk_tier", "recommended_perk", "model"}

// deltaColumns are the values whose change puts a customer in the CRM
// delta (DESIGN.md): tier, segment, perk.
var deltaColumns = []string{"risk_tier", "rfm_segment", "recommended_perk"}

// A row's hash over some of its columns: each value folded into the
// row's state in the columns' order (strings by their FNV-1a hash,
// integers and dates by their value, a null as its own constant). The
// feed's Parquet form, read column by column, and a row in memory give
// the same hash.
const (
	hashSeed  = 0xcbf29ce484222325
	hashNull  = 0x6e756c6c6e756c6c
	fnvPrime  = 0x100000001b3
	mixFactor = 0x9e3779b97f4a7c15
)

func mix(h, v uint64) uint64 { return bits.RotateLeft64((h^v)*mixFactor, 29) }

func fnvBytes(b []byte) uint64 {
	h := uint64(hashSeed)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h ^ uint64(len(b))
}

func fnvString(s string) uint64 {
	h := uint64(hashSeed)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h ^ uint64(len(s))
}

// rowHashes are the tracked and delta hashes of a feed row in memory.
func rowHashes(r *CRMRow) (tracked, delta uint64) {
	perk := uint64(hashNull)
	if r.RecommendedPerk != nil {
		perk = fnvString(*r.RecommendedPerk)
	}
	seg, tier := fnvString(r.Segment), fnvString(r.RiskTier)
	tracked = hashSeed
	for _, v := range []uint64{seg, uint64(int64(r.RScore)), uint64(int64(r.FScore)), uint64(int64(r.MScore)),
		uint64(int64(r.FirstPurchase)), uint64(int64(r.LastPurchase)), uint64(r.Orders), uint64(r.Frequency),
		uint64(r.TotalSpend), tier, perk, fnvString(r.Model)} {
		tracked = mix(tracked, v)
	}
	delta = mix(mix(mix(hashSeed, tier), seg), perk)
	return tracked, delta
}

// FeedKeys are what the next night and the PostgreSQL sink read of one
// row group of a feed's Parquet form, column by column (no row is put
// together): the exact ids, each row's tracked and delta hashes, its
// updated_at (days since 1970; 0 when the feed has none), and its churn
// risk and CLV.
type FeedKeys struct {
	ids            []byte
	offs           []uint32 // id k is ids[offs[k]:offs[k+1]]
	Tracked, Delta []uint64
	Updated        []int32
	Risk, CLV      []float64
}

// Len is the number of rows.
func (g *FeedKeys) Len() int { return len(g.offs) - 1 }

// ID is row k's customer_id.
func (g *FeedKeys) ID(k int) string { return string(g.ids[g.offs[k]:g.offs[k+1]]) }

// EachFeedKeys calls fn with each row group's keys, in order; the keys
// are reused by the next call.
func EachFeedKeys(pf *parquet.File, path string, fn func(*FeedKeys) error) error {
	schema := pf.Schema()
	index := func(name string) (int, bool) {
		leaf, ok := schema.Lookup(name)
		return leaf.ColumnIndex, ok
	}
	type target struct {
		name string
		into func(g *FeedKeys) []uint64
	}
	var cols []target
	cols = append(cols, target{"customer_id", nil}, target{"churn_risk", nil}, target{"clv", nil}, target{"updated_at", nil})
	for _, c := range TrackedColumns {
		cols = append(cols, target{c, func(g *FeedKeys) []uint64 { return g.Tracked }})
	}
	for _, c := range deltaColumns {
		cols = append(cols, target{c, func(g *FeedKeys) []uint64 { return g.Delta }})
	}
	var g FeedKeys
	for _, rg := range pf.RowGroups() {
		n := int(rg.NumRows())
		g.Tracked, g.Delta = seeded(g.Tracked, n), seeded(g.Delta, n)
		g.Updated = slices.Grow(g.Updated[:0], n)[:n]
		clear(g.Updated)
		g.ids, g.offs = g.ids[:0], append(g.offs[:0], 0)
		g.Risk, g.CLV = g.Risk[:0], g.CLV[:0]
		chunks := rg.ColumnChunks()
		for _, c := range cols {
			i, ok := index(c.name)
			if !ok {
				if c.name == "updated_at" {
					continue // a feed from before updated_at
				}
				return fmt.Errorf("%w: %s has no column %s", sheet.ErrRunFile, path, c.name)
			}
			var into []uint64
			if c.into != nil {
				into = c.into(&g)
			}
			if err := g.readColumn(chunks[i], c.name, into, n); err != nil {
				return fmt.Errorf("%w: %s column %s: %v", sheet.ErrRunFile, path, c.name, err)
			}
		}
		if g.Len() != n || len(g.Risk) != n || len(g.CLV) != n {
			return fmt.Errorf("%w: %s: a row group of %d rows has %d ids", sheet.ErrRunFile, path, n, g.Len())
		}
		if err := fn(&g); err != nil {
			return err
		}
	}
	return nil
}

func seeded(h []uint64, n int) []uint64 {
	h = slices.Grow(h[:0], n)[:n]
	for i := range h {
		h[i] = hashSeed
	}
	return h
}

// readColumn reads one column chunk of n rows: the ids, the ranked
// values, updated_at, or a column folded into the hashes into.
func (g *FeedKeys) readColumn(chunk parquet.ColumnChunk, name string, into []uint64, n int) error {
	rows, err := warehouse.EachPage(chunk, func(p parquet.Page, row int) error { return g.page(p, name, into, row) })
	if err == nil && rows != n {
		err = fmt.Errorf("%d rows, want %d", rows, n)
	}
	return err
}

// page takes one page of column name, whose first row is row.
func (g *FeedKeys) page(p parquet.Page, name string, into []uint64, row int) error {
	rows := int(p.NumRows())
	defs := p.DefinitionLevels()
	data := p.Data()
	short := func(k int) error { return fmt.Errorf("page of %d rows holds %d values", rows, k) }
	switch p.Type().Kind() {
	case parquet.ByteArray:
		ba := warehouse.PageByteArrays(p)
		var dictHash []uint64 // per dictionary entry
		if ba.Indexes != nil && into != nil {
			dictHash = make([]uint64, len(ba.Offsets)-1)
			for k := range dictHash {
				dictHash[k] = fnvBytes(ba.Value(k))
			}
		}
		k := 0
		for r := 0; r < rows; r++ {
			if defs != nil && defs[r] == 0 {
				if into == nil {
					return fmt.Errorf("row %d is null", row+r)
				}
				into[row+r] = mix(into[row+r], hashNull)
				continue
			}
			e, ok := ba.Entry(k)
			if !ok {
				return short(k)
			}
			k++
			switch {
			case into == nil: // customer_id
				g.ids = append(g.ids, ba.Value(e)...)
				g.offs = append(g.offs, uint32(len(g.ids)))
			case dictHash != nil:
				into[row+r] = mix(into[row+r], dictHash[e])
			default:
				into[row+r] = mix(into[row+r], fnvBytes(ba.Value(e)))
			}
		}
	case parquet.Int32:
		v := data.Int32()
		if defs != nil || len(v) < rows {
			return short(len(v))
		}
		for r, x := range v[:rows] {
			if into == nil { // updated_at
				g.Updated[row+r] = x
			} else {
				into[row+r] = mix(into[row+r], uint64(int64(x)))
			}
		}
	case parquet.Int64:
		v := data.Int64()
		if defs != nil || len(v) < rows || into == nil {
			return short(len(v))
		}
		for r, x := range v[:rows] {
			into[row+r] = mix(into[row+r], uint64(x))
		}
	case parquet.Double:
		v := data.Double()
		if defs != nil || len(v) < rows {
			return short(len(v))
		}
		switch name {
		case "churn_risk":
			g.Risk = append(g.Risk, v[:rows]...)
		case "clv":
			g.CLV = append(g.CLV, v[:rows]...)
		default:
			for r, x := range v[:rows] {
				into[row+r] = mix(into[row+r], math.Float64bits(x))
			}
		}
	default:
		return fmt.Errorf("unexpected type %s", p.Type())
	}
	return nil
}

// RankPercent is ⌊100 · #{v_j < v_i} / n⌋ for each i: the share of
// customers with a strictly lower value, in whole per cent (0–99; ties
// share the lower), as Optimove and Segment expose a score's rank. With
// the values sorted, that is the number of the 99 thresholds
// s[⌈p·n/100⌉ − 1] (p = 1…99) that v is above.
func RankPercent(v []float64) []int16 {
	n := len(v)
	out := make([]int16, n)
	if n == 0 {
		return out
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	var thresholds [99]float64
	for p := 1; p <= 99; p++ {
		thresholds[p-1] = sorted[(p*n+99)/100-1]
	}
	for i, x := range v {
		lo, hi := 0, len(thresholds) // the first threshold not below x
		for lo < hi {
			m := (lo + hi) / 2
			if thresholds[m] < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		out[i] = int16(lo)
	}
	return out
}
