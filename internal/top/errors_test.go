package top

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// platformWant is what a platform code means without a sub-code. It is
// written out here, not derived from the table, so that a row that changes
// by mistake fails.
var platformWant = map[int]struct {
	kind   Kind
	repeat Repeat
}{
	3: {KindConfig, RepeatLater}, 4: {KindQuota, RepeatLater}, 5: {KindQuota, RepeatLater},
	6: {KindQuota, RepeatLater}, 7: {KindQuota, RepeatLater}, 8: {KindQuota, RepeatLater},
	9: {KindConfig, RepeatLater}, 10: {KindUnavailable, RepeatNow},
	11: {KindPermission, RepeatLater}, 12: {KindPermission, RepeatLater}, 13: {KindPermission, RepeatLater},
	15: {KindUnavailable, RepeatLater},
	21: {KindConfig, RepeatLater}, 22: {KindConfig, RepeatLater}, 23: {KindConfig, RepeatLater},
	24: {KindConfig, RepeatLater}, 25: {KindConfig, RepeatLater},
	26: {KindSession, RepeatLater}, 27: {KindSession, RepeatLater},
	28: {KindConfig, RepeatLater}, 29: {KindConfig, RepeatLater},
	30: {KindConfig, RepeatLater}, 31: {KindConfig, RepeatLater}, 32: {KindConfig, RepeatLater},
	33: {KindConfig, RepeatLater}, 34: {KindConfig, RepeatLater},
	40: {KindInvalid, RepeatNever}, 41: {KindInvalid, RepeatNever}, 42: {KindConfig, RepeatLater},
	43: {KindInvalid, RepeatNever}, 50: {KindUnavailable, RepeatLater}, 53: {KindPermission, RepeatLater},
}

// TestPlatformTaxonomy walks every code from 0 to 60 (every platform code
// and the gaps between them), each without a sub-code and with an isv.*,
// an isv.*permission*, an isp.*, an accesscontrol.* and an unknown
// sub-code, and checks Kind, Repeat, the reason and IsQuota.
func TestPlatformTaxonomy(t *testing.T) {
	for _, c := range PlatformCodes() {
		if _, ok := platformWant[c.Code]; !ok {
			t.Errorf("platform code %d has no expectation in this test", c.Code)
		}
		if c.Message == "" {
			t.Errorf("platform code %d has no message", c.Code)
		}
	}
	subs := []string{"", "isv.invalid-parameter:mobile", "isv.permission-api-package-limit",
		"isp.top-remote-connection-timeout", "accesscontrol.limited-by-app-access-count", "other.thing"}
	for code := 0; code <= 60; code++ {
		base, known := platformWant[code]
		if !known {
			base.kind, base.repeat = KindUnknown, RepeatLater
		}
		if _, inTable := LookupPlatformCode(code); inTable != known {
			t.Errorf("code %d: in table %v, expected %v", code, inTable, known)
		}
		for _, sub := range subs {
			t.Run(strconv.Itoa(code)+"/"+sub, func(t *testing.T) {
				kind, repeat := base.kind, base.repeat
				switch {
				case strings.HasPrefix(sub, "isv.permission"):
					kind = KindPermission
				case strings.HasPrefix(sub, "isv."):
					kind = KindInvalid
				case strings.HasPrefix(sub, "isp."):
					kind = KindUnavailable
				case strings.HasPrefix(sub, "accesscontrol."):
					kind = KindQuota
				}
				if code != CodeServiceUnavailable { // 10: TOP did not act, whatever the sub-code
					switch {
					case strings.HasPrefix(sub, "isv."):
						repeat = RepeatNever
					case strings.HasPrefix(sub, "isp."):
						repeat = RepeatIfIdempotent
					}
				}
				if got := KindOf(code, sub); got != kind {
					t.Errorf("KindOf = %v, want %v", got, kind)
				}
				if got := RepeatOf(code, sub); got != repeat {
					t.Errorf("RepeatOf = %v, want %v", got, repeat)
				}
				wantReason := "TOP_CODE_" + strconv.Itoa(code)
				if sub != "" {
					wantReason = "TOP_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_", ":", "_").Replace(sub))
				}
				f := PlatformFailure(MethodAssignWorker, &ErrorResponse{Code: code, SubCode: sub, RequestID: "r1"})
				if f.Kind != kind || f.Repeat != repeat || f.Reason != wantReason || f.Method != MethodAssignWorker ||
					f.RequestID != "r1" || f.Platform == nil || f.Business != nil || f.HTTPStatus != 0 {
					t.Errorf("PlatformFailure = %+v, want kind %v repeat %v reason %s", f, kind, repeat, wantReason)
				}
				quota := code >= 4 && code <= 8 || strings.HasPrefix(sub, "accesscontrol.")
				if got := IsQuota(code, sub); got != quota {
					t.Errorf("IsQuota = %v, want %v", got, quota)
				}
			})
		}
	}
}

