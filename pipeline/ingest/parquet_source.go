package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetSource reads a flat Parquet export row by row, rendering every value
// as the text a CSV export would hold, so one converter serves every format.
type parquetSource struct {
	file   *parquet.File
	header []string
	render []func(parquet.Value) string
}

func openParquetSource(f *os.File, size int64) (*parquetSource, error) {
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ps := &parquetSource{file: pf}
	for _, field := range pf.Schema().Fields() {
		if !field.Leaf() {
			return nil, fmt.Errorf("parquet column %q is nested; export a flat table", field.Name())
		}
		ps.header = append(ps.header, field.Name())
		ps.render = append(ps.render, valueRenderer(field.Type()))
	}
	return ps, nil
}

func (ps *parquetSource) produce(emit func(job) error) error {
	r := parquet.NewReader(ps.file)
	defer r.Close()
	rows := make([]parquet.Row, 4096)
	var line int64
	seq := 0
	for {
		n, err := r.ReadRows(rows)
		if n > 0 {
			recs := make([]rawRecord, n)
			for i := 0; i < n; i++ {
				line++
				fields := make([]string, len(ps.header))
				for _, v := range rows[i] {
					c := v.Column()
					if c >= 0 && c < len(fields) && !v.IsNull() {
						fields[c] = ps.render[c](v)
					}
				}
				recs[i] = rawRecord{line: line, fields: fields, raw: rowJSON(ps.header, fields)}
			}
			if err := emit(job{seq: seq, records: recs}); err != nil {
				return err
			}
			seq++
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
}

// rowJSON is the raw text of a Parquet row in the quarantine: a JSON object.
func rowJSON(header, fields []string) string {
	m := make(map[string]string, len(header))
	for i, h := range header {
		m[h] = fields[i]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// valueRenderer returns how to print values of a Parquet type.
func valueRenderer(t parquet.Type) func(parquet.Value) string {
	lt := t.LogicalType()
	if lt != nil {
		switch l := lt.Value.(type) {
		case *format.TimestampType:
			unit := time.Microsecond
			if l.Unit.Value != nil {
				unit = l.Unit.Value.Duration()
			}
			layout := "2006-01-02T15:04:05.999999999"
			if l.IsAdjustedToUTC {
				layout += "Z07:00"
			}
			return func(v parquet.Value) string {
				ns := v.Int64() * int64(unit)
				return time.Unix(0, ns).UTC().Format(layout)
			}
		case *format.DateType:
			return func(v parquet.Value) string {
				return time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
			}
		case *format.DecimalType:
			scale := int(l.Scale)
			return func(v parquet.Value) string {
				var unscaled *big.Int
				switch v.Kind() {
				case parquet.Int32:
					unscaled = big.NewInt(int64(v.Int32()))
				case parquet.Int64:
					unscaled = big.NewInt(v.Int64())
				default:
					b := v.ByteArray()
					unscaled = new(big.Int).SetBytes(b)
					if len(b) > 0 && b[0]&0x80 != 0 {
						unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
					}
				}
				return decimalString(unscaled, scale)
			}
		}
	}
	return func(v parquet.Value) string {
		switch v.Kind() {
		case parquet.Boolean:
			return strconv.FormatBool(v.Boolean())
		case parquet.Int32:
			return strconv.FormatInt(int64(v.Int32()), 10)
		case parquet.Int64:
			return strconv.FormatInt(v.Int64(), 10)
		case parquet.Float:
			return strconv.FormatFloat(float64(v.Float()), 'f', -1, 32)
		case parquet.Double:
			// The shortest text that reads back as the same double: a float
			// amount of 12.34 is taken as the decimal 12.34 it was meant to be.
			return strconv.FormatFloat(v.Double(), 'f', -1, 64)
		}
		return string(v.ByteArray())
	}
}

func decimalString(unscaled *big.Int, scale int) string {
	neg := unscaled.Sign() < 0
	s := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		for len(s) <= scale {
			s = "0" + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
