package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrColumns is returned when the columns of a source cannot be mapped
// without guessing; the message names the flag to pass.
var ErrColumns = errors.New("cannot map columns")

// role is a field of the canonical transaction that a source column fills.
type role int

const (
	roleCustomer role = iota
	roleOrder
	roleTime
	roleAmount
	roleCurrency
	roleQuantity
	rolePrice
	roleCategory
	roleChannel
	roleStore
	roleStatus     // order status: some values mean the order never happened
	roleCancelled  // a cancellation time: non-empty means the order never happened
	roleRefund     // the order's refunded amount (positive)
	roleRefundTime // when it was refunded
	roleGuest      // keys the orders of guest customers (never recognised)
	numRoles
)

// roleInfo names each role and the header names recognised for it without
// a flag, normalised (normaliseHeader), in tiers: a name of an earlier tier
// wins over one of a later tier, and two columns of one tier are an error.
var roleInfo = [numRoles]struct {
	name    string
	flag    string
	aliases [][]string
}{
	roleCustomer: {"customer id", "--customer-col", [][]string{
		{"customerid", "customer", "custid", "customerref", "customerno", "customernumber", "customernr", "clientid", "client",
			"userid", "memberid", "accountid", "buyerid", "shopperid",
			"kundennummer", "kundennr", "kundenid", "kunde", "klantnummer", "klantnr", "klantid", "klant",
			"numeroclient", "noclient", "idclient", "codeclient", "debitor", "debitorennummer", "debitornummer"},
		{"email", "emailaddress", "customeremail", "emailbilling", "billingemail", "billingdetailsemail", "mail", "kundenemail", "emailadres", "courriel"},
	}},
	roleOrder: {"order id", "--order-col", [][]string{
		{"orderid", "order", "orderno", "invoiceno", "invoice", "invoiceid", "invoicenumber", "transactionid", "txnid",
			"receiptid", "receiptno", "basketid", "chargeid",
			"bestellnummer", "bestellnr", "bestellid", "auftragsnummer", "auftragsnr", "belegnummer", "belegnr",
			"rechnungsnummer", "rechnungsnr", "bestelnummer", "ordernummer", "factuurnummer",
			"numerodecommande", "numerocommande", "nocommande", "referencecommande", "numerodefacture"},
		{"ordernumber"},
		{"id"},
	}},
	roleTime: {"time", "--time-col", [][]string{
		{"ts", "timestamp", "orderedat", "invoicedate", "createdat", "orderdate", "purchasedate", "purchasedat",
			"transactiondate", "transactiontime", "datetime", "date", "time", "placedat", "created", "createdutc",
			"bestelldatum", "belegdatum", "rechnungsdatum", "auftragsdatum", "besteldatum", "factuurdatum",
			"datedecommande", "datecommande", "datedefacture"},
		{"datum", "zeitpunkt"},
	}},
	roleAmount: {"amount", "--amount-col", [][]string{
		{"amount", "total", "dollarvalue", "ordertotal", "totalamount", "revenue", "sales", "value", "grandtotal",
			"netamount", "amountpaid", "spend", "ordertotalamount", "totalprice", "invoicetotal",
			"gesamtbetrag", "gesamtsumme", "rechnungsbetrag", "bruttobetrag", "totaalbedrag", "montanttotal", "totalttc"},
		{"betrag", "summe", "brutto", "bedrag", "montant"},
	}},
	roleCurrency: {"currency", "--currency-col", [][]string{{"currency", "currencycode", "ccy", "cur", "ordercurrency", "wahrung", "valuta", "devise"}}},
	roleQuantity: {"quantity", "--quantity-col", [][]string{{"quantity", "qty", "units", "numberofcds", "numitems", "items", "menge", "anzahl", "aantal", "quantite"}}},
	rolePrice:    {"unit price", "--price-col", [][]string{{"unitprice", "price", "itemprice", "einzelpreis", "stuckpreis", "prixunitaire"}}},
	roleCategory: {"category", "--category-col", [][]string{{"category", "productcategory", "department", "kategorie", "warengruppe"}}},
	roleChannel:  {"channel", "--channel-col", [][]string{{"channel", "saleschannel", "vertriebskanal"}}},
	roleStore:    {"store", "--store-col", [][]string{{"store", "storeid", "shop", "shopid", "location", "branch", "filiale", "winkel"}}},
	roleStatus: {"order status", "--status-col", [][]string{
		{"status", "orderstatus", "financialstatus", "paymentstatus", "bestellstatus", "auftragsstatus", "zahlungsstatus", "belegstatus", "bestelstatus", "statut", "statutdelacommande"},
	}},
	roleCancelled: {"cancellation time", "--cancelled-col", [][]string{{"cancelledat", "canceledat", "cancelleddate", "cancelationdate", "cancellationdate", "storniertam", "stornodatum"}}},
	roleRefund: {"refunded amount", "--refund-col", [][]string{
		{"refundedamount", "orderrefundamount", "amountrefunded", "refundamount", "refundtotal", "totalrefunded", "refund",
			"refundstransactionsamount", "erstattet", "erstattetbetrag", "erstattungsbetrag", "gutschrift", "terugbetaald", "rembourse", "montantrembourse"},
	}},
	roleRefundTime: {"refund time", "--refund-time-col", [][]string{{"refundedat", "refunddate", "refundcreatedat", "refundscreatedat", "erstattetam", "erstattungsdatum"}}},
	roleGuest:      {"guest key", "--guest-col", nil},
}

