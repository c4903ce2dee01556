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
