package datasets

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
)

// CampaignOptions add a randomised perk campaign to a synthetic export:
// every customer with a purchase before the send day is sent one perk, or
// is in the control group, at random. A perk brings, with probability
// Effect (by the customer's RFM segment on the day before the send), one
// extra purchase at a uniform time in its window; the baseline purchases
// are those of the BG/NBD process, untouched. So the true uplift of a perk
// for a customer — the rise in P(a purchase in the window) — is
// (1 − p0)·Effect, with p0 = 1 − e^(−λ·window) if the customer is alive at
// the send and 0 otherwise.
type CampaignOptions struct {
	SentAt  time.Time      // the send day, UTC
	Control float64        // share of customers in the control group; default 0.4
	Perks   []CampaignPerk // default DefaultCampaignPerks
	// OwnControls draws each customer's perk first (among the perks it is
	// eligible for) and then holds the share Control of each perk's
	// customers out as that perk's controls, written with the arm column
	// as churn's campaign.csv is; without it, controls are drawn first and
	// pooled (perk_id "control").
	OwnControls bool
}

// CampaignPerk is one perk of a synthetic campaign and its true effect.
type CampaignPerk struct {
	ID         string
	WindowDays int                // outcome window from the send day (the day included)
	Effect     map[string]float64 // P(an extra purchase) per RFM segment
	Default    float64            // for the other segments
	// MinOrders limits the perk to customers with at least this many
	// orders before the send (as a catalog's min_orders does).
	MinOrders int
	// LongTenureEffect, when LongTenureDays > 0, is the effect for the
	// customers whose first purchase is at least LongTenureDays before the
	// send, whatever their segment: an effect that varies within segments
	// (RFM does not look at tenure).
	LongTenureDays   int
	LongTenureEffect float64
}

// DefaultCampaignPerks are three perks of datasets/perks.csv with effects
// that differ by segment.
var DefaultCampaignPerks = []CampaignPerk{
	{ID: "disc15", WindowDays: 30, Default: 0.12, Effect: map[string]float64{"At Risk": 0.25, "Can't Lose Them": 0.3, "Hibernating": 0.06, "Lost": 0.03}},
	{ID: "double_points", WindowDays: 60, Default: 0.05, Effect: map[string]float64{"Champions": 0.12, "Loyal Customers": 0.1}},
	{ID: "free_ship", WindowDays: 90, Default: 0.08, Effect: map[string]float64{"Lost": 0.02}},
}

// Campaign files as written by WriteSynth with a campaign.
const (
	SynthCampaigns     = "campaigns.csv"
	SynthCampaignTruth = "campaign_truth.csv"
)

