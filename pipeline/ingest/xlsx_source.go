package ingest

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxSource reads the rows of one worksheet of an Excel workbook, each
// cell as the text a CSV export of it would hold: strings as typed,
// numbers in their shortest exact decimal form, and date cells of the
// time columns as ISO local date-times (Excel stores a date as a serial
// day number; its display format is only a format).
type xlsxSource struct {
	file     *excelize.File
	sheet    string
	header   []string
	date1904 bool
	// timeCols are the columns whose numbers are date serials; set once
	// the columns are mapped, before produce runs.
	timeCols map[int]bool
}

func openXLSXSource(f *os.File, size int64, opt *SourceOptions) (*xlsxSource, error) {
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	xf, err := excelize.OpenReader(f)
	if err != nil {
		return nil, fmt.Errorf("%w: not an Excel workbook: %v", ErrMalformed, err)
	}
	xs := &xlsxSource{file: xf, sheet: opt.Sheet}
	sheets := xf.GetSheetList()
	if xs.sheet == "" {
		if len(sheets) == 0 {
			xf.Close()
			return nil, fmt.Errorf("%w: the workbook has no sheet", ErrMalformed)
		}
		xs.sheet = sheets[0]
	} else if idx, _ := xf.GetSheetIndex(xs.sheet); idx < 0 {
		xf.Close()
		return nil, fmt.Errorf("--sheet %q is not a sheet of the workbook; it has %s: %w", opt.Sheet, quoteList(sheets), ErrColumns)
	}
	if props, err := xf.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		xs.date1904 = *props.Date1904
	}
	rows, err := xf.Rows(xs.sheet)
	if err != nil {
		xf.Close()
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	defer rows.Close()
	for rows.Next() {
		cells, err := rows.Columns()
		if err != nil {
			xf.Close()
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if !allEmpty(cells) { // the header is the first row with a value
			xs.header = cells
			break
		}
	}
	return xs, nil
}

func (xs *xlsxSource) Close() error { return xs.file.Close() }

// useTimes marks the columns whose numbers are dates.
func (xs *xlsxSource) useTimes(cols columnMap) {
	xs.timeCols = map[int]bool{}
	for _, ro := range []role{roleTime, roleRefundTime, roleCancelled} {
		if i := cols.idx[ro]; i >= 0 {
			xs.timeCols[i] = true
		}
	}
}

func (xs *xlsxSource) produce(emit func(job) error) error {
	rows, err := xs.file.Rows(xs.sheet)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	defer rows.Close()
	var line int64
	seq := 0
	headerSeen := false
	batch := make([]rawRecord, 0, 4096)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := emit(job{seq: seq, records: batch})
		seq++
		batch = make([]rawRecord, 0, 4096)
		return err
	}
	for rows.Next() {
		line++
		cells, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return fmt.Errorf("%w: row %d: %v", ErrMalformed, line, err)
		}
		if !headerSeen {
			if !allEmpty(cells) {
				headerSeen = true
			}
			continue
		}
		fields := make([]string, len(xs.header))
		for i := range fields {
			if i < len(cells) {
				fields[i] = xs.cell(i, cells[i])
			}
		}
		batch = append(batch, rawRecord{line: line, fields: fields, raw: rowJSON(xs.header, fields)})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return flush()
}

// cell renders one raw cell value of column i.
func (xs *xlsxSource) cell(i int, v string) string {
	v = strings.TrimSpace(v)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || v == "" {
		return v
	}
	if xs.timeCols[i] {
		if t, err := excelize.ExcelDateToTime(f, xs.date1904); err == nil {
			// Serials are wall-clock times: to the second, without offset.
			return t.Round(1e9).Format("2006-01-02T15:04:05")
		}
	}
	if strings.ContainsAny(v, "eE") || len(v) > 15 {
		// Excel writes a double with 17 digits; its shortest form is what was typed.
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return v
}
