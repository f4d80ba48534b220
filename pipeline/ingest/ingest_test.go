package ingest_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/ingest/ingesttest"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/churnhq/churn/datasets"
	"github.com/churnhq/churn/pipeline"
	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite golden files")

// expectFromCSV reads a synthetic export independently of the ingest:
// encoding/csv, time.Parse and exact rationals.
func expectFromCSV(t *testing.T, path string) []warehouse.Transaction {
	t.Helper()
	recs := ingesttest.ReadCSVFile(t, path)
	var out []warehouse.Transaction
	for _, r := range recs[1:] {
		ts, err := time.Parse(time.RFC3339, r[2])
		if err != nil {
			t.Fatal(err)
		}
		amt, ok := new(big.Rat).SetString(r[3])
		if !ok {
			t.Fatalf("amount %q", r[3])
		}
		micros := new(big.Rat).Mul(amt, big.NewRat(1_000_000, 1))
		out = append(out, warehouse.Transaction{CustomerID: r[0], OrderID: r[1], TimeMicros: ts.UnixMicro(), AmountMicros: micros.Num().Int64(), Currency: r[4]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderID < out[j].OrderID })
	return out
}

// TestRoundTripExact: what was ingested reads back to the cent and the microsecond.
func TestRoundTripExact(t *testing.T) {
	dir := t.TempDir()
	if _, err := datasets.WriteSynth(dir, datasets.SynthOptions{Customers: 3000, Seed: 3, RefundRate: 0.05, ZeroRate: 0.02}); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, datasets.SynthTransactions)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, src)
	if err != nil {
		t.Fatal(err)
	}
	want := expectFromCSV(t, src)
	got := ingesttest.ReadAll(t, data)
	if len(got) != len(want) || sum.Accepted != int64(len(want)) || sum.Rejected != 0 {
		t.Fatalf("read back %d rows, summary accepted %d rejected %d; the file has %d", len(got), sum.Accepted, sum.Rejected, len(want))
	}
	refunds := 0
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: got %+v want %+v", i, got[i], want[i])
		}
		if want[i].AmountMicros < 0 {
			refunds++
		}
	}
	if refunds == 0 || sum.Files[0].Refunds != int64(refunds) {
		t.Fatalf("refunds: file has %d, summary %d", refunds, sum.Files[0].Refunds)
	}
}

// TestFormatsAgree: the same rows as CSV, CSV.gz, TSV, JSON Lines and Parquet
// land as the same transactions.
func TestFormatsAgree(t *testing.T) {
	rows := [][]string{
		{"customer_id", "order_id", "ordered_at", "amount", "currency"},
		{"a", "1", "2024-01-02T10:00:00+01:00", "12.50", "EUR"},
		{"b", "2", "2024-01-03T23:30:00-05:00", "-3.00", "EUR"},
		{"a", "3", "2024-02-01T00:00:00Z", "0", "EUR"},
		{"c, the \"quoted\"", "4", "2024-02-02T08:00:00Z", "1,234.56", "EUR"},
	}
	dir := t.TempDir()
	var csvBuf, tsvBuf, jsonBuf bytes.Buffer
	cw := csv.NewWriter(&csvBuf)
	cw.WriteAll(rows)
	for _, r := range rows {
		tsvBuf.WriteString(strings.Join(r, "\t") + "\n") // TSV has no quoting: quotes are data
	}
	for _, r := range rows[1:] {
		fmt.Fprintf(&jsonBuf, `{"customer_id":%q,"order_id":%s,"ordered_at":%q,"amount":%q,"currency":%q}`+"\n", r[0], r[1], r[2], r[3], r[4])
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(csvBuf.Bytes())
	zw.Close()
	type pq struct {
		CustomerID string  `parquet:"customer_id"`
		OrderID    int64   `parquet:"order_id"`
		OrderedAt  int64   `parquet:"ordered_at,timestamp(microsecond)"`
		Amount     float64 `parquet:"amount"`
		Currency   string  `parquet:"currency"`
	}
	var pqRows []pq
	for i, r := range rows[1:] {
		ts, _ := time.Parse(time.RFC3339, r[2])
		amt := map[int]float64{0: 12.5, 1: -3, 2: 0, 3: 1234.56}[i]
		pqRows = append(pqRows, pq{r[0], int64(i + 1), ts.UnixMicro(), amt, r[4]})
	}
	files := map[string][]byte{"x.csv": csvBuf.Bytes(), "x.csv.gz": gz.Bytes(), "x.tsv": tsvBuf.Bytes(), "x.jsonl": jsonBuf.Bytes()}
	var pqBuf bytes.Buffer
	if err := parquet.Write(&pqBuf, pqRows); err != nil {
		t.Fatal(err)
	}
	files["x.parquet"] = pqBuf.Bytes()
	var first []warehouse.Transaction
	for _, name := range []string{"x.csv", "x.csv.gz", "x.tsv", "x.jsonl", "x.parquet"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, files[name], 0o644)
		data := filepath.Join(dir, "data-"+name)
		sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sum.Accepted != 4 || sum.Rejected != 0 {
			t.Fatalf("%s: accepted %d rejected %d", name, sum.Accepted, sum.Rejected)
		}
		got := ingesttest.ReadAll(t, data)
		if first == nil {
			first = got
			if first[1].AmountMicros != -3_000_000 || first[3].AmountMicros != 1_234_560_000 || first[1].TimeMicros != time.Date(2024, 1, 4, 4, 30, 0, 0, time.UTC).UnixMicro() {
				t.Fatalf("csv rows wrong: %+v", first)
			}
			continue
		}
		if !slices.Equal(got, first) {
			t.Errorf("%s differs from csv:\n got %+v\nwant %+v", name, got, first)
		}
	}
}

