package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/sheet"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// comparison is this night's feed against the previous run's, customer by
// customer: whether the customer is in the delta, and since when its
// tracked values are what they are.
type comparison struct {
	updated []int32  // per customer: updated_at, the as-of day its tracked values last changed
	delta   []bool   // per customer: new, or its tier, segment or perk changed
	gone    []string // the previous feed's customers not in this one, exact ids, in order
	prevRun string   // the previous run's as-of, "" for none
}

// compare merges this night's customers (in customer_id order) with the
// previous run's feed: its Parquet form when it has one (exact ids, read
// column by column), else its CSV (a run of a churn before the Parquet
// feed: the delta as then, updated_at no older than that run, and no
// tombstones, since the CSV's ids are neutralised).
func (er *exportRow) compare(prevRunDir string) (*comparison, error) {
	n := len(er.res.Customers)
	c := &comparison{updated: make([]int32, n), delta: make([]bool, n)}
	if prevRunDir == "" {
		for i := range c.delta {
			c.delta[i], c.updated[i] = true, er.asOfDays
		}
		return c, nil
	}
	c.prevRun = filepath.Base(prevRunDir)
	prevDay := er.asOfDays
	if t, err := time.Parse(time.DateOnly, c.prevRun); err == nil {
		prevDay = int32(t.Unix() / 86400)
	}
	path := filepath.Join(prevRunDir, "exports", "crm_scores.parquet")
	pf, f, err := warehouse.OpenParquet(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, er.compareCSV(prevRunDir, c, prevDay)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	i := 0
	fresh := func(i int) { c.delta[i], c.updated[i] = true, er.asOfDays }
	err = EachFeedKeys(pf, path, func(g *FeedKeys) error {
		for k := 0; k < g.Len(); k++ {
			id := g.ID(k)
			for i < n && er.res.Customers[i].CustomerID < id {
				fresh(i)
				i++
			}
			if i == n || er.res.Customers[i].CustomerID != id {
				c.gone = append(c.gone, id)
				continue
			}
			row := er.ownRow(i)
			tracked, delta := rowHashes(&row)
			c.delta[i] = delta != g.Delta[k]
			switch {
			case tracked != g.Tracked[k]:
				c.updated[i] = er.asOfDays
			case g.Updated[k] != 0:
				c.updated[i] = g.Updated[k]
			default: // a feed from before updated_at
				c.updated[i] = prevDay
			}
			i++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ; i < n; i++ {
		fresh(i)
	}
	return c, nil
}

// compareCSV is compare against a previous feed that has only its CSV.
func (er *exportRow) compareCSV(prevRunDir string, c *comparison, prevDay int32) error {
	prev, err := readCRMKeys(prevRunDir)
	if err != nil {
		return err
	}
	for i := range er.res.Customers {
		cu, s := &er.res.Customers[i], &er.scores[i]
		k, ok := prev[sheet.NeutraliseCell(cu.CustomerID)]
		same := ok && k == [3]string{s.Tier, sheet.NeutraliseCell(cu.Segment), sheet.NeutraliseCell(er.perk(i))}
		c.delta[i] = !same
		c.updated[i] = er.asOfDays
		if same {
			c.updated[i] = prevDay
		}
	}
	return nil
}

// ModelVersion names a fitted model in the feed: its label and the first
// twelve hex digits of the sha256 of its fitted parameters (purchase,
// spend and risk model), so a refit with other values is a new version
// and the same fit, re-run, the same.
func ModelVersion(mf *night.ModelFile) string {
	b, _ := json.Marshal(struct {
		Purchase map[string]float64
		Spend    *night.FittedModel
		Risk     *night.RiskModel
	}{mf.Params, mf.Spend, mf.Risk})
	sum := sha256.Sum256(b)
	return mf.ModelLabel() + "@" + hex.EncodeToString(sum[:6])
}
