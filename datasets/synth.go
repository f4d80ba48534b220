package datasets

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// SynthOptions describe a synthetic customer base drawn from the BG/NBD
// purchase process (Fader, Hardie & Lee 2005) with Gamma-Gamma spend.
// Rates are per week. The zero value of each field means its default.
type SynthOptions struct {
	Customers int       // default 1000
	Seed      uint64    // the same seed gives the same bytes
	Start     time.Time // first day of the observation; default 2024-01-01
	Weeks     int       // observation length; default 104
	// AcquisitionWeeks spreads first purchases uniformly over the first weeks; default 12.
	AcquisitionWeeks float64
	// BG/NBD: λ ~ Gamma(R, rate Alpha) purchases per week, dropout p ~ Beta(A, B).
	R, Alpha, A, B float64 // default 0.25, 4, 0.8, 2.5 (near CDNOW's)
	// Gamma-Gamma: spend per order ~ Gamma(P, rate ν), ν ~ Gamma(Q, rate Gamma).
	P, Q, Gamma float64 // default 6.25, 3.74, 15.44 (CDNOW's)
	// RefundRate is the share of orders followed by a partial refund row.
	RefundRate float64
	// ZeroRate is the share of orders with amount 0 (free promotional orders).
	ZeroRate float64
	// Dirty adds bad rows, of every quarantine kind in turn, after this share of rows.
	Dirty float64
	// PeriodWeeks is the length of the periods counted in the truth file; default 13.
	PeriodWeeks int
	// Currency of the amounts; default EUR.
	Currency string
	// Campaign, when set, adds a randomised perk campaign (campaigns.csv)
	// with known true uplift per perk and segment (campaign_truth.csv).
	Campaign *CampaignOptions `json:",omitempty"`
}