// TestCDNOWAllRowsAccepted: every CDNOW row lands, identical rows included.
func TestCDNOWAllRowsAccepted(t *testing.T) {
	for _, tc := range []struct {
		sample bool
		rows   int64
	}{{false, 69659}, {true, 6919}} {
		dir := t.TempDir()
		paths, err := datasets.WriteCDNOW(dir, tc.sample)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pipeline.LoadConfig(paths[1])
		if err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(dir, "data")
		sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{Source: cfg.SourceOptions}, paths[0])
		if err != nil {
			t.Fatal(err)
		}
		if sum.Accepted != tc.rows || sum.Rejected != 0 {
			t.Fatalf("sample=%v: accepted %d rejected %d, want %d and 0", tc.sample, sum.Accepted, sum.Rejected, tc.rows)
		}
		got := ingesttest.ReadAll(t, data)
		var total int64
		for _, tx := range got {
			total += tx.AmountMicros
		}
		if !tc.sample && total != 2_500_315_630_000 {
			t.Fatalf("CDNOW master total = %d micro-dollars, want 2500315.63 dollars", total)
		}
	}
}

// TestQuarantineGolden: every kind of bad row is kept with its reason and raw text.
func TestQuarantineGolden(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "orders.csv")
	body := "customer_id,order_id,ordered_at,amount\n" +
		"a,1,2024-01-01T10:00:00Z,10.00\n" +
		",2,2024-01-01T10:00:00Z,10.00\n" +
		"b,3,yesterday,10.00\n" +
		"c,4,2024-01-01T10:00:00Z,ten\n" +
		"d,5,2024-01-01T10:00:00Z\n" +
		"e\xff,6,2024-01-01T10:00:00Z,1.00\n" +
		"f,1,2024-01-02T10:00:00Z,5.00\n" +
		"g,7\"x,2024-01-01T10:00:00Z,1.00\n" +
		"h,,2024-01-01T10:00:00Z,1.00\n" +
		"ï,9,2024-01-01T10:00:00Z,-2.50\n" // UTF-8 text, so the broken row is a broken row
	os.WriteFile(src, []byte(body), 0o644)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{MaxBadFraction: 1}, src)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2 || sum.Rejected != 8 || sum.Duplicates != 1 || sum.RowsRead != 10 {
		t.Fatalf("summary %+v", sum)
	}
	q, err := os.ReadFile(sum.Quarantine)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(q), src, "SRC")
	golden := filepath.Join("testdata", "quarantine.golden.csv")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("quarantine differs from %s (run go test -update and review the diff):\n%s", golden, got)
	}
}

