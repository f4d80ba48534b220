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
	numRoles
)

var roleInfo = [numRoles]struct {
	name    string
	flag    string
	aliases []string // normalised header names recognised without a flag
}{
	roleCustomer: {"customer id", "--customer-col", []string{"customerid", "customer", "custid", "customerref", "customerno", "customernumber", "clientid", "client", "userid", "memberid", "accountid", "buyerid", "shopperid"}},
	roleOrder:    {"order id", "--order-col", []string{"orderid", "order", "orderno", "ordernumber", "invoiceno", "invoice", "invoiceid", "invoicenumber", "transactionid", "txnid", "receiptid", "receiptno", "basketid"}},
	roleTime:     {"time", "--time-col", []string{"ts", "timestamp", "orderedat", "invoicedate", "createdat", "orderdate", "purchasedate", "purchasedat", "transactiondate", "transactiontime", "datetime", "date", "time", "placedat"}},
	roleAmount:   {"amount", "--amount-col", []string{"amount", "total", "dollarvalue", "ordertotal", "totalamount", "revenue", "sales", "value", "grandtotal", "netamount", "amountpaid", "spend"}},
	roleCurrency: {"currency", "--currency-col", []string{"currency", "currencycode", "ccy", "cur"}},
	roleQuantity: {"quantity", "--quantity-col", []string{"quantity", "qty", "units", "numberofcds", "numitems", "items"}},
	rolePrice:    {"unit price", "--price-col", []string{"unitprice", "price", "itemprice"}},
	roleCategory: {"category", "--category-col", []string{"category", "productcategory", "department"}},
	roleChannel:  {"channel", "--channel-col", []string{"channel", "saleschannel"}},
	roleStore:    {"store", "--store-col", []string{"store", "storeid", "shop", "shopid", "location", "branch"}},
}

// normaliseHeader lowercases a header and keeps letters and digits only, so
// "Customer ID", "customer_id" and "CustomerID" are one name.
func normaliseHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// columnMap says which field of a source row fills each role; -1 = absent.
type columnMap [numRoles]int

// lineItems reports whether rows are product lines to be summed per order.
func (m *columnMap) lineItems() bool { return m[rolePrice] >= 0 }

// mapColumns resolves the columns of a source from its header and the
// column options. A named column that is missing, or two header columns that
// both look like one role, is ErrColumns naming the flag to pass.
func mapColumns(header []string, o *SourceOptions) (columnMap, error) {
	var m columnMap
	given := [numRoles]string{
		o.CustomerCol, o.OrderCol, o.TimeCol, o.AmountCol, o.CurrencyCol,
		o.QuantityCol, o.PriceCol, o.CategoryCol, o.ChannelCol, o.StoreCol,
	}
	used := map[int]role{}
	for ro := role(0); ro < numRoles; ro++ {
		m[ro] = -1
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
			for i, h := range header {
				if normaliseHeader(h) == normaliseHeader(given[ro]) {
					idx = i
					break
				}
			}
		}
		if idx < 0 {
			return m, fmt.Errorf("%w: %s %q is not a column; the header is %s", ErrColumns, roleInfo[ro].flag, given[ro], quoteList(header))
		}
		m[ro] = idx
		used[idx] = ro
	}
	for ro := role(0); ro < numRoles; ro++ {
		if m[ro] >= 0 {
			continue
		}
		var found []int
		for i, h := range header {
			if _, taken := used[i]; taken {
				continue
			}
			n := normaliseHeader(h)
			for _, a := range roleInfo[ro].aliases {
				if n == a {
					found = append(found, i)
					break
				}
			}
		}
		switch len(found) {
		case 0:
		case 1:
			m[ro] = found[0]
			used[found[0]] = ro
		default:
			names := make([]string, len(found))
			for i, f := range found {
				names[i] = header[f]
			}
			return m, fmt.Errorf("%w: columns %s could each be the %s; pass %s", ErrColumns, quoteList(names), roleInfo[ro].name, roleInfo[ro].flag)
		}
	}
	// Without an amount column, a quantity and unit price make a line-item export.
	if m[roleAmount] >= 0 && m[rolePrice] >= 0 && o.PriceCol == "" {
		m[rolePrice] = -1
	}
	if m[rolePrice] >= 0 && m[roleAmount] >= 0 {
		return m, fmt.Errorf("%w: both %s and %s are given; pass one (amount = quantity × price for line items)", ErrColumns, roleInfo[roleAmount].flag, roleInfo[rolePrice].flag)
	}
	if m[rolePrice] >= 0 && m[roleQuantity] < 0 {
		return m, fmt.Errorf("%w: %s needs a quantity column; pass --quantity-col", ErrColumns, roleInfo[rolePrice].flag)
	}
	for _, ro := range []role{roleCustomer, roleTime} {
		if m[ro] < 0 {
			return m, fmt.Errorf("%w: no %s column in %s; pass %s", ErrColumns, roleInfo[ro].name, quoteList(header), roleInfo[ro].flag)
		}
	}
	if m[roleAmount] < 0 && m[rolePrice] < 0 {
		return m, fmt.Errorf("%w: no amount column in %s; pass --amount-col (or --quantity-col and --price-col for line items)", ErrColumns, quoteList(header))
	}
	return m, nil
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
