// Package mainland checks the personal numbers of mainland China that
// servicecenterd validates: mobile numbers and resident identity card
// numbers. It is the one home of these checks: the request validator's
// native fast path (internal/rpc/validation, which holds them to the CEL
// rules of proto/servicecenter/v1/rules.proto with differential tests and
// fuzz targets), the bulk sync's entry validation and the emulator's
// checks call it.
//
// The checks are written out by hand, not as regular expressions or CEL,
// because they sit on every request's path: a resident ID through CEL
// costs about 11 µs and 130 allocations, ValidResidentID about 60 ns and
// none (BenchmarkValidResidentID).
package mainland

import "time"

// ValidMobile reports whether s is a mainland China mobile number, the
// mainland_mobile rule: 11 ASCII digits, the first 1 and the second 3 to
// 9.
func ValidMobile(s string) bool {
	if len(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidResidentID reports whether s is a resident identity card number
// at time now, all four resident_id rules: 17 ASCII digits and a digit or
// uppercase X; a real birth date (digits 7 to 14, yyyymmdd) in or after
// 1900 and not after now's date in UTC+8; and the GB 11643 check
// character.
func ValidResidentID(s string, now time.Time) bool {
	if len(s) != 18 {
		return false
	}
	for i := range 17 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if c := s[17]; (c < '0' || c > '9') && c != 'X' {
		return false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(6, 10), num(10, 12), num(12, 14)
	if year < 1900 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return false
	}
	today := now.UTC().Add(8 * time.Hour) // the date in UTC+8, read as UTC
	if num(6, 14) > today.Year()*10000+int(today.Month())*100+today.Day() {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(s[i]-'0') * w
	}
	return "10X98765432"[sum%11] == s[17]
}

// daysIn is the number of days in month of year, Gregorian.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
