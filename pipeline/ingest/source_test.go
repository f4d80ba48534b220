package ingest

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzSplitRecords: the chunker and splitter never panic, never lose a
// line, and every accepted row's raw text is a line of the input; a splitter
// reusing the memory of earlier chunks gives the records a fresh one does.
func FuzzSplitRecords(f *testing.F) {
	f.Add([]byte("a,b,c\n1,2,3\n\"x,y\",\"q\"\"\",z\n"), byte(','), 8)
	f.Add([]byte("a\tb\n1\t\"2\n"), byte('\t'), 3)
	f.Add([]byte("a;b\r\n1;2\r\n\r\n3;4"), byte(';'), 5)
	f.Add([]byte("x,\"multi\nline\",y\n1,2,3\n"), byte(','), 4)
	f.Fuzz(func(t *testing.T, data []byte, sep byte, size int) {
		if sep == '"' || sep == '\n' || sep == '\r' || sep >= 0x80 || sep == 0 {
			sep = ','
		}
		if size < 1 || size > 1<<16 {
			size = 16
		}
		for _, layout := range []textLayout{{sep: sep, quoted: true}, {sep: sep}, {}} {
			ch := newChunker(bytes.NewReader(data), layout.chunkQuote(), size)
			sp := layout.splitter(0)
			buf := &splitBuf{}
			var total []byte
			var lines int64 = 1
			for {
				c, first, err := ch.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if first != lines {
					t.Fatalf("chunk starts at line %d, want %d", first, lines)
				}
				lines += int64(bytes.Count(c, []byte{'\n'}))
				total = append(total, c...)
				fresh := sp.split(c, first, nil)
				for _, rec := range fresh {
					if rec.line < first || !strings.Contains(string(c), rec.raw) {
						t.Fatalf("record %+v is not in its chunk", rec)
					}
					if rec.err == nil && rec.fields == nil {
						t.Fatalf("record %+v accepted without fields", rec)
					}
				}
				buf.clear()
				reused := sp.split(c, first, buf)
				if len(reused) != len(fresh) {
					t.Fatalf("%d records with reused memory, %d without", len(reused), len(fresh))
				}
				for i := range fresh {
					if !sameRecord(reused[i], fresh[i]) {
						t.Fatalf("record %d: %+v with reused memory, %+v without", i, reused[i], fresh[i])
					}
				}
			}
			if !bytes.Equal(total, data) {
				t.Fatalf("chunks lost bytes: %q of %q", total, data)
			}
		}
		if bytes.IndexByte(data, '"') < 0 {
			sameRecords(t, data, sep)
		}
	})
}

// sameRecords checks that the quote-free fast path splits data into the
// records encoding/csv reads from it.
func sameRecords(t *testing.T, data []byte, sep byte) {
	t.Helper()
	for _, want := range []int{0, 3} {
		d := &delimitedSplitter{comma: rune(sep), fields: want}
		fast := splitFields(data, sep, want, false, 1, nil)
		slow := d.splitCSV(data, 1, nil)
		if len(fast) != len(slow) {
			t.Fatalf("%q: %d records, encoding/csv reads %d", data, len(fast), len(slow))
		}
		for i := range fast {
			f, s := fast[i], slow[i]
			if f.line != s.line || f.raw != s.raw || strings.Join(f.fields, "\x00") != strings.Join(s.fields, "\x00") || (f.err == nil) != (s.err == nil) {
				t.Fatalf("%q record %d: line %d %q %q %v, encoding/csv reads line %d %q %q %v", data, i, f.line, f.raw, f.fields, f.err, s.line, s.raw, s.fields, s.err)
			}
		}
	}
}

func TestFastSplitMatchesCSV(t *testing.T) {
	for _, in := range []string{
		"a,b,c\n1,2,3\n",
		"a,b,c\r\n1,2,3\r\n\r\n4,5,6",
		"\n\n1,2,3\n \n4,,\n",
		"1,2,3\r",
		"1,2\r3,4\n5,6,7\n",
		"x,\xff\xfe,z\n1,2,3\n",
		",,\n,,,\n",
	} {
		sameRecords(t, []byte(in), ',')
		sameRecords(t, []byte(strings.ReplaceAll(in, ",", ";")), ';')
	}
}

func TestSniffDelimiter(t *testing.T) {
	for in, want := range map[string]string{
		"a,b,c\n1,2,3":                   ",",
		"Kunde;Bestellung;Zeit;Betrag\n": ";",
		"a\tb\tc\n":                      "tab",
		"a|b\n":                          "|",
		" customer_id  date number_of_cds  dollar_value\r\n": "whitespace",
		"\"x;y\",b,c\n": ",",
		"single\n":      "",
	} {
		if got := sniffDelimiter([]byte(in)); got != want {
			t.Errorf("sniffDelimiter(%q) = %q, want %q", in, got, want)
		}
	}
}

func sameRecord(a, b rawRecord) bool {
	return a.line == b.line && a.raw == b.raw && slices.Equal(a.fields, b.fields) && (a.err == nil) == (b.err == nil)
}
