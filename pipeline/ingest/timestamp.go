package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/churnhq/churn/features"
	"github.com/churnhq/churn/pipeline/warehouse"
)

// ErrBadTime is the reason for a timestamp that cannot be read.
var ErrBadTime = errors.New("unparseable time")

// errAmbiguousDate marks a d/m/y date whose day and month could be swapped;
// the ingest resolves it by looking at the whole file or asks for --time-format.
var errAmbiguousDate = errors.New("ambiguous day/month order")

// DateOrder says how to read dates written with slashes or dots (01/02/2024).
type DateOrder int

const (
	// OrderUnknown: decide from the file; a file where every date reads both
	// ways is an error asking for --time-format.
	OrderUnknown DateOrder = iota
	// DayFirst reads 01/02/2024 as 1 February.
	DayFirst
	// MonthFirst reads 01/02/2024 as 2 January.
	MonthFirst
)

// TimeParser turns the timestamps of an export into UTC instants.
//
// Its zero value reads RFC 3339 with offsets, ISO local date-times and dates,
// YYYYMMDD, epoch seconds (9–11 digits) and milliseconds (12–14 digits), and
// slashed dates only once Order is known; local times are taken as UTC.
type TimeParser struct {
	// Layout is a Go reference layout ("02.01.2006 15:04") or a strftime
	// pattern ("%d.%m.%Y %H:%M"), or one of "epoch", "epoch_ms", "dayfirst",
	// "monthfirst". Empty means detect per value.
	Layout string
	// Location is where local times without an offset were written. Nil means UTC.
	Location *time.Location
	// Order reads slashed dates; OrderUnknown means they are ambiguous.
	Order DateOrder
	// Family, when set, is the one form of time the column is written in
	// (inferred from the file): a value of another form is ErrBadTime.
	Family timeFamily
	// Mixed: the column may mix forms (--time-format mixed); no Family is inferred.
	Mixed bool
}

// timeFamily is a form of writing times: the detector reads them all, but
// a column is written in one, and a value in another form is more likely a
// mistake than a time (pandas, DuckDB and Spark reject it too).
type timeFamily uint8

const (
	familyAny     timeFamily = iota // not known: any form is read
	familyISO                       // ISO 8601 / RFC 3339, with or without time and offset
	familySlashed                   // d/m/y or m/d/y with '/', '.' or '-'
	familyCompact                   // YYYYMMDD
	familyEpoch                     // epoch seconds or milliseconds
	familyOther
)

var familyNames = [...]string{"any", "ISO 8601", "d/m/y or m/d/y", "YYYYMMDD", "epoch", "unrecognised"}

// familyOf tells the form of a time value.
func familyOf(s string) timeFamily {
	s = strings.TrimSpace(s)
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		return familyISO
	case allDigits(s) && len(s) == 8:
		return familyCompact
	case allDigits(s) && len(s) >= 9 && len(s) <= 14:
		return familyEpoch
	case looksSlashed(s):
		return familySlashed
	}
	return familyOther
}

// inferFamily returns the form most of the values are written in, or
// familyAny when there are none.
func inferFamily(values []string) timeFamily {
	var n [familyOther + 1]int
	for _, v := range values {
		n[familyOf(v)]++
	}
	best, most := familyAny, 0
	for f := familyISO; f < familyOther; f++ {
		if n[f] > most {
			best, most = f, n[f]
		}
	}
	return best
}

// checkFamily is nil when s is in the parser's family (or it has none).
// It is on the path of every row, so it tells the ISO and digit forms by a
// glance and looks closer only at the rest.
func (p *TimeParser) checkFamily(s string) error {
	if p.Family == familyAny {
		return nil
	}
	s = strings.TrimSpace(s)
	f := familyOther
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		f = familyISO
	case allDigits(s) && len(s) == 8:
		f = familyCompact
	case allDigits(s) && len(s) >= 9 && len(s) <= 14:
		f = familyEpoch
	case p.Family == familySlashed:
		return nil // slashed, or not a time at all: the parser says which
	case looksSlashed(s):
		f = familySlashed
	}
	if f == p.Family || f == familyOther {
		return nil
	}
	return fmt.Errorf("%w: %q is written as %s, but the column's times are %s (pass --time-format mixed to accept mixed forms)",
		ErrBadTime, clip(s), familyNames[f], familyNames[p.Family])
}

