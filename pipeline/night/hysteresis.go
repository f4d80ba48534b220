package night

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/churnhq/churn/features"

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
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	type prevTier struct {
		CustomerID string `parquet:"customer_id"`
		RiskTier   string `parquet:"risk_tier"`
	}
	r := parquet.NewGenericReader[prevTier](f)
	defer r.Close()
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
	buf := make([]prevTier, 4096)
	for {
		n, err := r.Read(buf)
		for _, p := range buf[:n] {
			// Both are in customer_id order: advance to p's customer.
			for i < len(res.Customers) && res.Customers[i].CustomerID < p.CustomerID {
				i++
			}
			if i == len(res.Customers) || res.Customers[i].CustomerID != p.CustomerID {
				continue // p is no longer a customer
			}
			s := &scores[i]
			if s.Tier != p.RiskTier && keeps(p.RiskTier, s.ChurnRisk) {
				meta.Tiers[s.Tier]--
				meta.Tiers[p.RiskTier]++
				s.Tier = p.RiskTier
				held++
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if n == 0 {
			break
		}
	}
	meta.TiersHeld, meta.TiersFrom = held, filepath.Base(prevRunDir)
	return nil
}