// TestTooManyBadCommitsNothing: over the limit, the warehouse is untouched,
// the quarantine is still written, and the error counts reasons.
func TestTooManyBadCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "orders.csv")
	os.WriteFile(src, []byte("customer_id,order_id,ordered_at,amount\na,1,2024-01-01,1\nb,2,bad,1\n"), 0o644)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{MaxBadFraction: 0.01}, src)
	if !errors.Is(err, ingest.ErrTooManyBad) || !strings.Contains(err.Error(), "unparseable_time=1") {
		t.Fatalf("err = %v", err)
	}
	if _, statErr := os.Stat(sum.Quarantine); statErr != nil {
		t.Fatalf("quarantine not written: %v", statErr)
	}
	if parts, _ := (&warehouse.Warehouse{Dir: data}).Parts(); len(parts) != 0 {
		t.Fatalf("committed %d parts", len(parts))
	}
	matches, _ := filepath.Glob(filepath.Join(data, "transactions", "*", "*"))
	if len(matches) != 0 {
		t.Fatalf("left files behind: %v", matches)
	}
}

// TestIdempotentAndForce: a file already ingested is skipped; with Force its
// orders are duplicates; a file without order ids is never deduplicated on content.
func TestIdempotentAndForce(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "orders.csv")
	os.WriteFile(src, []byte("customer_id,ordered_at,amount\na,2024-01-01,1.00\na,2024-01-01,1.00\n"), 0o644)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{}, src)
	if err != nil || sum.Accepted != 2 {
		t.Fatalf("first: %+v %v (identical rows without order ids are two purchases)", sum, err)
	}
	sum, err = ingesttest.Ingest(t, data, ingest.IngestOptions{}, src)
	if err != nil || !sum.Files[0].Skipped || sum.Committed {
		t.Fatalf("second: %+v %v", sum, err)
	}
	sum, err = ingesttest.Ingest(t, data, ingest.IngestOptions{Force: true}, src)
	if err != nil || sum.Duplicates != 2 || sum.Accepted != 0 {
		t.Fatalf("forced: %+v %v", sum, err)
	}
	if n := len(ingesttest.ReadAll(t, data)); n != 2 {
		t.Fatalf("warehouse has %d rows, want 2", n)
	}
}

// TestLineItems: product lines of one order are summed into one order.
func TestLineItems(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "retail.csv")
	os.WriteFile(src, []byte("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"+
		"536365,A,6,12/1/2010 8:26,2.55,17850\n"+
		"536366,B,2,12/1/2010 8:28,1.85,17850\n"+
		"536365,C,8,12/1/2010 8:26,3.39,17850\n"+
		"C536379,D,-1,12/13/2010 9:41,27.50,14527\n"), 0o644)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{Source: ingest.SourceOptions{PriceCol: "UnitPrice", QuantityCol: "Quantity"}}, src)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 3 || sum.Rejected != 0 {
		t.Fatalf("%+v", sum)
	}
	got := ingesttest.ReadAll(t, data)
	want := map[string]int64{"536365": 6*2_550_000 + 8*3_390_000, "536366": 3_700_000, "C536379": -27_500_000}
	for _, tx := range got {
		if tx.AmountMicros != want[tx.OrderID] {
			t.Errorf("order %s amount %d want %d", tx.OrderID, tx.AmountMicros, want[tx.OrderID])
		}
	}
	if got[0].TimeMicros != time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC).UnixMicro() {
		t.Errorf("month-first date read as %v", time.UnixMicro(got[0].TimeMicros).UTC())
	}
}

// TestAmbiguousColumnsAndDates: never a guess.
func TestAmbiguousColumnsAndDates(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"cols.csv":  "customer_id,created_at,ordered_at,amount\na,2024-01-01,2024-01-01,1\n",
		"dates.csv": "customer_id,order_id,date,amount\na,1,01/02/2024,1\nb,2,03/04/2024,1\n",
		"mixed.csv": "customer_id,order_id,date,amount\na,1,13/02/2024,1\nb,2,03/14/2024,1\n",
	}
	wantFlag := map[string]string{"cols.csv": "--time-col", "dates.csv": "--time-format", "mixed.csv": "--time-format"}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		_, err := ingesttest.Ingest(t, filepath.Join(dir, "data"), ingest.IngestOptions{}, p)
		if err == nil || !strings.Contains(err.Error(), wantFlag[name]) {
			t.Errorf("%s: err = %v, want a message naming %s", name, err, wantFlag[name])
		}
	}
}