// NewTimeParser checks a --time-format / --timezone pair.
func NewTimeParser(format, zone string) (*TimeParser, error) {
	p := &TimeParser{Location: time.UTC}
	if zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("%w: --timezone %q: %v", warehouse.ErrOption, zone, err)
		}
		p.Location = loc
	}
	switch strings.ToLower(format) {
	case "":
	case "mixed":
		p.Mixed = true
	case "dayfirst":
		p.Order = DayFirst
	case "monthfirst":
		p.Order = MonthFirst
	case "epoch", "epoch_s", "epoch_ms":
		p.Layout = strings.ToLower(format)
	default:
		layout := format
		if strings.Contains(format, "%") {
			var err error
			if layout, err = strftimeToGo(format); err != nil {
				return nil, fmt.Errorf("%w: --time-format %q: %v", warehouse.ErrOption, format, err)
			}
		} else if !strings.Contains(format, "2006") && !strings.Contains(format, "06") {
			return nil, fmt.Errorf("%w: --time-format %q: want a strftime pattern (%%Y-%%m-%%d), a Go layout (2006-01-02), epoch, epoch_ms, dayfirst, monthfirst or mixed", warehouse.ErrOption, format)
		}
		p.Layout = layout
	}
	return p, nil
}

func strftimeToGo(f string) (string, error) {
	repl := map[byte]string{
		'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'M': "04",
		'S': "05", 'f': "999999", 'p': "PM", 'b': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday",
		'z': "-0700", 'Z': "MST", '%': "%", 'j': "002", 'T': "15:04:05", 'F': "2006-01-02",
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return "", errors.New("pattern ends in %")
		}
		i++
		r, ok := repl[f[i]]
		if !ok {
			return "", fmt.Errorf("unsupported directive %%%c", f[i])
		}
		if f[i] == 'f' && b.Len() > 0 && strings.HasSuffix(b.String(), ".") {
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-1])
			r = ".999999"
		}
		b.WriteString(r)
	}
	return b.String(), nil
}

// ParseMicros returns the instant of s as microseconds since the Unix epoch, UTC.
func (p *TimeParser) ParseMicros(s string) (int64, error) {
	if p.Layout == "" && (p.Family == familyAny || p.Family == familyISO) {
		if us, ok := parseRFC3339Micros(s); ok {
			return us, nil
		}
	}
	t, err := p.Parse(s)
	if err != nil {
		return 0, err
	}
	return t.UnixMicro(), nil
}

// Parse returns the instant of s in UTC.
func (p *TimeParser) Parse(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: empty", ErrBadTime)
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	switch p.Layout {
	case "":
		if err := p.checkFamily(s); err != nil {
			return time.Time{}, err
		}
		return p.detect(s, loc)
	case "epoch", "epoch_s":
		return parseEpoch(s, time.Second)
	case "epoch_ms":
		return parseEpoch(s, time.Millisecond)
	}
	if hasZone(p.Layout) {
		t, err := time.Parse(p.Layout, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %q does not match %q", ErrBadTime, clip(s), p.Layout)
		}
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation(p.Layout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q does not match %q", ErrBadTime, clip(s), p.Layout)
	}
	return LocalToUTC(t, loc), nil
}

// parseRFC3339Micros reads the most common timestamp of exports,
// "2006-01-02T15:04:05[.frac](Z|±07:00)", by arithmetic. It accepts nothing
// that time.Parse with RFC 3339 rejects, and leaves every other form (and
// every error message) to Parse.
func parseRFC3339Micros(s string) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(i, n int) (int64, bool) {
		var v int64
		for j := i; j < i+n; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	month := int32(y*12 + mo - 1)
	first, next := monthBounds(month)
	if d < 1 || first+d > next {
		return 0, false
	}
	rest := s[19:]
	var frac int64
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 6 {
				frac = frac*10 + int64(rest[n]-'0')
			}
			n++
		}
		if n == 1 || n > 10 { // 1 to 9 digits
			return 0, false
		}
		for k := n; k <= 6; k++ {
			frac *= 10
		}
		rest = rest[n:]
	}
	var offset int64
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(len(s)-5, 2)
		om, ok2 := num(len(s)-2, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	days := first + d - 1
	unix := days*86400 + h*3600 + mi*60 + sec - offset
	return unix*1_000_000 + frac, true
}

