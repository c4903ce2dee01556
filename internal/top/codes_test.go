package top

import (
	"slices"
	"strconv"
	"testing"
)

// TestBusinessCodeTable checks every row: a code, a text, an origin, a
// field some method answers in, and no code twice, in any field (the
// lookup is by code alone).
func TestBusinessCodeTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range BusinessCodes() {
		if c.Code == "" || c.Text == "" {
			t.Errorf("row %+v lacks a code or a text", c)
		}
		if c.Origin != OriginDocument && c.Origin != OriginEmulator {
			t.Errorf("code %s has no origin", c.Code)
		}
		if c.Kind < KindUnknown || c.Kind > KindUnavailable {
			t.Errorf("code %s has kind %v", c.Code, c.Kind)
		}
		if !slices.ContainsFunc(Methods(), func(m Method) bool { return m.CodeField == c.Field }) {
			t.Errorf("code %s: no method answers in its field %v", c.Code, c.Field)
		}
		if seen[c.Code] {
			t.Errorf("code %s twice", c.Code)
		}
		seen[c.Code] = true
		if got, ok := LookupBusinessCode(c.Code); !ok || got.Text != c.Text || BusinessText(c.Code) != c.Text {
			t.Errorf("lookup of %s = %+v, %v", c.Code, got, ok)
		}
	}
	if _, ok := LookupBusinessCode("4242"); ok || BusinessText("4242") != "" {
		t.Error("unknown code found")
	}
}

// TestBusinessConstantsInTable checks that every named business failure
// code is in the table with the origin its doc comment claims, in the
// field of the method that answers it.
func TestBusinessConstantsInTable(t *testing.T) {
	tests := []struct {
		code   string
		origin Origin
		method Method
	}{
		{BizWorkcardNotFound, OriginDocument, AssignWorker.Method},
		{BizWorkerNotFound, OriginEmulator, AssignWorker.Method},
		{BizWorkerBlacklisted, OriginEmulator, AssignWorker.Method},
		{BizStoreMismatch, OriginEmulator, VirtualPhoneBind.Method},
		{BizWorkerMismatch, OriginEmulator, AssignWorker.Method},
		{BizFulfilTaskNotFound, OriginEmulator, AssignWorker.Method},
		{BizSystemBusy, OriginEmulator, WorkerTagList.Method},
		{BlacklistCodeInvalid, OriginEmulator, BlacklistSync.Method},
		{BlacklistCodeConflict, OriginEmulator, BlacklistSync.Method},
		{BlacklistCodeBusy, OriginEmulator, BlacklistSync.Method},
	}
	for _, n := range []int{WorkerCodeSystemError, WorkerCodeCheckFailed, WorkerCodeUserCheckFailed,
		WorkerCodeOperationFailed, WorkerCodeWorkerEmpty, WorkerCodeProviderEmpty, WorkerCodeWorkerNotFound,
		WorkerCodeWorkerExists, WorkerCodeNameMissing, WorkerCodePhoneMissing, WorkerCodeStoreNotFound,
		WorkerCodeInvalidCategory, WorkerCodeInvalidBizType, WorkerCodeLastPage} {
		tests = append(tests, struct {
			code   string
			origin Origin
			method Method
		}{strconv.Itoa(n), OriginDocument, WorkerUpdate.Method})
	}
	for _, tt := range tests {
		c, ok := LookupBusinessCode(tt.code)
		if !ok || c.Origin != tt.origin || c.Field != tt.method.CodeField {
			t.Errorf("code %s: row %+v (%v), want origin %v in %v (%s)", tt.code, c, ok, tt.origin, tt.method.CodeField, tt.method.Name)
		}
	}
	if _, ok := LookupBusinessCode(BlacklistCodeSuccess); ok {
		t.Errorf("the success code %s is in the table of failures", BlacklistCodeSuccess)
	}
}

// TestBusinessKinds pins the gRPC-facing meaning of the codes the service
// answered before the table existed, so that the table cannot drift.
func TestBusinessKinds(t *testing.T) {
	want := map[string]Kind{
		"1008": KindNotFound, "1009": KindNotFound, "1010": KindPrecondition, "1011": KindPrecondition,
		"1012": KindInvalid, "1013": KindNotFound, "9999": KindUnavailable, "100000": KindUnavailable,
		"100001": KindInvalid, "100002": KindPermission, "10004": KindInvalid, "10005": KindInvalid,
		"10006": KindNotFound, "10007": KindExists, "10008": KindInvalid, "10009": KindInvalid,
		"10010": KindNotFound, "11000": KindInvalid, "11001": KindInvalid, "400": KindInvalid, "409": KindExists,
		"100003": KindUnknown, "20001": KindUnknown, "500": KindUnknown,
	}
	for _, c := range BusinessCodes() {
		w, ok := want[c.Code]
		if !ok {
			t.Errorf("code %s: no expectation in this test", c.Code)
			continue
		}
		if c.Kind != w {
			t.Errorf("code %s: kind %v, want %v", c.Code, c.Kind, w)
		}
	}
}
