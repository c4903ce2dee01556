package mainland

import (
	"testing"
	"time"
)

func TestValidMobile(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"13245678901", true},
		{"19999999999", true},
		{"13000000000", true},
		{"12345678901", false}, // second digit 2
		{"10345678901", false},
		{"23245678901", false}, // first digit 2
		{"1324567890", false},  // 10 digits
		{"132456789012", false},
		{"", false},
		{"1a245678901", false},
		{"1３245678901", false}, // a full-width digit
		{" 13245678901", false},
		{"13245678901\n", false},
		{"+8613245678901", false},
	}
	for _, tt := range tests {
		if got := ValidMobile(tt.s); got != tt.want {
			t.Errorf("ValidMobile(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// withCheck completes 17 digits with their GB 11643 check character.
func withCheck(body string) string {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

func TestValidResidentID(t *testing.T) {
	// 2026-03-15 00:30 in UTC+8 is still 2026-03-14 in UTC.
	now := time.Date(2026, 3, 14, 16, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"a documented example", "11010519491231002X", true},
		{"check character wrong", "110105194912310021", false},
		{"lowercase x", "11010519491231002x", false},
		{"17 characters", "11010519491231002", false},
		{"19 characters", "11010519491231002X1", false},
		{"a letter inside", "1101051949123100AX", false},
		{"1900-01-01", withCheck("11010519000101002"), true},
		{"1899-12-31", withCheck("11010518991231002"), false},
		{"29 February of a leap year", withCheck("11010520000229002"), true},
		{"29 February 1900, not a leap year", withCheck("11010519000229002"), false},
		{"29 February 2100, not a leap year", withCheck("11010521000229002"), false},
		{"31 April", withCheck("11010519990431002"), false},
		{"30 April", withCheck("11010519990430002"), true},
		{"month 13", withCheck("11010519991301002"), false},
		{"day 0", withCheck("11010519990100002"), false},
		{"today in UTC+8", withCheck("11010520260315002"), true},
		{"tomorrow in UTC+8", withCheck("11010520260316002"), false},
	}
	for _, tt := range tests {
		if got := ValidResidentID(tt.s, now); got != tt.want {
			t.Errorf("%s: ValidResidentID(%q) = %v, want %v", tt.name, tt.s, got, tt.want)
		}
	}
}

func BenchmarkValidResidentID(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		if !ValidResidentID("11010519491231002X", now) {
			b.Fatal("invalid")
		}
	}
}
