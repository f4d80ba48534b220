// Package datasets holds the data churn ships with: the public CDNOW data set
// that every buy-till-you-die paper reports on, embedded and compressed, and a
// deterministic synthetic generator whose ground truth is known.
package datasets

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

//go:embed cdnow/CDNOW_master.txt.gz cdnow/CDNOW_sample.txt.gz cdnow/cdnow_customers_summary.csv
var cdnowFS embed.FS

// PerksCSV is a ready example perk catalog (README, "Perks"): one perk of
// most kinds, with capacities, segment restrictions and per-segment uplifts.
//
//go:embed perks.csv
var PerksCSV []byte

// PerksName is the file name WriteCDNOW gives the example catalog.
const PerksName = "perks.csv"

// CDNOW file names as written by WriteCDNOW.
const (
	CDNOWMaster  = "CDNOW_master.txt"
	CDNOWSample  = "CDNOW_sample.txt"
	CDNOWSummary = "cdnow_customers_summary.csv"
	ConfigName   = "churn.yaml"
)

// cdnowMasterConfig reads CDNOW_master.txt: whitespace-separated with a
// header (customer_id date number_of_cds dollar_value), dates YYYYMMDD, US dollars.
const cdnowMasterConfig = `# churn ingest --config %[1]s %[2]s
# CDNOW master file: all 23,570 customers, 69,659 purchases, 1997-01-01 .. 1998-06-30.
# The data has no order id: churn derives one from the file hash and line, so
# identical rows (real repeat purchases) are all kept.
delimiter: whitespace
customer-col: customer_id
time-col: date
time-format: "%%Y%%m%%d"
amount-col: dollar_value
quantity-col: number_of_cds
currency: USD
`

// cdnowSampleConfig reads CDNOW_sample.txt: no header; master id, sample id
// (1–2357), date, CDs, dollars. The customer id is the master id.
const cdnowSampleConfig = `# churn ingest --config %[1]s %[2]s
# CDNOW 1/10 sample: the 2,357 customers of the papers, 6,919 purchases.
# No header; the sample id (1..2357) is the ID of cdnow_customers_summary.csv.
delimiter: whitespace
no-header: true
columns: [customer_id, sample_id, date, number_of_cds, dollar_value]
customer-col: customer_id
time-col: date
time-format: "%%Y%%m%%d"
amount-col: dollar_value
quantity-col: number_of_cds
currency: USD
`

// WriteCDNOW writes the bundled CDNOW data into dir — the master file, or
// with sample the 2,357-customer sample and its published summary — plus a
// churn.yaml that `churn ingest --config` reads it with. It returns the
// paths written, data file first.
func WriteCDNOW(dir string, sample bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name, conf := CDNOWMaster, cdnowMasterConfig
	if sample {
		name, conf = CDNOWSample, cdnowSampleConfig
	}
	data, err := CDNOW(name)
	if err != nil {
		return nil, err
	}
	dataPath := filepath.Join(dir, name)
	confPath := filepath.Join(dir, ConfigName)
	out := []string{dataPath, confPath}
	if err := os.WriteFile(dataPath, data, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(confPath, []byte(fmt.Sprintf(conf, confPath, dataPath)), 0o644); err != nil {
		return nil, err
	}
	perks := filepath.Join(dir, PerksName)
	if err := os.WriteFile(perks, PerksCSV, 0o644); err != nil {
		return nil, err
	}
	out = append(out, perks)
	if sample {
		summary, err := CDNOW(CDNOWSummary)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, CDNOWSummary)
		if err := os.WriteFile(p, summary, 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// CDNOW returns the bytes of one bundled CDNOW file, decompressed.
func CDNOW(name string) ([]byte, error) {
	if b, err := cdnowFS.ReadFile("cdnow/" + name); err == nil {
		return b, nil
	}
	gz, err := cdnowFS.ReadFile("cdnow/" + name + ".gz")
	if err != nil {
		return nil, fmt.Errorf("no bundled CDNOW file %q", name)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