// TestTaxonomyKeepsTheOldRules pins the answers of the rules the taxonomy
// replaced (the client's retry classes, the service's code table and the
// bulk sync's refusesContent), including the two combinations where they
// disagreed and now follow one rule: 40/41/43 with an isp.* sub-code, and
// 10 with an isv.* sub-code, are both sent again by the bulk sync.
func TestTaxonomyKeepsTheOldRules(t *testing.T) {
	tests := []struct {
		code int
		sub  string
		// clientRetry: retried by the client (for idempotent calls).
		clientRetry bool
		// syncFails: the bulk sync fails the chunk for good.
		syncFails bool
		kind      Kind
	}{
		{50, "isv.invalid-parameter", false, true, KindInvalid},
		{15, "isv.invalid-parameter", false, true, KindInvalid},
		{15, "isp.top-remote-connection-timeout", true, false, KindUnavailable},
		{50, "", false, false, KindUnavailable},
		{15, "", false, false, KindUnavailable},
		{10, "", true, false, KindUnavailable},
		{7, "accesscontrol.limited-by-app-access-count", false, false, KindQuota},
		{8, "", false, false, KindQuota},
		{27, "", false, false, KindSession},
		{25, "", false, false, KindConfig},
		{11, "", false, false, KindPermission},
		{15, "isv.permission-api-package-limit", false, true, KindPermission},
		{40, "", false, true, KindInvalid},
		{41, "", false, true, KindInvalid},
		{43, "", false, true, KindInvalid},
		{31, "", false, false, KindConfig},
		{999, "", false, false, KindUnknown},
		// The aligned combinations: sent again by both the client and the sync.
		{41, "isp.top-remote-service-unavailable", true, false, KindUnavailable},
		{10, "isv.invalid-parameter", true, false, KindInvalid},
	}
	for _, tt := range tests {
		r := RepeatOf(tt.code, tt.sub)
		if got := r.Retry(true); got != tt.clientRetry {
			t.Errorf("(%d, %q): client retry %v, want %v (%v)", tt.code, tt.sub, got, tt.clientRetry, r)
		}
		if got := r == RepeatNever; got != tt.syncFails {
			t.Errorf("(%d, %q): sync fails %v, want %v (%v)", tt.code, tt.sub, got, tt.syncFails, r)
		}
		if got := KindOf(tt.code, tt.sub); got != tt.kind {
			t.Errorf("(%d, %q): kind %v, want %v", tt.code, tt.sub, got, tt.kind)
		}
	}
}

func TestRepeatRetry(t *testing.T) {
	tests := []struct {
		r                   Repeat
		idempotent, nonIdem bool
	}{
		{RepeatNever, false, false},
		{RepeatNow, true, true},
		{RepeatIfIdempotent, true, false},
		{RepeatLater, false, false},
		{RepeatAfterBan, false, false},
	}
	for _, tt := range tests {
		if tt.r.Retry(true) != tt.idempotent || tt.r.Retry(false) != tt.nonIdem {
			t.Errorf("%v.Retry wrong", tt.r)
		}
		if strings.HasPrefix(tt.r.String(), "repeat(") {
			t.Errorf("%d has no name", tt.r)
		}
	}
	for _, k := range Kinds() {
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("%d has no name", k)
		}
	}
}

// TestBusinessFailure walks every business code: its Kind comes from the
// table, the failure is final unless is_retry, and the reason and fields
// are what the ErrorInfo shows.
func TestBusinessFailure(t *testing.T) {
	codes := append(BusinessCodes(), BusinessCode{Code: "4242", Kind: KindUnknown}, BusinessCode{Code: "", Kind: KindUnknown})
	for _, c := range codes {
		for _, retry := range []bool{false, true} {
			name := c.Code + "/retry=" + strconv.FormatBool(retry)
			t.Run(name, func(t *testing.T) {
				e := &BusinessError{Method: MethodWorkerUpdate, Code: c.Code, Message: "m", Retry: retry, RequestID: "r9"}
				f, ok := FailureOf(fmt.Errorf("wrapped: %w", e))
				if !ok {
					t.Fatal("not a Failer")
				}
				wantKind, wantRepeat := c.Kind, RepeatNever
				if retry {
					wantKind, wantRepeat = KindUnavailable, RepeatLater
				}
				wantReason := "TOP_BIZ_" + c.Code
				if c.Code == "" {
					wantReason = "TOP_BIZ_UNKNOWN"
				}
				if f.Kind != wantKind || f.Repeat != wantRepeat || f.Reason != wantReason || f.Business != e ||
					f.Err != e || f.Platform != nil || f.RequestID != "r9" || f.Method != MethodWorkerUpdate {
					t.Fatalf("failure %+v, want kind %v repeat %v reason %s", f, wantKind, wantRepeat, wantReason)
				}
			})
		}
	}
}

func TestFailureOfOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), fmt.Errorf("y: %w", errors.New("z"))} {
		if _, ok := FailureOf(err); ok {
			t.Errorf("FailureOf(%v) reports a TOP failure", err)
		}
	}
}

func TestReasonPart(t *testing.T) {
	tests := map[string]string{
		"isv.invalid-parameter":        "ISV_INVALID_PARAMETER",
		"isv.invalid-parameter:mobile": "ISV_INVALID_PARAMETER_MOBILE",
		"..":                           "UNKNOWN",
		"":                             "UNKNOWN",
		strings.Repeat("a", 80):        strings.Repeat("A", 50),
	}
	for in, want := range tests {
		if got := reasonPart(in); got != want {
			t.Errorf("reasonPart(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBanMessageRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 42 * time.Second, 31062 * time.Second} {
		if got, ok := ParseBan(BanMessage(d)); !ok || got != d {
			t.Errorf("ParseBan(BanMessage(%v)) = %v, %v", d, got, ok)
		}
	}
}