func TestEncodingLatin1(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "old.csv")
	os.WriteFile(src, []byte("customer_id,order_id,ordered_at,amount\nM\xfcller,1,2024-01-01,1\n"), 0o644)
	sum, err := ingesttest.Ingest(t, filepath.Join(dir, "strict"), ingest.IngestOptions{MaxBadFraction: 1, Source: ingest.SourceOptions{Encoding: "utf-8"}}, src)
	if err != nil || sum.Files[0].ByReason["invalid_encoding"] != 1 {
		t.Fatalf("strict: %+v %v", sum, err)
	}
	for _, enc := range []string{"latin1", ""} { // "": no byte of the file is UTF-8 text, so windows-1252
		data := filepath.Join(dir, "latin1"+enc)
		if _, err := ingesttest.Ingest(t, data, ingest.IngestOptions{Source: ingest.SourceOptions{Encoding: enc}}, src); err != nil {
			t.Fatal(err)
		}
		if got := ingesttest.ReadAll(t, data); got[0].CustomerID != "Müller" {
			t.Fatalf("--encoding %q: customer %q", enc, got[0].CustomerID)
		}
	}
	// A UTF-8 file with one broken row far down is read as UTF-8, the row quarantined.
	var body strings.Builder
	body.WriteString("customer_id,order_id,ordered_at,amount\n")
	for i := range 5000 {
		fmt.Fprintf(&body, "c%d,%d,2024-01-01,1\n", i, i)
	}
	body.WriteString("M\xfcller,x1,2024-01-01,1\nJürgen,x2,2024-01-01,1\n")
	mixed := filepath.Join(dir, "mixed.csv")
	os.WriteFile(mixed, []byte(body.String()), 0o644)
	data := filepath.Join(dir, "mixed")
	sum, err = ingesttest.Ingest(t, data, ingest.IngestOptions{MaxBadFraction: 0.01}, mixed)
	if err != nil || sum.Files[0].ByReason["invalid_encoding"] != 1 || sum.Accepted != 5001 {
		t.Fatalf("mixed: %+v %v", sum, err)
	}
}

func TestLockRefusesSecondWriter(t *testing.T) {
	data := t.TempDir()
	l, err := warehouse.AcquireLock(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	start := time.Now()
	_, err = warehouse.AcquireLock(data, "second")
	if !errors.Is(err, warehouse.ErrLocked) || !strings.Contains(err.Error(), filepath.Join(data, "LOCK")) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("took %v to refuse", time.Since(start))
	}
	// A lock of a dead process is taken over.
	l.Release()
	os.WriteFile(filepath.Join(data, "LOCK"), []byte(`{"pid":999999999,"host":"`+hostname()+`","command":"x","started":"2020-01-01T00:00:00Z"}`), 0o644)
	l2, err := warehouse.AcquireLock(data, "third")
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	l2.Release()
}

func hostname() string { h, _ := os.Hostname(); return h }

