package pgsink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/export"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/pgsink/pgtest"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("PGSINK_KILL_CHILD"); dir != "" {
		killChild(dir)
		return
	}
	pgtest.Main(m)
}

// killChild is the process the kill test kills: an export that stops
// inside its transaction, after the upsert and the tombstones, before
// COMMIT.
func killChild(dir string) {
	_, err := Export(context.Background(), dir, Options{URL: os.Getenv("PGSINK_URL"), beforeCommit: func() {
		fmt.Println("in transaction")
		time.Sleep(time.Minute)
	}})
	fmt.Fprintln(os.Stderr, "the export was not killed:", err)
	os.Exit(1)
}

// feedRow is a customer of a generated feed.
func feedRow(i int, rng *rand.Rand) export.CRMRow {
	ids := []string{"=HYPERLINK(\"x\")", "-12", "+49 170", "@home", "Ünïcødé ✓", "007"}
	id := fmt.Sprintf("c%05d", i)
	if i < len(ids) {
		id = ids[i]
	}
	tiers := []string{"low", "medium", "high"}
	next := int32(20300 + i%50)
	r := export.CRMRow{CustomerID: id, Segment: []string{"Champions", "At Risk", "Hibernating"}[i%3],
		RScore: int32(1 + i%5), FScore: int32(1 + i%4), MScore: int32(1 + i%3), FirstPurchase: 19800, LastPurchase: int32(20000 + i%100),
		Orders: int64(1 + i%7), Frequency: int64(i % 7), Recency: float64(i%30) + 0.5, Tenure: 300, MonetaryAvg: 12.345 + float64(i),
		TotalSpend: int64(1_234_567 * (i + 1)), PAlive: rng.Float64(), ChurnRisk: rng.Float64(), RiskTier: tiers[i%3],
		ExpectedPurchases: rng.Float64() * 3, ExpectedSpend: 40.125, CLV: rng.Float64() * 100, ScoredAt: 20400, Model: "bgnbd+gamma-gamma",
		PurchasesP10: 0, PurchasesP90: int32(i % 4)}
	r.PAliveP10, r.PAliveP90 = r.PAlive*0.9, r.PAlive
	r.ChurnRiskP10, r.ChurnRiskP90 = r.ChurnRisk*0.9, r.ChurnRisk
	r.CLVP10, r.CLVP90 = r.CLV*0.8, r.CLV*1.2
	if i%4 == 0 {
		r.ExpectedNextPurchase = &next
	}
	if i%5 == 0 {
		perk := "disc15"
		r.RecommendedPerk = &perk
	}
	return r
}

// writeRun writes a run directory with the feed rows (sorted by id).
func writeRun(t *testing.T, rows []export.CRMRow, asOf string) string {
	return writeRunTB(t, rows, asOf)
}

func writeRunTB(t testing.TB, rows []export.CRMRow, asOf string) string {
	t.Helper()
	dir := t.TempDir()
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b export.CRMRow) int { return strings.Compare(a.CustomerID, b.CustomerID) })
	// The columns the export computes for the whole feed.
	day, _ := time.Parse(time.DateOnly, asOf)
	risk, clv := make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		risk[i], clv[i] = r.ChurnRisk, r.CLV
	}
	rp, cp := export.RankPercent(risk), export.RankPercent(clv)
	for i := range rows {
		r := &rows[i]
		r.ChurnRiskPct, r.CLVPct, r.ModelVersion, r.HorizonDays = int32(rp[i]), int32(cp[i]), "bgnbd+gamma-gamma@0123456789ab", 90
		r.AsOf, r.ScoredAt, r.UpdatedAt = int32(day.Unix()/86400), int32(day.Unix()/86400), int32(day.Unix()/86400)
	}
	if err := os.MkdirAll(filepath.Join(dir, "exports"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "exports", "crm_scores.parquet"), rows); err != nil {
		t.Fatal(err)
	}
	meta := night.ScoresMeta{AsOf: asOf, Model: "bgnbd+gamma-gamma", Currency: "EUR", ScoreOptions: night.DefaultScoreOptions()}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(dir, "scores.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), []byte(`{"model":"bgnbd","night":"`+asOf+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func generated(n int) []export.CRMRow {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]export.CRMRow, n)
	for i := range out {
		out[i] = feedRow(i, rng)
	}
	return out
}

func connectTest(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// snapshot is every row of both tables as text, in order: what "the
// table is unchanged" compares.
func snapshot(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s, runs string
	if err := conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(t::text, E'\n' ORDER BY customer_id), '') FROM churn_scores t`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), `SELECT coalesce(string_agg(r::text, E'\n' ORDER BY exported_at), '') FROM churn_runs r`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	return s + "\n--\n" + runs
}

type tableRow struct {
	spend, tier, asOf string
	perk              *string
	riskPct, clvPct   int16
	updated           time.Time
	deleted           *time.Time
}

