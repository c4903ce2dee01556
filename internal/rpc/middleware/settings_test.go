package middleware

import (
	"testing"
)

func TestRateLimitSettings(t *testing.T) {
	tests := []struct {
		s     RateLimitSettings
		valid bool
	}{
		{RateLimitSettings{}, true},
		{RateLimitSettings{PerSecond: 2.5, Burst: 5}, true},
		{RateLimitSettings{PerSecond: -1}, false},
		{RateLimitSettings{Burst: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); (err == nil) != tt.valid {
			t.Errorf("Validate(%+v) = %v", tt.s, err)
		} else if err != nil && err.Error() != "--rate-limit and --rate-burst must not be negative" {
			t.Errorf("Validate(%+v) = %v", tt.s, err)
		}
	}
	if got := (RateLimitSettings{PerSecond: 2.5, Burst: 5}).Limit(); got != (RateLimit{PerSecond: 2.5, Burst: 5}) {
		t.Errorf("Limit() = %+v", got)
	}
}
