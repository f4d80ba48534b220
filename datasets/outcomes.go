package datasets

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"
)

// PlanOutcomes simulates what a plan's perks did: for each treated row of
// a campaign.csv (customer_id, perk_id, arm, sent_at), with probability
// Effect[perk_id], one extra purchase of Amount at a uniform time within
// the perk's window (WindowDays[perk_id] days from the send day). Controls
// and everyone's own purchases are left alone, so a perk's true effect is
// exactly Effect extra purchases, Effect × Amount of revenue, per treated
// customer. It writes the extra purchases as an export (customer_id,
// order_id, ordered_at, amount, currency) and returns how many it wrote.
type PlanOutcomes struct {
	Effect     map[string]float64
	WindowDays map[string]int
	Amount     float64
	Currency   string
	Seed       uint64
}

// Write reads campaign and writes the extra purchases to out.
func (o PlanOutcomes) Write(campaign string, out io.Writer) (int, error) {
	f, err := os.Open(campaign)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	rows, err := r.ReadAll()
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 || len(rows[0]) != 4 || rows[0][2] != "arm" {
		return 0, fmt.Errorf("%s: want customer_id,perk_id,arm,sent_at", campaign)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6f7574636f6d65))
	w := csv.NewWriter(out)
	w.Write([]string{"customer_id", "order_id", "ordered_at", "amount", "currency"})
	n := 0
	for _, row := range rows[1:] {
		id, perk, arm, sent := row[0], row[1], row[2], row[3]
		day, err := time.Parse(time.DateOnly, sent)
		if err != nil {
			return n, fmt.Errorf("%s: sent_at %q", campaign, sent)
		}
		if arm != "treated" || rng.Float64() >= o.Effect[perk] {
			continue
		}
		// Strictly inside the window's days (D, D + W], D the day before the send.
		at := day.Add(time.Duration(rng.Float64() * float64(o.WindowDays[perk]-1) * float64(24*time.Hour))).Add(12 * time.Hour)
		n++
		w.Write([]string{id, fmt.Sprintf("perk-%09d", n), at.UTC().Format(time.RFC3339), fmt.Sprintf("%.2f", o.Amount), o.Currency})
	}
	w.Flush()
	return n, w.Error()
}
