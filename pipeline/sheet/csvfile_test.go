package sheet_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/pipeline/perkplan"
)

// TestCSVRowLines: errors name the line a row is on in the file, past blank
// lines and cells that span lines, and a header without a required column
// or with an unknown one is refused on line 1.
func TestCSVRowLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.csv")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("customer_id,perk_id,sent_at\nc1,control,2024-01-02\n\n\"c\n2\",p,2024-01-03\nc3,p,bad\n")
	_, err := perkplan.ReadCampaigns(path, time.UTC)
	if !errors.Is(err, perkplan.ErrCampaigns) || !strings.Contains(err.Error(), "line 6, column sent_at") {
		t.Errorf("err = %v, want line 6", err)
	}
	write("perk_id,name,kind,cost\n")
	if _, err := perkplan.ReadCatalog(path, nil); !errors.Is(err, perkplan.ErrCatalog) || !strings.Contains(err.Error(), "line 1: missing column uplift") {
		t.Errorf("err = %v, want the missing uplift column", err)
	}
	write("perk_id,name,kind,cost,uplift,colour\n")
	if _, err := perkplan.ReadCatalog(path, nil); !errors.Is(err, perkplan.ErrCatalog) || !strings.Contains(err.Error(), `line 1: unknown column "colour"`) {
		t.Errorf("err = %v, want the unknown column", err)
	}
}