// monthDays holds the first day (days since 1970-01-01) of every month
// from monthDaysFrom on, for monthBounds: the calendar arithmetic was a
// tenth of parsing a time.
var monthDays = func() []int32 {
	days := make([]int32, monthDaysCount+1)
	for i := range days {
		days[i] = features.MonthStart(monthDaysFrom + int32(i))
	}
	return days
}()

const (
	monthDaysFrom  = 1900 * 12
	monthDaysCount = 300 * 12 // to 2199
)

// monthBounds returns the first day of the month (year*12 + month-1) and of
// the next.
func monthBounds(month int32) (first, next int64) {
	if i := month - monthDaysFrom; i >= 0 && i < monthDaysCount {
		return int64(monthDays[i]), int64(monthDays[i+1])
	}
	return int64(features.MonthStart(month)), int64(features.MonthStart(month + 1))
}

func hasZone(layout string) bool {
	return strings.Contains(layout, "Z07") || strings.Contains(layout, "-07") || strings.Contains(layout, "MST")
}

func parseEpoch(s string, unit time.Duration) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q is not an epoch number", ErrBadTime, clip(s))
	}
	if unit == time.Second {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.UnixMilli(n).UTC(), nil
}

var isoLocalLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}

func (p *TimeParser) detect(s string, loc *time.Location) (time.Time, error) {
	if allDigits(s) {
		switch {
		case len(s) == 8:
			t, err := time.ParseInLocation("20060102", s, time.UTC)
			if err != nil {
				return time.Time{}, fmt.Errorf("%w: %q is not a YYYYMMDD date", ErrBadTime, clip(s))
			}
			return LocalToUTC(t, loc), nil
		case len(s) >= 9 && len(s) <= 11:
			return parseEpoch(s, time.Second)
		case len(s) >= 12 && len(s) <= 14:
			return parseEpoch(s, time.Millisecond)
		}
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadTime, clip(s))
	}
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		iso := s
		if len(iso) > 10 && iso[10] == ' ' {
			iso = iso[:10] + "T" + strings.TrimSpace(iso[11:])
		}
		// A zone written after a space: "10:11:12 -0500" (Shopify), "10:11:12 UTC" (Rails).
		if i := strings.LastIndexByte(iso, ' '); i > 10 {
			switch zone := iso[i+1:]; {
			case zone == "UTC" || zone == "GMT" || zone == "Z":
				iso = strings.TrimSpace(iso[:i]) + "Z"
			case len(zone) >= 3 && (zone[0] == '+' || zone[0] == '-'):
				iso = strings.TrimSpace(iso[:i]) + zone
			}
		}
		if len(iso) > 10 {
			if t, err := time.Parse(time.RFC3339Nano, strings.Replace(iso, " ", "", 1)); err == nil {
				return t.UTC(), nil
			}
			if t, err := time.Parse("2006-01-02T15:04:05.999999999-0700", iso); err == nil {
				return t.UTC(), nil
			}
			if t, err := time.Parse("2006-01-02T15:04:05.999999999-07", iso); err == nil {
				return t.UTC(), nil
			}
		}
		for _, l := range isoLocalLayouts {
			if t, err := time.ParseInLocation(l, iso, time.UTC); err == nil {
				return LocalToUTC(t, loc), nil
			}
		}
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadTime, clip(s))
	}
	return p.slashed(s, loc)
}

