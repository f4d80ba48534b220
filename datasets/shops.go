package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
)

// Shop exports: one small shop's orders written the way the common
// platforms write them, with the truth per customer computed from the
// orders themselves, so a test checks an ingest against the source and not
// against the ingest's own rules.

// ShopPlatforms are the exports WriteShop writes.
var ShopPlatforms = []string{"shopify", "shopify-api", "woocommerce", "stripe", "german", "excel", "xlsx"}

// ShopOptions describe the shop.
type ShopOptions struct {
	Platform  string    // one of ShopPlatforms
	Customers int       // default 500
	Seed      uint64    // the same seed writes the same bytes
	Start     time.Time // first day; default 2024-01-01
	Weeks     int       // default 52
	Currency  string    // ISO code; default EUR (JPY has no minor unit)
}

// shopOrder is one order of the shop as it happened.
type shopOrder struct {
	number   int
	customer int
	guest    bool // checked out without an account
	at       time.Time
	lines    []shopLine
	total    int64 // minor units: Σ qty × price
	status   string
	refund   int64 // minor units refunded
	refundAt time.Time
}

type shopLine struct {
	qty   int
	price int64 // minor units
	name  string
}

type shopCustomer struct {
	id    int64
	email string
	name  string
}

// excluded says the order never happened: cancelled, voided or failed.
func (o *shopOrder) excluded() bool { return o.status != "" }

// names with letters outside ASCII, for the encodings.
var shopNames = []string{"Anna Müller", "Jürgen Weiß", "Zoë Martin", "Léa Dubois", "Sven Åberg", "Olivia Smith", "Noah Jones", "Björn Öst", "Chloé Lefèvre", "Mia Schäfer"}

