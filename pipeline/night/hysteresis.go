package night

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/parquet-go/parquet-go"
)

// ApplyHysteresis keeps a customer's tier from the previous run while the
// churn risk stays within opt.TierHysteresis of that tier's range: a
// customer moves from medium to high only at TierHigh + h, and back only
// below TierHigh − h. A customer near a threshold then does not change
// tier (and enter the CRM delta) every night on noise. Customers new
// since the previous run, and every customer when there is none
// (prevRunDir "" or without scores.parquet), get the tier of their churn
// risk. It recounts meta.Tiers and sets TiersHeld and TiersFrom.
func ApplyHysteresis(res *features.Result, scores []Score, prevRunDir string, opt ScoreOptions, meta *ScoresMeta) error {
	h := opt.TierHysteresis
	if h <= 0 || prevRunDir == "" {
		return nil
	}
	path := filepath.Join(prevRunDir, "scores.parquet")
	pf, f, err := warehouse.OpenParquet(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// Keep tier p while churn risk is in [lo_p − h, hi_p + h).
	keeps := func(tier string, risk float64) bool {
		switch tier {
		case "low":
			return risk < opt.TierMedium+h
		case "medium":
			return risk >= opt.TierMedium-h && risk < opt.TierHigh+h
		case "high":
			return risk >= opt.TierHigh-h
		}
		return false
	}
	held, i := 0, 0
	err = eachStrings(pf, []string{"customer_id", "risk_tier"}, func(v [][]byte) {
		id := v[0]
		// Both are in customer_id order: advance to the previous row's customer.
		for i < len(res.Customers) && res.Customers[i].CustomerID < string(id) {
			i++
		}
		if i == len(res.Customers) || res.Customers[i].CustomerID != string(id) {
			return // no longer a customer
		}
		s := &scores[i]
		if s.Tier != string(v[1]) && keeps(string(v[1]), s.ChurnRisk) {
			prev := tierName(v[1])
			meta.Tiers[s.Tier]--
			meta.Tiers[prev]++
			s.Tier = prev
			held++
		}
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	meta.TiersHeld, meta.TiersFrom = held, filepath.Base(prevRunDir)
	return nil
}

// tierName is the tier's name without a new string per customer.
func tierName(b []byte) string {
	for _, t := range []string{"low", "medium", "high"} {
		if string(b) == t {
			return t
		}
	}
	return string(b)
}

// eachStrings calls fn with each row's values of the named string columns
// (required, plain or dictionary-encoded), read page by page, column by
// column: no rows are put together. The values are valid during the call.
func eachStrings(pf *parquet.File, names []string, fn func([][]byte)) error {
	idx := make([]int, len(names))
	for k, n := range names {
		leaf, ok := pf.Schema().Lookup(n)
		if !ok {
			return fmt.Errorf("no column %s", n)
		}
		idx[k] = leaf.ColumnIndex
	}
	row := make([][]byte, len(names))
	for _, rg := range pf.RowGroups() {
		n := int(rg.NumRows())
		cols := make([][][]byte, len(names))
		for k, c := range idx {
			vals, err := stringColumn(rg.ColumnChunks()[c], n)
			if err != nil {
				return fmt.Errorf("column %s: %w", names[k], err)
			}
			cols[k] = vals
		}
		for r := 0; r < n; r++ {
			for k := range cols {
				row[k] = cols[k][r]
			}
			fn(row)
		}
	}
	return nil
}

// stringColumn is the n values of a required byte-array column chunk.
func stringColumn(chunk parquet.ColumnChunk, n int) ([][]byte, error) {
	var buf []byte
	ends := make([]int, 0, n)
	_, err := warehouse.EachPage(chunk, func(p parquet.Page, _ int) error {
		ba := warehouse.PageByteArrays(p)
		rows := int(p.NumRows())
		for r := 0; r < rows; r++ {
			e, ok := ba.Entry(r)
			if !ok {
				return fmt.Errorf("a page of %d rows holds fewer values", rows)
			}
			// Copied: the page's memory goes back to its pool.
			buf = append(buf, ba.Value(e)...)
			ends = append(ends, len(buf))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ends) != n {
		return nil, fmt.Errorf("%d values, want %d", len(ends), n)
	}
	out := make([][]byte, n)
	start := 0
	for r, end := range ends {
		out[r], start = buf[start:end:end], end
	}
	return out, nil
}
