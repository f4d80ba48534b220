package features

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDefaultSegmentTableGolden pins the segment of every (r, f, m).
func TestDefaultSegmentTableGolden(t *testing.T) {
	table := DefaultSegments()
	var b strings.Builder
	b.WriteString("r,f,m,segment\n")
	seen := map[string]bool{}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				s := table.Segment(r, f, m)
				seen[s] = true
				fmt.Fprintf(&b, "%d,%d,%d,%s\n", r, f, m, s)
			}
		}
	}
	golden := filepath.Join("testdata", "segments.golden.csv")
	if *update {
		os.WriteFile(golden, []byte(b.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("segment table differs from %s; rerun with -update and review the diff", golden)
	}
	for _, name := range []string{Champions, LoyalCustomers, PotentialLoyalist, NewCustomers, Promising, NeedAttention, AboutToSleep, AtRisk, CantLoseThem, Hibernating, Lost} {
		if !seen[name] {
			t.Errorf("segment %q is unreachable", name)
		}
	}
}

func TestIncompleteSegmentTableIsAnError(t *testing.T) {
	_, err := NewSegmentTable([]SegmentRule{{Name: "Top", R: [2]int{4, 5}}})
	if err == nil || !strings.Contains(err.Error(), "no rule matches") {
		t.Fatalf("err = %v", err)
	}
}

func TestQuintileScoresTiesAndOrder(t *testing.T) {
	vals := []float64{5, 1, 1, 1, 3, 9, 9, 2, 7, 8}
	got := quintileScores(vals)
	// Sorted: 1 1 1 2 3 5 7 8 9 9 → below counts 0 0 0 3 4 5 6 7 8 8.
	want := []int{3, 1, 1, 1, 3, 5, 5, 2, 4, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("scores = %v, want %v", got, want)
		}
	}
}
