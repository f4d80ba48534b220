package pgsink

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/pgsink/pgtest"
)

// BenchmarkExport: the first export of 3.4M customers (CHURN_PG_ROWS),
// then a night with 5 % of them changed, into a local server (the
// issue's budgets: 60 s and 10 s).
func BenchmarkExport(b *testing.B) {
	n := 3_400_000
	if s := os.Getenv("CHURN_PG_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for range b.N {
		url := pgtest.Database(b)
		feed := generated(n)
		dir1 := writeRunTB(b, feed, "2025-06-30")
		for i := range feed {
			if i%20 == 0 {
				feed[i].RiskTier = "changed"
			}
		}
		dir2 := writeRunTB(b, feed, "2025-07-01")
		b.ResetTimer()
		start := time.Now()
		if _, err := Export(context.Background(), dir1, Options{URL: url}); err != nil {
			b.Fatal(err)
		}
		first := time.Since(start)
		start = time.Now()
		res, err := Export(context.Background(), dir2, Options{URL: url})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(first.Seconds(), "first-s")
		b.ReportMetric(time.Since(start).Seconds(), "night5pct-s")
		b.ReportMetric(float64(res.Updated), "updated")
	}
}

func init() {
	if os.Getenv("CHURN_PG_DEBUG") != "" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
}
