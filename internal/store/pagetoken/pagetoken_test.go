package pagetoken

import (
	"encoding/base64"
	"testing"
)

func TestRoundTripAndRefusals(t *testing.T) {
	for _, key := range []int64{0, 1, 42, 1 << 62} {
		for _, oldest := range []bool{false, true} {
			tok := Make("jobs", oldest, key)
			if got, ok := Parse(tok, "jobs", oldest); !ok || got != key {
				t.Errorf("Parse(Make(%d, %v)) = %d, %v", key, oldest, got, ok)
			}
			if _, ok := Parse(tok, "jobs", !oldest); ok {
				t.Errorf("a token of one order accepted in the other (%d)", key)
			}
			if _, ok := Parse(tok, "events", oldest); ok {
				t.Errorf("a token of one list accepted for another (%d)", key)
			}
		}
	}
	// The format of the tokens servicecenterd has always made: they stay valid.
	if got, ok := Parse(base64.RawURLEncoding.EncodeToString([]byte("jobs:n:7")), "jobs", false); !ok || got != 7 {
		t.Errorf("an existing token: %d, %v", got, ok)
	}
	for _, raw := range []string{"jobs:n:abc", "other:n:1", "jobs:x:1", "jobs:n:", "jobs:n:1:2", "jobs:n:99999999999999999999"} {
		if _, ok := Parse(base64.RawURLEncoding.EncodeToString([]byte(raw)), "jobs", false); ok {
			t.Errorf("forged token %q accepted", raw)
		}
	}
	for _, tok := range []string{"", "nope!", "====", "am9iczpuOjE="} { // the last: padded base64
		if _, ok := Parse(tok, "jobs", false); ok {
			t.Errorf("token %q accepted", tok)
		}
	}
}