func (o *SynthOptions) defaults() {
	if o.Customers == 0 {
		o.Customers = 1000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Weeks == 0 {
		o.Weeks = 104
	}
	if o.AcquisitionWeeks == 0 {
		o.AcquisitionWeeks = 12
	}
	if o.R == 0 {
		o.R, o.Alpha, o.A, o.B = 0.25, 4, 0.8, 2.5
	}
	if o.P == 0 {
		o.P, o.Q, o.Gamma = 6.25, 3.74, 15.44
	}
	if o.PeriodWeeks == 0 {
		o.PeriodWeeks = 13
	}
	if o.Currency == "" {
		o.Currency = "EUR"
	}
}

// synthCustomer is the ground truth of one synthetic customer.
type synthCustomer struct {
	ID         string
	Lambda     float64   // purchases per week while alive
	PDrop      float64   // dropout probability after each repeat purchase
	Nu         float64   // Gamma-Gamma rate: mean spend per order is P/Nu
	First      time.Time // first purchase
	DroppedAt  time.Time // zero if still alive at the end
	Purchases  []int     // purchases (the first included) in each period of PeriodWeeks
	TotalSpend float64
}

// Synth files as written by WriteSynth.
const (
	SynthTransactions = "transactions.csv"
	SynthTruth        = "truth.csv"
	SynthParams       = "truth.json"
	SynthDirty        = "dirty.csv"
)

// The kinds of bad rows --dirty adds, named by their quarantine reason.
var dirtyKinds = []string{"empty_customer_id", "unparseable_time", "bad_amount", "wrong_field_count", "invalid_encoding", "duplicate_order_id", "malformed_record"}

// offsets are the UTC offsets synthetic shops write their timestamps in, so
// that purchases near midnight land on different days in different zones.
var offsets = []int{0, -5 * 3600, 1 * 3600, 9 * 3600, -8 * 3600, 5*3600 + 1800}

// WriteSynth writes a synthetic export into dir: transactions.csv, the
// per-customer truth.csv, truth.json with the parameters, and with Dirty
// dirty.csv listing every bad row by line and kind. It returns the paths.
func WriteSynth(dir string, opt SynthOptions) ([]string, error) {
	opt.defaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	txPath := filepath.Join(dir, SynthTransactions)
	truthPath := filepath.Join(dir, SynthTruth)
	paramsPath := filepath.Join(dir, SynthParams)
	tx, err := os.Create(txPath)
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	truth, err := os.Create(truthPath)
	if err != nil {
		return nil, err
	}
	defer truth.Close()
	var dirty io.Writer
	out := []string{txPath, truthPath, paramsPath}
	if opt.Dirty > 0 {
		dp := filepath.Join(dir, SynthDirty)
		df, err := os.Create(dp)
		if err != nil {
			return nil, err
		}
		defer df.Close()
		dirty = df
		out = append(out, dp)
	}
	if opt.Campaign == nil {
		if err := Synth(opt, tx, truth, dirty); err != nil {
			return nil, err
		}
	} else {
		var txBuf, truthBuf bytes.Buffer
		if err := Synth(opt, &txBuf, &truthBuf, dirty); err != nil {
			return nil, err
		}
		if _, err := tx.Write(txBuf.Bytes()); err != nil {
			return nil, err
		}
		if _, err := truth.Write(truthBuf.Bytes()); err != nil {
			return nil, err
		}
		more, err := addCampaign(dir, opt, txBuf.Bytes(), truthBuf.Bytes(), tx)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	params, _ := json.MarshalIndent(struct {
		SynthOptions
		End string `json:"end"`
	}{opt, opt.Start.AddDate(0, 0, 7*opt.Weeks-1).Format("2006-01-02")}, "", "  ")
	if err := os.WriteFile(paramsPath, append(params, '\n'), 0o644); err != nil {
		return nil, err
	}
	return out, errors.Join(tx.Sync(), truth.Sync())
}

// Synth streams the synthetic export to tx (CSV: customer_id, order_id,
// ordered_at, amount, currency), the truth to truth, and the bad rows'
// lines and kinds to dirty (may be nil). Memory does not grow with customers.
func Synth(opt SynthOptions, tx, truth, dirty io.Writer) error {
	opt.defaults()
	rng := rand.New(rand.NewPCG(opt.Seed, 0x636875726e))
	lambdaDist := distuv.Gamma{Alpha: opt.R, Beta: opt.Alpha, Src: rng}
	pDist := distuv.Beta{Alpha: opt.A, Beta: opt.B, Src: rng}
	nuDist := distuv.Gamma{Alpha: opt.Q, Beta: opt.Gamma, Src: rng}

	txw := bufio.NewWriterSize(tx, 1<<20)
	tw := csv.NewWriter(truth)
	var dw *csv.Writer
	if dirty != nil {
		dw = csv.NewWriter(dirty)
		dw.Write([]string{"line", "kind"})
	}
	fmt.Fprintln(txw, "customer_id,order_id,ordered_at,amount,currency")
	periods := (opt.Weeks + opt.PeriodWeeks - 1) / opt.PeriodWeeks
	head := []string{"customer_id", "lambda", "p_drop", "nu", "first_purchase", "dropped_at", "alive", "total_spend"}
	for i := 1; i <= periods; i++ {
		head = append(head, fmt.Sprintf("purchases_p%d", i))
	}
	tw.Write(head)

	line := 1
	order := 0
	dirtyN := 0
	writeRow := func(s string) { fmt.Fprint(txw, s); line++ }
	endWeeks := float64(opt.Weeks)
	week := float64(7 * 24 * time.Hour)
	for c := 1; c <= opt.Customers; c++ {
		id := fmt.Sprintf("c%07d", c)
		cu := synthCustomer{ID: id, Lambda: lambdaDist.Rand(), PDrop: pDist.Rand(), Nu: nuDist.Rand(), Purchases: make([]int, periods)}
		spend := distuv.Gamma{Alpha: opt.P, Beta: cu.Nu, Src: rng}
		off := offsets[rng.IntN(len(offsets))]
		zone := time.FixedZone("", off)
		t := rng.Float64() * opt.AcquisitionWeeks
		cu.First = opt.Start.Add(time.Duration(t * week))
		for n := 0; ; n++ {
			if n > 0 {
				t += rng.ExpFloat64() / cu.Lambda
				if t >= endWeeks {
					break
				}
			}
			at := opt.Start.Add(time.Duration(t * week)).Truncate(time.Second)
			cu.Purchases[int(t)/opt.PeriodWeeks]++
			order++
			oid := fmt.Sprintf("o%09d", order)
			amount := math.Round(spend.Rand()*100) / 100
			if opt.ZeroRate > 0 && rng.Float64() < opt.ZeroRate {
				amount = 0
			}
			cu.TotalSpend += amount
			writeRow(fmt.Sprintf("%s,%s,%s,%.2f,%s\n", id, oid, at.In(zone).Format(time.RFC3339), amount, opt.Currency))
			if opt.RefundRate > 0 && amount > 0 && rng.Float64() < opt.RefundRate {
				back := math.Round(amount*rng.Float64()*100) / 100
				rt := at.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
				if back > 0 && rt.Before(opt.Start.Add(time.Duration(endWeeks*week))) {
					cu.TotalSpend -= back
					writeRow(fmt.Sprintf("%s,r%s,%s,-%.2f,%s\n", id, oid[1:], rt.In(zone).Format(time.RFC3339), back, opt.Currency))
				}
			}
			if dw != nil && rng.Float64() < opt.Dirty {
				kind := dirtyKinds[dirtyN%len(dirtyKinds)]
				dirtyN++
				dw.Write([]string{strconv.Itoa(line), kind})
				writeRow(dirtyRow(kind, id, oid, at.Format(time.RFC3339), opt.Currency))
			}
			if n > 0 && rng.Float64() < cu.PDrop {
				cu.DroppedAt = at
				break
			}
		}
		alive := cu.DroppedAt.IsZero()
		dropped := ""
		if !alive {
			dropped = cu.DroppedAt.Format(time.RFC3339)
		}
		rec := []string{id, strconv.FormatFloat(cu.Lambda, 'g', 10, 64), strconv.FormatFloat(cu.PDrop, 'g', 10, 64),
			strconv.FormatFloat(cu.Nu, 'g', 10, 64), cu.First.Format(time.RFC3339), dropped, strconv.FormatBool(alive),
			strconv.FormatFloat(cu.TotalSpend, 'f', 2, 64)}
		for _, p := range cu.Purchases {
			rec = append(rec, strconv.Itoa(p))
		}
		tw.Write(rec)
	}
	tw.Flush()
	if dw != nil {
		dw.Flush()
		if err := dw.Error(); err != nil {
			return err
		}
	}
	return errors.Join(txw.Flush(), tw.Error())
}

// dirtyRow renders one bad row of the given kind.
func dirtyRow(kind, id, oid, at, cur string) string {
	switch kind {
	case "empty_customer_id":
		return fmt.Sprintf(",x%s,%s,1.00,%s\n", oid, at, cur)
	case "unparseable_time":
		return fmt.Sprintf("%s,x%s,not-a-date,1.00,%s\n", id, oid, cur)
	case "bad_amount":
		return fmt.Sprintf("%s,x%s,%s,12.3.4,%s\n", id, oid, at, cur)
	case "wrong_field_count":
		return fmt.Sprintf("%s,x%s,%s\n", id, oid, at)
	case "invalid_encoding":
		return fmt.Sprintf("%s\xff,x%s,%s,1.00,%s\n", id, oid, at, cur)
	case "duplicate_order_id":
		return fmt.Sprintf("%s,%s,%s,1.00,%s\n", id, oid, at, cur)
	default: // malformed_record: a bare quote
		return fmt.Sprintf("%s,x%s\"q,%s,1.00,%s\n", id, oid, at, cur)
	}
}