func readTable(t *testing.T, conn *pgx.Conn) map[string]tableRow {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT customer_id, total_spend::text, risk_tier, recommended_perk, churn_risk_pct, clv_pct, as_of::text, updated_at, deleted_at FROM churn_scores`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tableRow{}
	for rows.Next() {
		var id string
		var r tableRow
		if err := rows.Scan(&id, &r.spend, &r.tier, &r.perk, &r.riskPct, &r.clvPct, &r.asOf, &r.updated, &r.deleted); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return out
}

// TestFirstExport: every customer in the table with the exact id, money
// as exact decimals, the perk as null or text, and the percentiles
// counted here by brute force.
func TestFirstExport(t *testing.T) {
	url := pgtest.Database(t)
	feed := generated(500)
	dir := writeRun(t, feed, "2025-06-30")
	res, err := Export(context.Background(), dir, Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 500 || res.Inserted != 500 || res.Updated != 0 || res.Deleted != 0 || res.Repeated {
		t.Fatalf("result %+v", res)
	}
	conn := connectTest(t, url)
	table := readTable(t, conn)
	if len(table) != 500 {
		t.Fatalf("%d rows in the table, want 500", len(table))
	}
	for _, f := range feed {
		r, ok := table[f.CustomerID]
		if !ok {
			t.Fatalf("customer %q is not in the table", f.CustomerID)
		}
		wantSpend := fmt.Sprintf("%d.%06d", f.TotalSpend/1_000_000, f.TotalSpend%1_000_000)
		below := 0
		for _, g := range feed {
			if g.ChurnRisk < f.ChurnRisk {
				below++
			}
		}
		switch {
		case r.spend != wantSpend:
			t.Errorf("%q: total_spend %s, want %s", f.CustomerID, r.spend, wantSpend)
		case r.tier != f.RiskTier || (r.perk == nil) != (f.RecommendedPerk == nil) || r.perk != nil && *r.perk != *f.RecommendedPerk:
			t.Errorf("%q: tier %s perk %v, feed %s %v", f.CustomerID, r.tier, r.perk, f.RiskTier, f.RecommendedPerk)
		case int(r.riskPct) != 100*below/len(feed):
			t.Errorf("%q: churn_risk_pct %d, want %d", f.CustomerID, r.riskPct, 100*below/len(feed))
		case r.asOf != "2025-06-30" || r.deleted != nil:
			t.Errorf("%q: as_of %s deleted_at %v", f.CustomerID, r.asOf, r.deleted)
		}
	}
	var runs int
	var sha string
	if err := conn.QueryRow(context.Background(), `SELECT count(*), min(feed_sha256) FROM churn_runs`).Scan(&runs, &sha); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || sha != res.FeedSHA {
		t.Errorf("churn_runs: %d rows, sha %s; want 1, %s", runs, sha, res.FeedSHA)
	}
}

// TestSecondNight: a night with changed tiers, new customers, customers
// gone and scores that moved only by the calendar: only the changed and
// new rows get a new updated_at, the gone ones a tombstone (the row
// kept), and a customer who comes back loses it.
func TestSecondNight(t *testing.T) {
	url := pgtest.Database(t)
	conn := connectTest(t, url)
	night1 := generated(300)
	if _, err := Export(context.Background(), writeRun(t, night1, "2025-06-30"), Options{URL: url}); err != nil {
		t.Fatal(err)
	}
	before := readTable(t, conn)
	time.Sleep(20 * time.Millisecond)
	rng := rand.New(rand.NewPCG(9, 9))
	var night2 []export.CRMRow
	changed, gone := map[string]bool{}, map[string]bool{}
	for i, r := range night1 {
		switch {
		case i%50 == 7: // gone
			gone[r.CustomerID] = true
			continue
		case i%25 == 3: // a tier move
			r.RiskTier = "high"
			if night1[i].RiskTier == "high" {
				r.RiskTier = "low"
			}
			changed[r.CustomerID] = true
		}
		r.PAlive, r.ChurnRisk, r.Tenure = rng.Float64(), rng.Float64(), r.Tenure+1 // the calendar's moves
		night2 = append(night2, r)
	}
	for i := 300; i < 310; i++ {
		night2 = append(night2, feedRow(i, rng))
	}
	res, err := Export(context.Background(), writeRun(t, night2, "2025-07-01"), Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 10 || res.Updated != len(changed) || res.Deleted != len(gone) || res.Unchanged != 300-len(gone)-len(changed) {
		t.Fatalf("result %+v; want 10 inserted, %d updated, %d deleted", res, len(changed), len(gone))
	}
	after := readTable(t, conn)
	if len(after) != 310 {
		t.Fatalf("%d rows, want 310 (tombstoned rows are kept)", len(after))
	}
	for id, r := range after {
		old, existed := before[id]
		switch {
		case gone[id]:
			if r.deleted == nil || !r.updated.After(old.updated) {
				t.Errorf("%q left the feed: deleted_at %v, updated_at %v (was %v)", id, r.deleted, r.updated, old.updated)
			}
		case changed[id] || !existed:
			if r.deleted != nil || existed && !r.updated.After(old.updated) || r.asOf != "2025-07-01" {
				t.Errorf("%q changed or new: updated_at %v (was %v), as_of %s", id, r.updated, old.updated, r.asOf)
			}
		default:
			if !r.updated.Equal(old.updated) || r.asOf != "2025-06-30" {
				t.Errorf("%q unchanged but updated_at %v (was %v), as_of %s", id, r.updated, old.updated, r.asOf)
			}
		}
	}
	// Night 3: the gone customers come back unchanged.
	res, err = Export(context.Background(), writeRun(t, append(night2, pick(night1, gone)...), "2025-07-02"), Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != len(gone) || res.Inserted != 0 || res.Deleted != 0 {
		t.Fatalf("night 3: %+v; want the %d returning customers updated", res, len(gone))
	}
	for id := range gone {
		if r := readTable(t, conn)[id]; r.deleted != nil {
			t.Errorf("%q came back, deleted_at still %v", id, r.deleted)
		}
	}
}

func pick(rows []export.CRMRow, ids map[string]bool) []export.CRMRow {
	var out []export.CRMRow
	for _, r := range rows {
		if ids[r.CustomerID] {
			out = append(out, r)
		}
	}
	return out
}

// TestIdempotent: the same feed exported twice changes nothing, not even
// updated_at or churn_runs.
func TestIdempotent(t *testing.T) {
	url := pgtest.Database(t)
	conn := connectTest(t, url)
	dir := writeRun(t, generated(200), "2025-06-30")
	if _, err := Export(context.Background(), dir, Options{URL: url}); err != nil {
		t.Fatal(err)
	}
	first := snapshot(t, conn)
	res, err := Export(context.Background(), dir, Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Repeated || res.Inserted+res.Updated+res.Deleted != 0 || res.Unchanged != 200 {
		t.Fatalf("second export: %+v", res)
	}
	if second := snapshot(t, conn); second != first {
		t.Fatal("the second export of the same feed changed the tables")
	}
}

// TestKillDuringTransaction: an export killed (SIGKILL) after its upsert
// and tombstones, before COMMIT, leaves both tables exactly as they were,
// and the next export goes through (the lock died with it).
func TestKillDuringTransaction(t *testing.T) {
	url := pgtest.Database(t)
	conn := connectTest(t, url)
	night1 := generated(200)
	if _, err := Export(context.Background(), writeRun(t, night1, "2025-06-30"), Options{URL: url}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, conn)
	night2 := slices.Clone(night1[20:])
	for i := range night2 {
		night2[i].RiskTier = "high"
	}
	dir := writeRun(t, night2, "2025-07-01")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGSINK_KILL_CHILD="+dir, "PGSINK_URL="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "in transaction\n" {
		cmd.Process.Kill()
		t.Fatalf("the child said %q, %v", line, err)
	}
	// The child's writes are in place, uncommitted: invisible here.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		// The server notices the closed connection and rolls back.
		conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := snapshot(t, conn); after != before {
		t.Fatal("the killed export changed the tables")
	}
	res, err := Export(context.Background(), dir, Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 20 || res.Updated == 0 {
		t.Fatalf("the export after the kill: %+v", res)
	}
}

// TestBadTargets: an unreachable server after bounded retries, an unknown
// role at once, a missing schema, and a table that is not churn's: each an
// error that says so, and never the password.
func TestBadTargets(t *testing.T) {
	url := pgtest.Database(t)
	dir := writeRun(t, generated(10), "2025-06-30")
	const secret = "s3cr3t-pw"
	start := time.Now()
	_, err := Export(context.Background(), dir, Options{URL: "postgres://churn:" + secret + "@127.0.0.1:1/x?connect_timeout=2", Attempts: 3, Backoff: 10 * time.Millisecond})
	if err == nil || !errors.Is(err, ErrPostgres) || !strings.Contains(err.Error(), "after 3 attempt(s)") || strings.Contains(err.Error(), secret) {
		t.Errorf("unreachable server: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("unreachable server: gave up after %v", time.Since(start))
	}
	bad := strings.Replace(url, "churn@", "nobody:"+secret+"@", 1)
	_, err = Export(context.Background(), dir, Options{URL: bad, Attempts: 3, Backoff: time.Second})
	if err == nil || !strings.Contains(err.Error(), "after 1 attempt(s)") || strings.Contains(err.Error(), secret) {
		t.Errorf("unknown role: want one attempt, no password: %v", err)
	}
	_, err = Export(context.Background(), dir, Options{URL: url, Schema: "crm"})
	if err == nil || !strings.Contains(err.Error(), `schema "crm" does not exist`) {
		t.Errorf("missing schema: %v", err)
	}
	conn := connectTest(t, url)
	if _, err := conn.Exec(context.Background(), `CREATE TABLE someone_elses (customer_id text)`); err != nil {
		t.Fatal(err)
	}
	_, err = Export(context.Background(), dir, Options{URL: url, Table: "someone_elses"})
	if err == nil || !strings.Contains(err.Error(), "not churn's table") {
		t.Errorf("a foreign table: %v", err)
	}
	if _, err := Export(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), URLEnv) {
		t.Errorf("no URL: %v", err)
	}
}
