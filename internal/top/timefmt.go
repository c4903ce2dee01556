package top

import (
	"fmt"
	"time"
)

// TimeLayout is TOP's date-time format; values are always in UTC+8
// (Beijing time), whatever the host's time zone.
const TimeLayout = "2006-01-02 15:04:05"

// beijing is UTC+8 without daylight saving, as TOP uses. It is never
// modified after creation.
var beijing = time.FixedZone("UTC+8", 8*60*60)

// Beijing returns TOP's time zone, a fixed UTC+8.
func Beijing() *time.Location { return beijing }

// FormatTime formats t as TOP expects it: "yyyy-MM-dd HH:mm:ss" in UTC+8.
func FormatTime(t time.Time) string {
	return t.In(beijing).Format(TimeLayout)
}

// AppendTime appends FormatTime(t) to dst without allocating.
func AppendTime(dst []byte, t time.Time) []byte {
	return t.In(beijing).AppendFormat(dst, TimeLayout)
}

// ParseTime parses TOP's "yyyy-MM-dd HH:mm:ss" as a UTC+8 time.
func ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(TimeLayout, s, beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not yyyy-MM-dd HH:mm:ss: %w", s, err)
	}
	return t, nil
}

// parseLayout parses b when it is exactly yyyy-MM-dd HH:mm:ss with every
// field in range, giving what time.ParseInLocation(TimeLayout, b, beijing)
// gives, without its layout interpreter (TOP's answers hold two dates per
// worker tag). It reports false for anything else (fractional seconds,
// other widths, out-of-range fields), which ParseInLocation then parses
// or words the error of. FuzzParseLayout holds the two to the same time.
func parseLayout(b []byte) (time.Time, bool) {
	if len(b) != len(TimeLayout) || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	var f [6]int
	for k, span := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		for _, c := range b[span[0]:span[1]] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			f[k] = f[k]*10 + int(c-'0')
		}
	}
	year, month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4], f[5]
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, beijing)
	if t.Day() != day { // time.Date moved a day past the month's end (02-30) into the next month
		return time.Time{}, false
	}
	return t, true
}
