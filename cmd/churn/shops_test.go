package main

import (
	"encoding/csv"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmpCustomers is the testscript command `cmpcustomers FEATURES.csv
// TRUTH.csv`: every customer of the truth (a generator's own count of the
// source's orders) has a features row with the same orders, total_spend
// and refund_amount, and there is no other customer.
func cmpCustomers(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmpcustomers features.csv truth.csv")
	}
	got := readByCustomer(ts, ts.MkAbs(args[0]))
	want := readByCustomer(ts, ts.MkAbs(args[1]))
	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("customer %s missing", id))
			continue
		}
		for _, col := range []string{"orders", "total_spend", "refund_amount"} {
			if !sameNumber(g[col], w[col]) {
				diffs = append(diffs, fmt.Sprintf("customer %s: %s = %s, want %s", id, col, g[col], w[col]))
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("customer %s not in the source", id))
		}
	}
	slices.Sort(diffs)
	if neg {
		if len(diffs) == 0 {
			ts.Fatalf("customers match")
		}
		return
	}
	if len(diffs) > 0 {
		ts.Fatalf("%d of %d customers differ:\n%s", len(diffs), len(want), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
}

func readByCustomer(ts *testscript.TestScript, path string) map[string]map[string]string {
	f, err := os.Open(path)
	ts.Check(err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	ts.Check(err)
	if len(rows) == 0 {
		ts.Fatalf("%s is empty", path)
	}
	out := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out[m["customer_id"]] = m
	}
	return out
}

// sameNumber compares two decimals as numbers: "61.5" is "61.50".
func sameNumber(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