// foldAccents maps the accented letters of European headers to their base
// letter, so "Währung" is "wahrung" and "Numéro de commande" "numerodecommande".
var foldAccents = strings.NewReplacer(
	"ä", "a", "à", "a", "á", "a", "â", "a", "ã", "a", "å", "a",
	"é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i",
	"ö", "o", "ó", "o", "ò", "o", "ô", "o", "õ", "o", "ø", "o",
	"ü", "u", "ú", "u", "ù", "u", "û", "u",
	"ß", "ss", "ç", "c", "ñ", "n",
)

// normaliseHeader lowercases a header, folds accents and keeps letters and
// digits only, so "Customer ID", "customer_id", "CustomerID" and the JSON
// path "customer.id" are one name.
func normaliseHeader(h string) string {
	h = foldAccents.Replace(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))))
	var b strings.Builder
	for _, r := range h {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// platform is a shop system recognised by its header: the columns it names
// for some roles, tried in order, before the generic names.
type platform struct {
	name string
	// match says whether a set of normalised header names is this platform's.
	match func(has func(string) bool) bool
	cols  map[role][]string
	// minorUnits: the platform's JSON amounts are integers in the currency's
	// minor unit (Stripe's charge objects).
	minorUnits bool
}

var platforms = []platform{
	{
		name:  "shopify",
		match: func(has func(string) bool) bool { return has("name") && has("financialstatus") },
		cols: map[role][]string{
			roleOrder:     {"name"},
			roleCustomer:  {"customerid", "email"},
			roleTime:      {"createdat"},
			roleAmount:    {"total", "totalprice"},
			roleStatus:    {"financialstatus"},
			roleCancelled: {"cancelledat"},
		},
	},
	{
		name:  "woocommerce",
		match: func(has func(string) bool) bool { return has("ordernumber") && has("orderstatus") },
		cols: map[role][]string{
			roleOrder:    {"ordernumber"},
			roleCustomer: {"emailbilling", "billingemail", "customeremail"},
			roleTime:     {"orderdate"},
			roleAmount:   {"ordertotalamount", "ordertotal"},
			roleStatus:   {"orderstatus"},
		},
	},
	{
		name: "stripe",
		match: func(has func(string) bool) bool {
			return has("amountrefunded") && (has("created") || has("createdutc"))
		},
		cols: map[role][]string{
			roleOrder:    {"id"},
			roleCustomer: {"customer", "customerid"},
			roleTime:     {"created", "createdutc"},
			roleAmount:   {"amount"},
			roleRefund:   {"amountrefunded"},
			roleStatus:   {"status"},
		},
		minorUnits: true,
	},
}

// columnMap says which field of a source row fills each role; -1 = absent.
type columnMap struct {
	idx [numRoles]int
	// platform is the shop system recognised from the header, or "".
	platform string
	// minorUnits: the platform writes amounts in minor units (JSON only).
	minorUnits bool
	// emailCustomer: the customer column holds e-mail addresses, so an
	// empty one is a guest checkout, not a broken row.
	emailCustomer bool
}

// lineItems reports whether rows are product lines to be summed per order.
func (m *columnMap) lineItems() bool { return m.idx[rolePrice] >= 0 }

// has reports whether the source has a column for ro.
func (m *columnMap) has(ro role) bool { return m.idx[ro] >= 0 }

// describe is the mapping in one line: role=column for each mapped role.
func (m *columnMap) describe(header []string) string {
	var parts []string
	for ro := role(0); ro < numRoles; ro++ {
		if i := m.idx[ro]; i >= 0 {
			parts = append(parts, fmt.Sprintf("%s=%q", strings.ReplaceAll(roleInfo[ro].name, " ", "_"), header[i]))
		}
	}
	return strings.Join(parts, " ")
}

// givenColumns are the column options, by role.
func (o *SourceOptions) givenColumns() [numRoles]string {
	return [numRoles]string{
		o.CustomerCol, o.OrderCol, o.TimeCol, o.AmountCol, o.CurrencyCol,
		o.QuantityCol, o.PriceCol, o.CategoryCol, o.ChannelCol, o.StoreCol,
		o.StatusCol, o.CancelledCol, o.RefundCol, o.RefundTimeCol, o.GuestCol,
	}
}

// mapColumns resolves the columns of a source from its header and the
// column options: the columns named first, then those of a platform the
// header is recognised as, then the generic names. A named column that is
// missing, or two header columns that both look like one role, is
// ErrColumns naming the flag to pass.
func mapColumns(header []string, o *SourceOptions) (columnMap, error) {
	var m columnMap
	given := o.givenColumns()
	norm := make([]string, len(header))
	byNorm := map[string]int{}
	for i, h := range header {
		norm[i] = normaliseHeader(h)
		if _, dup := byNorm[norm[i]]; !dup {
			byNorm[norm[i]] = i
		}
	}
	used := map[int]role{}
	for ro := role(0); ro < numRoles; ro++ {
		m.idx[ro] = -1
		if given[ro] == "" {
			continue
		}
		idx := -1
		for i, h := range header {
			if h == given[ro] || strings.TrimPrefix(h, "\ufeff") == given[ro] {
				idx = i
				break
			}
		}
		if idx < 0 {
			if i, ok := byNorm[normaliseHeader(given[ro])]; ok {
				idx = i
			}
		}
		if idx < 0 {
			return m, fmt.Errorf("%w: %s %q is not a column; the header is %s%s", ErrColumns, roleInfo[ro].flag, given[ro], quoteList(header), nestedHint(header, given[ro]))
		}
		m.idx[ro] = idx
		used[idx] = ro
	}
	has := func(n string) bool { _, ok := byNorm[n]; return ok }
	for _, p := range platforms {
		if !p.match(has) {
			continue
		}
		m.platform, m.minorUnits = p.name, p.minorUnits
		for ro, names := range p.cols {
			if m.idx[ro] >= 0 {
				continue
			}
			for _, n := range names {
				if i, ok := byNorm[n]; ok {
					if _, taken := used[i]; !taken {
						m.idx[ro] = i
						used[i] = ro
						break
					}
				}
			}
		}
		break
	}
	// A line-item export named by the user has no order amount, whatever the
	// header calls one; an order amount named by the user has no line prices.
	skip := [numRoles]bool{}
	if given[rolePrice] != "" && given[roleAmount] == "" {
		skip[roleAmount] = true
	}
	skip[roleGuest] = true
	for ro := role(0); ro < numRoles; ro++ {
		if m.idx[ro] >= 0 || skip[ro] {
			continue
		}
	tiers:
		for _, tier := range roleInfo[ro].aliases {
			var found []int
			for i, n := range norm {
				if _, taken := used[i]; taken {
					continue
				}
				for _, a := range tier {
					if n == a {
						found = append(found, i)
						break
					}
				}
			}
			switch len(found) {
			case 0:
				continue
			case 1:
				m.idx[ro] = found[0]
				used[found[0]] = ro
			default:
				names := make([]string, len(found))
				for i, f := range found {
					names[i] = header[f]
				}
				return m, fmt.Errorf("%w: columns %s could each be the %s; pass %s", ErrColumns, quoteList(names), roleInfo[ro].name, roleInfo[ro].flag)
			}
			break tiers
		}
	}
	if skip[roleAmount] {
		m.idx[roleAmount] = -1
	}
	// Without an amount column, a quantity and unit price make a line-item export.
	if m.idx[roleAmount] >= 0 && m.idx[rolePrice] >= 0 && given[rolePrice] == "" {
		m.idx[rolePrice] = -1
	}
	if m.idx[rolePrice] >= 0 && m.idx[roleAmount] >= 0 {
		return m, fmt.Errorf("%w: both %s and %s are given; pass one (amount = quantity × price for line items)", ErrColumns, roleInfo[roleAmount].flag, roleInfo[rolePrice].flag)
	}
	if m.idx[rolePrice] >= 0 && m.idx[roleQuantity] < 0 {
		return m, fmt.Errorf("%w: %s needs a quantity column; pass --quantity-col", ErrColumns, roleInfo[rolePrice].flag)
	}
	for _, ro := range []role{roleCustomer, roleTime} {
		if m.idx[ro] < 0 {
			return m, fmt.Errorf("%w: no %s column in %s; pass %s", ErrColumns, roleInfo[ro].name, quoteList(header), roleInfo[ro].flag)
		}
	}
	if m.idx[roleAmount] < 0 && m.idx[rolePrice] < 0 {
		return m, fmt.Errorf("%w: no amount column in %s; pass --amount-col (or --quantity-col and --price-col for line items)", ErrColumns, quoteList(header))
	}
	if m.idx[roleRefundTime] >= 0 && m.idx[roleRefund] < 0 {
		m.idx[roleRefundTime] = -1 // a refund date without a refund amount says nothing
	}
	m.emailCustomer = strings.Contains(norm[m.idx[roleCustomer]], "mail") || m.platform != ""
	return m, nil
}

// nestedHint suggests a dotted path when a JSON column named by the user
// is an object: "customer" → "customer.id".
func nestedHint(header []string, name string) string {
	var inside []string
	for _, h := range header {
		if strings.HasPrefix(h, name+".") {
			inside = append(inside, h)
		}
	}
	if len(inside) == 0 {
		return ""
	}
	return fmt.Sprintf("; %q is an object: name a value inside it, one of %s", name, quoteList(inside))
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", clip(x))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// clipBytes bounds the text of a source quoted in a message: a 100 MB line
// must not make a 100 MB error.
const clipBytes = 200

// clip shortens s to about clipBytes, saying how long it was.
func clip(s string) string {
	if len(s) <= clipBytes {
		return s
	}
	cut := clipBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
