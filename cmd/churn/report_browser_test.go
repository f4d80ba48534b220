package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/churnhq/churn/datasets"
)

// chromium finds Debian's chromium (installed by .ci/run). With CI=true a
// missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found; .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

// TestReportInBrowser renders a run's report.html in headless Chromium:
// it loads without console errors, every chart is an SVG in the DOM, and
// the screenshot is kept in ARTIFACTS_DIR (default ../../artifacts).
func TestReportInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	if _, err := datasets.WriteCDNOW(dir, true); err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(dir, "inbox")
	os.MkdirAll(inbox, 0o755)
	b, _ := os.ReadFile(filepath.Join(dir, datasets.CDNOWSample))
	os.WriteFile(filepath.Join(inbox, "day1.txt"), b, 0o644)
	data := filepath.Join(dir, "wh")
	var out, errb bytes.Buffer
	if code := run([]string{"run", "--data", data, "--config", filepath.Join(dir, datasets.ConfigName), "--inbox", inbox,
		"--as-of", "1998-06-30", "--perks", filepath.Join(dir, datasets.PerksName), "--budget", "300"}, &out, &errb); code != 0 {
		t.Fatalf("churn run exit %d: %s", code, errb.String())
	}
	report := filepath.Join(data, "runs", "1998-06-30", "report.html")
	art := os.Getenv("ARTIFACTS_DIR")
	if art == "" {
		art = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, _ := filepath.Abs(filepath.Join(art, "report.png"))
	profile := t.TempDir()
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile, "--no-first-run",
		"--enable-logging=stderr", "--v=0", "--window-size=1280,6000"}
	cmd := exec.Command(browser, append(common, "--dump-dom", "file://"+report)...)
	var dom, logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &dom, &logs
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, logs.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatal("chromium did not finish in 90 s")
	}
	if m := regexp.MustCompile(`(?m)^.*(CONSOLE|Uncaught|Failed to load).*$`).FindAllString(logs.String(), -1); len(m) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(m, "\n"))
	}
	for _, id := range []string{"chart-segments", "chart-risk", "chart-tracking", "chart-calibration", "chart-lift", "chart-plan", "chart-budget"} {
		re := regexp.MustCompile(`<figure class="chart" id="` + id + `"><svg`)
		if !re.MatchString(dom.String()) {
			t.Errorf("chart %s is missing from the rendered page", id)
		}
	}
	for _, s := range []string{"Data quality", "RFM segments", "Churn risk", "Backtest", "Perk plan", "Top at-risk customers",
		"Value by budget", "the riskiest customers given the cheapest perk", "held out as control groups", "draws of the fitted parameters"} {
		if !strings.Contains(dom.String(), s) {
			t.Errorf("section %q missing", s)
		}
	}
	shotCmd := exec.Command(browser, append(common, "--screenshot="+shot, "file://"+report)...)
	if b, err := shotCmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, b)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s missing or empty: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}