// slashed reads d/m/y, m/d/y or y/m/d dates with '/', '.' or '-' and an
// optional time of day ("12/1/2010 8:26", "01.02.2024 13:05:09", "3/4/2024 1:05 PM").
func (p *TimeParser) slashed(s string, loc *time.Location) (time.Time, error) {
	datePart, timePart, _ := strings.Cut(s, " ")
	sep := byte(0)
	for _, c := range []byte{'/', '.', '-'} {
		if strings.Count(datePart, string(c)) == 2 {
			sep = c
			break
		}
	}
	if sep == 0 {
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadTime, clip(s))
	}
	parts := strings.Split(datePart, string(sep))
	n := [3]int{}
	for i, part := range parts {
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 || len(part) > 4 || len(part) == 0 {
			return time.Time{}, fmt.Errorf("%w: %q", ErrBadTime, clip(s))
		}
		n[i] = v
	}
	var y, m, d int
	switch {
	case len(parts[0]) == 4:
		y, m, d = n[0], n[1], n[2]
	case len(parts[2]) == 4 || len(parts[2]) == 2:
		y = n[2]
		if len(parts[2]) == 2 {
			// Two-digit years pivot at 70, as POSIX strptime does: 69 → 2069, 70 → 1970.
			y += 2000
			if y >= 2070 {
				y -= 100
			}
		}
		switch p.Order {
		case DayFirst:
			d, m = n[0], n[1]
		case MonthFirst:
			m, d = n[0], n[1]
		default:
			switch {
			case n[0] > 12 && n[1] <= 12:
				d, m = n[0], n[1]
			case n[1] > 12 && n[0] <= 12:
				m, d = n[0], n[1]
			case n[0] == n[1] && n[0] <= 12:
				m, d = n[0], n[1]
			default:
				return time.Time{}, fmt.Errorf("%w: %q: %w", ErrBadTime, clip(s), errAmbiguousDate)
			}
		}
	default:
		return time.Time{}, fmt.Errorf("%w: %q", ErrBadTime, clip(s))
	}
	hh, mm, ss, nsec := 0, 0, 0, 0
	timePart = strings.TrimSpace(timePart)
	if timePart != "" {
		pm, am := false, false
		up := strings.ToUpper(timePart)
		if strings.HasSuffix(up, "PM") || strings.HasSuffix(up, "AM") {
			pm, am = strings.HasSuffix(up, "PM"), strings.HasSuffix(up, "AM")
			timePart = strings.TrimSpace(timePart[:len(timePart)-2])
		}
		t, err := time.Parse("15:04:05.999999999", timePart)
		if err != nil {
			if t, err = time.Parse("15:04", timePart); err != nil {
				return time.Time{}, fmt.Errorf("%w: %q has an unreadable time of day", ErrBadTime, clip(s))
			}
		}
		hh, mm, ss, nsec = t.Hour(), t.Minute(), t.Second(), t.Nanosecond()
		if am || pm {
			if hh < 1 || hh > 12 {
				return time.Time{}, fmt.Errorf("%w: %q has hour %d with AM/PM", ErrBadTime, clip(s), hh)
			}
			hh %= 12
			if pm {
				hh += 12
			}
		}
	}
	wall := time.Date(y, time.Month(m), d, hh, mm, ss, nsec, time.UTC)
	if wall.Year() != y || int(wall.Month()) != m || wall.Day() != d {
		return time.Time{}, fmt.Errorf("%w: %q is not a calendar date", ErrBadTime, clip(s))
	}
	return LocalToUTC(wall, loc), nil
}

// slashedOrder reports what a slashed date says about day/month order:
// DayFirst if its first number cannot be a month, MonthFirst if its second
// cannot, OrderUnknown otherwise.
func slashedOrder(s string) DateOrder {
	datePart, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	for _, c := range []string{"/", ".", "-"} {
		parts := strings.Split(datePart, c)
		if len(parts) != 3 || len(parts[0]) == 4 {
			continue
		}
		a, err1 := strconv.Atoi(parts[0])
		b, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil {
			return OrderUnknown
		}
		switch {
		case a > 12 && b <= 12:
			return DayFirst
		case b > 12 && a <= 12:
			return MonthFirst
		}
		return OrderUnknown
	}
	return OrderUnknown
}

// LocalToUTC reads the wall clock of wall (its fields, whatever its
// location) as a time in loc. Ambiguous times in a DST overlap take the
// earlier instant (the first time the clock showed them); times in a DST gap,
// which no clock showed, are read with the offset in force before the gap, so
// 02:30 in a 02:00→03:00 spring-forward gap becomes 03:30 local time.
func LocalToUTC(wall time.Time, loc *time.Location) time.Time {
	asUTC := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), time.UTC)
	if loc == time.UTC {
		return asUTC
	}
	// Offsets in force a day either side cover every transition.
	_, offBefore := asUTC.Add(-24 * time.Hour).In(loc).Zone()
	_, offAfter := asUTC.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	found := false
	for _, off := range []int{offBefore, offAfter} {
		t := asUTC.Add(-time.Duration(off) * time.Second)
		lt := t.In(loc)
		if lt.Year() == wall.Year() && lt.Month() == wall.Month() && lt.Day() == wall.Day() &&
			lt.Hour() == wall.Hour() && lt.Minute() == wall.Minute() && lt.Second() == wall.Second() {
			if !found || t.Before(best) {
				best, found = t, true
			}
		}
	}
	if found {
		return best.UTC()
	}
	return asUTC.Add(-time.Duration(offBefore) * time.Second).UTC()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