// WriteShop writes one platform's export of a synthetic shop into dir, and
// truth.csv: per customer, as the platform's customer column keys them,
// the orders that happened, their total and the amount refunded of them.
// It returns the paths written.
func WriteShop(dir string, opt ShopOptions) ([]string, error) {
	if opt.Customers == 0 {
		opt.Customers = 500
	}
	if opt.Start.IsZero() {
		opt.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opt.Weeks == 0 {
		opt.Weeks = 52
	}
	if opt.Currency == "" {
		opt.Currency = "EUR"
	}
	if !slices.Contains(ShopPlatforms, opt.Platform) {
		return nil, fmt.Errorf("unknown platform %q: want one of %s", opt.Platform, strings.Join(ShopPlatforms, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	customers, orders := shopHistory(opt)
	files, err := writeShopExport(dir, opt, customers, orders)
	if err != nil {
		return nil, err
	}
	truth := filepath.Join(dir, "truth.csv")
	if err := os.WriteFile(truth, shopTruth(opt, customers, orders), 0o644); err != nil {
		return nil, err
	}
	return append(files, truth), nil
}

// shopHistory draws the customers and their orders.
func shopHistory(opt ShopOptions) ([]shopCustomer, []shopOrder) {
	rng := rand.New(rand.NewPCG(opt.Seed, 0x5409))
	span := time.Duration(opt.Weeks) * 7 * 24 * time.Hour
	customers := make([]shopCustomer, opt.Customers)
	var orders []shopOrder
	for c := range customers {
		customers[c] = shopCustomer{
			id:    207119551 + int64(c)*7919,
			email: fmt.Sprintf("customer%04d@example.com", c),
			name:  shopNames[rng.IntN(len(shopNames))],
		}
		n := 1
		for rng.Float64() < 0.72 && n < 30 { // geometric: 3.6 orders on average
			n++
		}
		for range n {
			o := shopOrder{customer: c, at: opt.Start.Add(time.Duration(rng.Int64N(int64(span))))}
			o.at = o.at.Truncate(time.Second)
			o.guest = rng.Float64() < 0.1
			for range 1 + rng.IntN(3) {
				l := shopLine{qty: 1 + rng.IntN(3), price: 100 * int64(5+rng.IntN(60)), name: fmt.Sprintf("Item %d", rng.IntN(40))}
				if rng.IntN(3) == 0 {
					l.price += int64(rng.IntN(100)) // cents
				}
				if opt.Currency == "JPY" {
					l.price *= 10
				}
				o.lines = append(o.lines, l)
				o.total += int64(l.qty) * l.price
			}
			switch r := rng.Float64(); {
			case r < 0.02:
				o.status = "voided"
			case r < 0.033:
				o.status = "cancelled"
			case r < 0.04:
				o.status = "failed"
			case r < 0.06:
				o.refund = o.total
			case r < 0.12:
				o.refund = o.total * int64(1+rng.IntN(9)) / 10
			}
			if o.refund > 0 {
				o.refundAt = o.at.Add(time.Duration(1+rng.IntN(20)) * 24 * time.Hour)
			}
			orders = append(orders, o)
		}
	}
	slices.SortFunc(orders, func(a, b shopOrder) int { return a.at.Compare(b.at) })
	for i := range orders {
		orders[i].number = 1001 + i
	}
	return customers, orders
}

// customerKey is the customer as the platform's export keys them, or ""
// when the export has no customer for the order (a guest without an account).
func customerKey(platform string, c shopCustomer, o *shopOrder) string {
	switch platform {
	case "shopify-api":
		if o.guest {
			return ""
		}
		return strconv.FormatInt(c.id, 10)
	case "stripe":
		if o.guest {
			return ""
		}
		return fmt.Sprintf("cus_%x", c.id)
	case "german", "excel", "xlsx":
		return fmt.Sprintf("K%05d", o.customer+1)
	}
	return c.email // Shopify CSV and WooCommerce: the e-mail, guests too
}

// shopTruth is truth.csv: customer_id, orders, total_spend, refund_amount,
// over the orders that happened, for customers with at least one.
func shopTruth(opt ShopOptions, customers []shopCustomer, orders []shopOrder) []byte {
	type acc struct {
		orders        int
		spend, refund int64
	}
	by := map[string]*acc{}
	for i := range orders {
		o := &orders[i]
		key := customerKey(opt.Platform, customers[o.customer], o)
		if o.excluded() || key == "" {
			continue
		}
		a := by[key]
		if a == nil {
			a = &acc{}
			by[key] = a
		}
		a.orders++
		a.spend += o.total
		a.refund += o.refund
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteString("customer_id,orders,total_spend,refund_amount\n")
	for _, k := range keys {
		a := by[k]
		fmt.Fprintf(&b, "%s,%d,%s,%s\n", k, a.orders, major(a.spend, opt.Currency, '.'), major(a.refund, opt.Currency, '.'))
	}
	return b.Bytes()
}

// major writes minor units as a decimal of the currency's major unit.
func major(minor int64, currency string, point byte) string {
	if currency == "JPY" {
		return strconv.FormatInt(minor, 10)
	}
	return fmt.Sprintf("%d%c%02d", minor/100, point, minor%100)
}

// germanAmount writes "1.234,56 €".
func germanAmount(minor int64) string {
	units := strconv.FormatInt(minor/100, 10)
	var g []string
	for len(units) > 3 {
		g = append([]string{units[len(units)-3:]}, g...)
		units = units[:len(units)-3]
	}
	g = append([]string{units}, g...)
	return fmt.Sprintf("%s,%02d €", strings.Join(g, "."), minor%100)
}

func writeShopExport(dir string, opt ShopOptions, customers []shopCustomer, orders []shopOrder) ([]string, error) {
	newYork := time.FixedZone("-0500", -5*3600)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	cur := opt.Currency
	var b bytes.Buffer
	name := ""
	switch opt.Platform {
	case "shopify":
		// One row per line item; the order's fields on its first row only.
		name = "orders_export.csv"
		b.WriteString("Name,Email,Financial Status,Paid at,Fulfillment Status,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,Cancelled at,Payment Method,Refunded Amount,Vendor,Id,Location\n")
		for i := range orders {
			o := &orders[i]
			c := customers[o.customer]
			status, cancelled := "paid", ""
			switch {
			case o.status == "voided":
				status = "voided"
			case o.status != "":
				status, cancelled = "pending", o.at.Add(3*time.Hour).In(newYork).Format("2006-01-02 15:04:05 -0700")
			case o.refund == o.total:
				status = "refunded"
			case o.refund > 0:
				status = "partially_refunded"
			}
			for j, l := range o.lines {
				if j == 0 {
					fmt.Fprintf(&b, "#%d,%s,%s,%s,fulfilled,no,%s,%s,0.00,0.00,%s,,0.00,Standard,%s,%d,%s,%s,SKU-%d,%s,%s,manual,%s,Shop,%d,\n",
						o.number, c.email, status, o.at.In(newYork).Format("2006-01-02 15:04:05 -0700"), cur,
						major(o.total, cur, '.'), major(o.total, cur, '.'), o.at.In(newYork).Format("2006-01-02 15:04:05 -0700"),
						l.qty, l.name, major(l.price, cur, '.'), j, csvQuote(c.name), cancelled, major(o.refund, cur, '.'), 4507894690+int64(o.number))
				} else {
					fmt.Fprintf(&b, "#%d,,,,,,,,,,,,,,,%d,%s,%s,SKU-%d,,,,,Shop,,\n", o.number, l.qty, l.name, major(l.price, cur, '.'), j)
				}
			}
		}
	case "shopify-api":
		name = "orders.jsonl"
		for i := range orders {
			o := &orders[i]
			c := customers[o.customer]
			status := "paid"
			var cancelledAt any
			switch {
			case o.status == "voided":
				status = "voided"
			case o.status != "":
				status, cancelledAt = "pending", o.at.Add(3*time.Hour).In(newYork).Format(time.RFC3339)
			case o.refund == o.total:
				status = "refunded"
			case o.refund > 0:
				status = "partially_refunded"
			}
			var customer any
			if !o.guest {
				customer = map[string]any{"id": c.id, "email": c.email, "first_name": strings.Fields(c.name)[0]}
			}
			refunds := []any{}
			if o.refund > 0 {
				// Two transactions when the refund is partial, to sum.
				first := o.refund
				var tx []any
				if o.refund < o.total && o.refund > 1 {
					first = o.refund / 2
					tx = append(tx, map[string]any{"amount": major(o.refund-first, cur, '.'), "kind": "refund", "status": "success"})
				}
				tx = append([]any{map[string]any{"amount": major(first, cur, '.'), "kind": "refund", "status": "success"}}, tx...)
				refunds = append(refunds, map[string]any{"id": 509562969 + o.number, "created_at": o.refundAt.In(newYork).Format(time.RFC3339), "transactions": tx})
			}
			var items []any
			for _, l := range o.lines {
				items = append(items, map[string]any{"quantity": l.qty, "price": major(l.price, cur, '.'), "title": l.name})
			}
			rec := map[string]any{
				"id": 4507894690 + int64(o.number), "name": fmt.Sprintf("#%d", o.number), "order_number": o.number,
				"email": c.email, "created_at": o.at.In(newYork).Format(time.RFC3339), "currency": cur,
				"total_price": major(o.total, cur, '.'), "subtotal_price": major(o.total, cur, '.'),
				"financial_status": status, "cancelled_at": cancelledAt, "customer": customer,
				"refunds": refunds, "line_items": items,
			}
			writeJSONLine(&b, rec)
		}
	case "woocommerce":
		name = "wc-order-export.csv"
		b.WriteString("Order Number,Order Status,Order Date,Customer User ID,First Name (Billing),Email (Billing),Order Currency,Order Subtotal Amount,Order Shipping Amount,Order Total Amount,Order Refund Amount\n")
		for i := range orders {
			o := &orders[i]
			c := customers[o.customer]
			status := map[string]string{"": "Completed", "voided": "Cancelled", "cancelled": "Pending payment", "failed": "Failed"}[o.status]
			if o.status == "" && o.refund == o.total {
				status = "Refunded"
			}
			user := strconv.FormatInt(c.id, 10)
			if o.guest {
				user = "0"
			}
			fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%s,%s,%s,0.00,%s,%s\n", o.number, status, o.at.In(berlin).Format("2006-01-02 15:04:05"),
				user, strings.Fields(c.name)[0], c.email, cur, major(o.total, cur, '.'), major(o.total, cur, '.'), major(o.refund, cur, '.'))
		}
	case "stripe":
		name = "charges.jsonl"
		for i := range orders {
			o := &orders[i]
			c := customers[o.customer]
			status := "succeeded"
			if o.status != "" {
				status = "failed" // Stripe has no cancelled charge: an order that did not happen failed
			}
			var customer any
			if key := customerKey(opt.Platform, c, o); key != "" {
				customer = key
			}
			rec := map[string]any{
				"id": fmt.Sprintf("ch_%024x", o.number), "object": "charge", "amount": o.total, "amount_captured": o.total,
				"amount_refunded": o.refund, "created": o.at.Unix(), "currency": strings.ToLower(cur), "customer": customer,
				"paid": status == "succeeded", "refunded": o.refund == o.total && o.refund > 0, "status": status,
				"billing_details": map[string]any{"email": c.email, "name": c.name},
			}
			writeJSONLine(&b, rec)
		}
	case "german":
		// Windows-1252, semicolons, CRLF, day-first dates, "1.234,56 €".
		name = "bestellungen.csv"
		b.WriteString("Bestellnummer;Bestelldatum;Kundennummer;E-Mail;Name;Status;Gesamtbetrag;Erstattet;Währung\r\n")
		for i := range orders {
			o := &orders[i]
			c := customers[o.customer]
			status := "Abgeschlossen"
			switch {
			case o.status != "":
				status = "Storniert"
			case o.refund == o.total:
				status = "Erstattet"
			}
			refund := ""
			if o.refund > 0 {
				refund = germanAmount(o.refund)
			}
			fmt.Fprintf(&b, "%d;%s;K%05d;%s;%s;%s;%s;%s;EUR\r\n", o.number, o.at.In(berlin).Format("02.01.2006 15:04"),
				o.customer+1, c.email, c.name, status, germanAmount(o.total), refund)
		}
		enc, err := charmap.Windows1252.NewEncoder().Bytes(b.Bytes())
		if err != nil {
			return nil, err
		}
		b.Reset()
		b.Write(enc)
	case "excel", "xlsx":
		// A spreadsheet: the orders that happened, two blank rows and a totals row.
		var rows [][]any
		var sum int64
		for i := range orders {
			o := &orders[i]
			if o.excluded() {
				continue
			}
			rows = append(rows, []any{fmt.Sprintf("K%05d", o.customer+1), o.number, o.at, float64(o.total) / 100, float64(o.refund) / 100})
			sum += o.total
		}
		if opt.Platform == "xlsx" {
			p := filepath.Join(dir, "orders.xlsx")
			return []string{p}, writeXLSX(p, rows, sum)
		}
		name = "orders.csv"
		b.WriteString("Customer,Order,Date,Amount,Refund\r\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "%s,%d,%s,%.2f,%.2f\r\n", r[0], r[1], r[2].(time.Time).Format("1/2/2006 15:04"), r[3], r[4])
		}
		b.WriteString(",,,,\r\n,,,,\r\n")
		fmt.Fprintf(&b, "Total,,,%s,\r\n", major(sum, "EUR", '.'))
	}
	p := filepath.Join(dir, name)
	return []string{p}, os.WriteFile(p, b.Bytes(), 0o644)
}

// writeXLSX writes the rows to a workbook as a person would type them:
// text ids, real date cells, number cells, and the totals under them.
func writeXLSX(path string, rows [][]any, sum int64) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Bestellungen"
	f.SetSheetName("Sheet1", sheet)
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22}) // m/d/yy h:mm
	if err != nil {
		return err
	}
	f.SetSheetRow(sheet, "A1", &[]any{"Customer", "Order", "Date", "Amount", "Refund"})
	for i, r := range rows {
		cell := fmt.Sprintf("A%d", i+2)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			return err
		}
		f.SetCellStyle(sheet, fmt.Sprintf("C%d", i+2), fmt.Sprintf("C%d", i+2), dateStyle)
	}
	last := len(rows) + 4 // two blank rows, then the totals
	f.SetCellValue(sheet, fmt.Sprintf("A%d", last), "Total")
	f.SetCellFormula(sheet, fmt.Sprintf("D%d", last), fmt.Sprintf("SUM(D2:D%d)", len(rows)+1))
	f.SetCellValue(sheet, fmt.Sprintf("D%d", last), float64(sum)/100)
	return f.SaveAs(path)
}

func writeJSONLine(b *bytes.Buffer, rec map[string]any) {
	line, _ := json.Marshal(rec)
	b.Write(line)
	b.WriteByte('\n')
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