// TestSmallChunks ingests a file in chunks of 2 KiB, split in pieces of
// 300 bytes, so that parse workers race over many chunks and chunk buffers
// are reused once their rows are routed: the warehouse must hold exactly
// the first row of every order (some orders repeat across chunks, some
// within one), and the quarantine every later row and every bad row, in
// line order. Some customer ids are quoted, with a comma or a line break.
func TestSmallChunks(t *testing.T) {
	defer ingest.SetIngestSizes(2<<10, 300, 7)()
	dir := t.TempDir()
	src := filepath.Join(dir, "orders.csv")
	rng := rand.New(rand.NewPCG(7, 8))
	var body strings.Builder
	body.WriteString("customer_id,order_id,ordered_at,amount,currency\n")
	var want []warehouse.Transaction
	var wantBad []int64 // quarantined lines
	seen := map[string]bool{}
	start := time.Date(2023, 11, 1, 0, 0, 0, 0, time.UTC)
	for line, row := int64(2), 0; row < 40_000; row, line = row+1, line+1 {
		order := fmt.Sprintf("O%d", row)
		switch r := rng.IntN(100); {
		case r < 3: // an order seen before, near or far
			order = fmt.Sprintf("O%d", max(0, row-1-rng.IntN(min(row, 3000)+1)))
		case r < 4:
			fmt.Fprintf(&body, "c%d,%s,not a time,1.00,EUR\n", rng.IntN(500), order)
			wantBad = append(wantBad, line)
			continue
		}
		at := start.Add(time.Duration(rng.Int64N(90*86400)) * time.Second)
		cents := rng.Int64N(20000) - 1000
		tx := warehouse.Transaction{CustomerID: fmt.Sprintf("c%d", rng.IntN(500)), OrderID: order, TimeMicros: at.UnixMicro(), AmountMicros: cents * 10_000, Currency: "EUR"}
		quoted := tx.CustomerID
		switch rng.IntN(50) {
		case 0:
			tx.CustomerID += ",x"
			quoted = `"` + tx.CustomerID + `"`
		case 1:
			tx.CustomerID += "\ny"
			quoted = `"` + tx.CustomerID + `"`
		}
		fmt.Fprintf(&body, "%s,%s,%s,%s,EUR\n", quoted, order, at.Format(time.RFC3339), big.NewRat(cents, 100).FloatString(2))
		lines := int64(strings.Count(quoted, "\n"))
		// A negative row is a refund of its order, keyed by its time and
		// amount too: only the same refund again is a duplicate.
		key := order
		if cents < 0 {
			key = fmt.Sprintf("%s refund %d %d", order, tx.TimeMicros, cents)
		}
		if seen[key] {
			wantBad = append(wantBad, line)
			line += lines
			continue
		}
		seen[key] = true
		want = append(want, tx)
		line += lines
	}
	os.WriteFile(src, []byte(body.String()), 0o644)
	data := filepath.Join(dir, "data")
	sum, err := ingesttest.Ingest(t, data, ingest.IngestOptions{MaxBadFraction: 1}, src)
	if err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{} // of each kept order, in source order
	for i, tx := range want {
		rank[rowKey(tx)] = i
	}
	// An order and its refunds share an id: ties go by time and amount.
	byOrder := func(a, b warehouse.Transaction) int {
		return cmp.Or(cmp.Compare(a.OrderID, b.OrderID), cmp.Compare(a.TimeMicros, b.TimeMicros), cmp.Compare(a.AmountMicros, b.AmountMicros))
	}
	slices.SortFunc(want, byOrder)
	got := ingesttest.ReadAll(t, data)
	slices.SortFunc(got, byOrder)
	if !slices.Equal(got, want) {
		i := firstDiff(got, want)
		t.Fatalf("warehouse: %d rows, want %d; first difference at %d: %+v, want %+v", len(got), len(want), i, got[min(i, len(got)-1)], want[min(i, len(want)-1)])
	}
	checkPartsInOrder(t, data, rank)
	refunds := 0
	for _, tx := range want {
		if tx.AmountMicros < 0 {
			refunds++
		}
	}
	if sum.Files[0].Refunds != int64(refunds) || sum.Accepted != int64(len(want)) {
		t.Fatalf("summary: %d accepted, %d refunds; want %d and %d", sum.Accepted, sum.Files[0].Refunds, len(want), refunds)
	}
	recs := ingesttest.ReadCSVFile(t, sum.Quarantine)
	var gotBad []int64
	for _, r := range recs[1:] {
		var line int64
		fmt.Sscan(r[1], &line)
		gotBad = append(gotBad, line)
	}
	if !slices.Equal(gotBad, wantBad) {
		i := firstDiff(gotBad, wantBad)
		t.Fatalf("quarantine: %d lines, want %d (in line order); first difference at %d: %v, want %v", len(gotBad), len(wantBad), i, gotBad[max(0, i-2):min(i+3, len(gotBad))], wantBad[max(0, i-2):min(i+3, len(wantBad))])
	}
}

// checkPartsInOrder checks that every row of every part lies in the part's
// UTC month, and that a part's rows are in source order: rank gives each
// order's place in it.
func checkPartsInOrder(t *testing.T, data string, rank map[string]int) {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(data, "transactions", "month=*", "*.parquet"))
	if len(parts) < 3 {
		t.Fatalf("%d parts, want one for each of the months", len(parts))
	}
	for _, p := range parts {
		month, err := time.Parse("2006-01", strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "month="))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.ReadFile[warehouse.Transaction](p)
		if err != nil {
			t.Fatal(err)
		}
		last := -1
		for _, r := range rows {
			at := time.UnixMicro(r.TimeMicros).UTC()
			if at.Before(month) || !at.Before(month.AddDate(0, 1, 0)) {
				t.Fatalf("%s: order %s at %s is not in the part's month", p, r.OrderID, at)
			}
			if n := rank[rowKey(r)]; n <= last {
				t.Fatalf("%s: order %s (row %d kept) after row %d: rows out of source order", p, r.OrderID, n, last)
			} else {
				last = n
			}
		}
	}
}

func firstDiff[T comparable](a, b []T) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// rowKey names a row by its order, time and amount: an order and its
// refunds share the order id.
func rowKey(t warehouse.Transaction) string {
	return fmt.Sprintf("%s %d %d", t.OrderID, t.TimeMicros, t.AmountMicros)
}