// addCampaign reads the export Synth wrote to tx and its truth, draws the
// campaign, appends the extra purchases to tx and writes campaigns.csv and
// campaign_truth.csv into dir. It holds the export in memory: it is meant
// for tests and demos, not for 10M-row benchmarks.
func addCampaign(dir string, opt SynthOptions, txCSV, truthCSV []byte, txOut io.Writer) ([]string, error) {
	co := *opt.Campaign
	if co.Control == 0 {
		co.Control = 0.4
	}
	if len(co.Perks) == 0 {
		co.Perks = DefaultCampaignPerks
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x63616d706169676e))
	sendDay := time.Date(co.SentAt.Year(), co.SentAt.Month(), co.SentAt.Day(), 0, 0, 0, 0, time.UTC)
	end := opt.Start.AddDate(0, 0, 7*opt.Weeks)
	for _, p := range co.Perks {
		if sendDay.AddDate(0, 0, p.WindowDays).After(end) || !sendDay.After(opt.Start) {
			return nil, fmt.Errorf("campaign: perk %s's %d-day window from %s leaves the observation (%s to %s)",
				p.ID, p.WindowDays, sendDay.Format(time.DateOnly), opt.Start.Format(time.DateOnly), end.AddDate(0, 0, -1).Format(time.DateOnly))
		}
	}
	// Segments on the day before the send, as churn computes them.
	acc := features.NewAccumulator(features.Options{AsOf: sendDay.AddDate(0, 0, -1), Location: time.UTC, Unit: features.Weeks})
	r := csv.NewReader(bytes.NewReader(txCSV))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	head := true
	var txs []features.Transaction
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if head || err != nil || len(rec) != 5 {
			head = false
			continue // the header, and --dirty's bad rows
		}
		at, err1 := time.Parse(time.RFC3339, rec[2])
		amount, err2 := strconv.ParseFloat(rec[3], 64)
		if err1 != nil || err2 != nil || rec[0] == "" {
			continue
		}
		txs = append(txs, features.Transaction{CustomerID: rec[0], TimeMicros: at.UnixMicro(), AmountMicros: int64(math.Round(amount * 1e6)), Currency: rec[4]})
	}
	// The accumulator takes transactions month by month; the export is by customer.
	slices.SortFunc(txs, func(a, b features.Transaction) int { return cmp.Compare(a.TimeMicros, b.TimeMicros) })
	for _, tx := range txs {
		if err := acc.Add(tx); err != nil {
			return nil, err
		}
	}
	res, err := acc.Finish()
	if err != nil {
		return nil, err
	}
	type latent struct {
		lambda  float64 // per week
		dropped time.Time
	}
	lat := map[string]latent{}
	tr := csv.NewReader(bytes.NewReader(truthCSV))
	rows, err := tr.ReadAll()
	if err != nil {
		return nil, err
	}
	for _, rec := range rows[1:] {
		l, _ := strconv.ParseFloat(rec[1], 64)
		var d time.Time
		if rec[5] != "" {
			d, _ = time.Parse(time.RFC3339, rec[5])
		}
		lat[rec[0]] = latent{lambda: l, dropped: d}
	}

	type cell struct {
		customers, treated int
		uplift             float64
	}
	truth := map[[2]string]*cell{}
	var cb bytes.Buffer
	camp := csv.NewWriter(&cb)
	if co.OwnControls {
		camp.Write([]string{"customer_id", "perk_id", "arm", "sent_at"})
	} else {
		camp.Write([]string{"customer_id", "perk_id", "sent_at"})
	}
	txw := bufio.NewWriter(txOut)
	sent := sendDay.Format(time.DateOnly)
	extra := 0
	for i := range res.Customers {
		c := &res.Customers[i]
		la := lat[c.CustomerID]
		alive := la.dropped.IsZero() || !la.dropped.Before(sendDay)
		var eligible []int
		for k, p := range co.Perks {
			if int(c.Orders) >= p.MinOrders {
				eligible = append(eligible, k)
			}
		}
		if len(eligible) == 0 {
			continue
		}
		arm, control := -1, false
		if co.OwnControls {
			arm = eligible[rng.IntN(len(eligible))]
			control = rng.Float64() < co.Control
		} else if rng.Float64() >= co.Control {
			arm = eligible[rng.IntN(len(eligible))]
		}
		for k, p := range co.Perks {
			if int(c.Orders) < p.MinOrders {
				continue // the truth is of the customers the perk may go to
			}
			v, ok := p.Effect[c.Segment]
			if !ok {
				v = p.Default
			}
			if p.LongTenureDays > 0 && int(c.TenureDays) >= p.LongTenureDays {
				v = p.LongTenureEffect
			}
			p0 := 0.0
			if alive {
				p0 = 1 - math.Exp(-la.lambda*float64(p.WindowDays)/7)
			}
			key := [2]string{p.ID, c.Segment}
			if truth[key] == nil {
				truth[key] = &cell{}
			}
			truth[key].customers++
			truth[key].uplift += (1 - p0) * v
			if k == arm && !control {
				truth[key].treated++
				if rng.Float64() < v {
					extra++
					at := sendDay.Add(time.Duration(rng.Float64() * float64(p.WindowDays) * float64(24*time.Hour))).Truncate(time.Second)
					fmt.Fprintf(txw, "%s,x%09d,%s,%.2f,%s\n", c.CustomerID, extra, at.Format(time.RFC3339), 10.0, opt.Currency)
				}
			}
		}
		switch {
		case co.OwnControls && control:
			camp.Write([]string{c.CustomerID, co.Perks[arm].ID, "control", sent})
		case co.OwnControls:
			camp.Write([]string{c.CustomerID, co.Perks[arm].ID, "treated", sent})
		case arm >= 0:
			camp.Write([]string{c.CustomerID, co.Perks[arm].ID, sent})
		default:
			camp.Write([]string{c.CustomerID, "control", sent})
		}
	}
	camp.Flush()
	if err := txw.Flush(); err != nil {
		return nil, err
	}
	campPath := filepath.Join(dir, SynthCampaigns)
	truthPath := filepath.Join(dir, SynthCampaignTruth)
	if err := os.WriteFile(campPath, cb.Bytes(), 0o644); err != nil {
		return nil, err
	}
	keys := make([][2]string, 0, len(truth))
	for k := range truth {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	var tb bytes.Buffer
	tw := csv.NewWriter(&tb)
	tw.Write([]string{"perk_id", "segment", "customers", "treated", "true_uplift"})
	for _, k := range keys {
		c := truth[k]
		tw.Write([]string{k[0], k[1], strconv.Itoa(c.customers), strconv.Itoa(c.treated), strconv.FormatFloat(c.uplift/float64(c.customers), 'f', 6, 64)})
	}
	tw.Flush()
	if err := os.WriteFile(truthPath, tb.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return []string{campPath, truthPath}, nil
}
