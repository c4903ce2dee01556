package top

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// officialParams is the documented example (open.taobao.com docId=101617).
func officialParams() []Param {
	p := []Param{
		{ParamMethod, "taobao.item.seller.get"},
		{ParamAppKey, "12345678"},
		{ParamSession, "test"},
		{ParamTimestamp, "2016-01-01 12:00:00"},
		{ParamFormat, "json"},
		{ParamVersion, "2.0"},
		{ParamSignMethod, "md5"},
		{"fields", "num_iid,title,nick,price,num"},
		{"num_iid", "11223344"},
	}
	SortParams(p)
	return p
}

func TestSignOfficialExample(t *testing.T) {
	got, err := Sign(SignMD5, "helloworld", officialParams())
	if err != nil {
		t.Fatal(err)
	}
	if want := "66987CB115214E59E6EC978214934FB8"; got != want {
		t.Fatalf("sign = %s, want %s", got, want)
	}
}

// independentSign computes a signature straight from the documented
// algorithm, without the package's code path.
func independentSign(m SignMethod, secret string, kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	// insertion sort keeps this independent of SortParams.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	var b strings.Builder
	for _, k := range keys {
		if k == "sign" || kv[k] == "" {
			continue
		}
		b.WriteString(k + kv[k])
	}
	var sum []byte
	switch m {
	case SignMD5:
		s := md5.Sum([]byte(secret + b.String() + secret))
		sum = s[:]
	case SignHMAC:
		h := hmac.New(md5.New, []byte(secret))
		h.Write([]byte(b.String()))
		sum = h.Sum(nil)
	case SignHMACSHA256:
		h := hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(b.String()))
		sum = h.Sum(nil)
	}
	return strings.ToUpper(hex.EncodeToString(sum))
}

func TestSignMethodsAndChinese(t *testing.T) {
	kv := map[string]string{
		"method":             MethodAssignWorker,
		"app_key":            "emulator",
		"timestamp":          "2026-11-23 09:00:00",
		"sign_method":        "x",
		"target_worker_name": "张师傅",
		"ext_json":           `{"carNumber":"京A12345"}`,
		"empty":              "",
	}
	for _, m := range []SignMethod{SignMD5, SignHMAC, SignHMACSHA256} {
		t.Run(string(m), func(t *testing.T) {
			kv["sign_method"] = string(m)
			params := make([]Param, 0, len(kv))
			for k, v := range kv {
				params = append(params, Param{k, v})
			}
			SortParams(params)
			got, err := Sign(m, "emulator-secret", params)
			if err != nil {
				t.Fatal(err)
			}
			want := independentSign(m, "emulator-secret", kv)
			if got != want {
				t.Fatalf("sign = %s, want %s", got, want)
			}
			wantLen := 32
			if m == SignHMACSHA256 {
				wantLen = 64
			}
			if len(got) != wantLen {
				t.Fatalf("len = %d, want %d", len(got), wantLen)
			}
			if !VerifySign(m, "emulator-secret", params, strings.ToLower(got)) {
				t.Fatal("VerifySign rejected a lowercase copy of a good signature")
			}
			if VerifySign(m, "other-secret", params, got) {
				t.Fatal("VerifySign accepted a signature under another secret")
			}
		})
	}
}

func TestAppendSignKeepsPrefix(t *testing.T) {
	dst := []byte("body=1&sign=")
	out, err := AppendSign(dst, SignMD5, "helloworld", officialParams())
	if err != nil {
		t.Fatal(err)
	}
	if want := "body=1&sign=66987CB115214E59E6EC978214934FB8"; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}

func TestParseSignMethod(t *testing.T) {
	for _, s := range []string{"md5", "hmac", "hmac-sha256"} {
		if _, err := ParseSignMethod(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseSignMethod("sha1"); err == nil {
		t.Error("sha1 accepted")
	}
	if _, err := AppendSign(nil, SignMethod("sha1"), "s", nil); err == nil {
		t.Error("AppendSign accepted sha1")
	}
}

func TestAppendFormMatchesURLValues(t *testing.T) {
	params := []Param{
		{"a", "x y"}, {"b", "张师傅"}, {"c", `{"k":"v/w&z=1"}`}, {"d", ""}, {"e", "-_.~+%"},
	}
	got := string(AppendForm(nil, params))
	v := url.Values{}
	for _, p := range params {
		if p.Value != "" {
			v.Set(p.Key, p.Value)
		}
	}
	if want := v.Encode(); got != want {
		t.Fatalf("form = %s, want %s", got, want)
	}
	parsed, err := url.ParseQuery(got)
	if err != nil || parsed.Get("b") != "张师傅" {
		t.Fatalf("round trip: %v %v", parsed, err)
	}
}

func TestTimeIsUTCPlus8WhateverTheZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	instant := time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)
	for _, loc := range []*time.Location{time.UTC, ny, time.Local} {
		if got := FormatTime(instant.In(loc)); got != "2026-01-01 12:00:00" {
			t.Errorf("FormatTime in %s = %s", loc, got)
		}
	}
	back, err := ParseTime("2026-01-01 12:00:00")
	if err != nil || !back.Equal(instant) {
		t.Fatalf("ParseTime = %v, %v", back, err)
	}
	if _, err := ParseTime("2026/01/01"); err == nil {
		t.Fatal("bad time accepted")
	}
}

func TestResponseKey(t *testing.T) {
	tests := map[string]string{
		MethodAssignWorker:     "tmall_servicecenter_workcard_assignworker_response",
		MethodWorkerUpdate:     "tmall_servicecenter_worker_update_response",
		MethodWorkerTagList:    "tmall_servicecenter_worker_taglist_get_response",
		MethodVirtualPhoneBind: "tmall_servicecenter_workcard_virtualphone_bind_response",
		MethodBlacklistSync:    "logistics_express_user_blacklist_tms_sync_response",
	}
	for m, want := range tests {
		if got := ResponseKey(m); got != want {
			t.Errorf("ResponseKey(%s) = %s, want %s", m, got, want)
		}
	}
}

func TestParseBan(t *testing.T) {
	tests := []struct {
		msg  string
		want time.Duration
		ok   bool
	}{
		{"This ban will last for 31062 more seconds", 31062 * time.Second, true},
		{"This ban will last for 1 more second", time.Second, true},
		{BanMessage(1500 * time.Millisecond), 2 * time.Second, true},
		{"App Call Limited", 0, false},
		{"This ban will last for x more seconds", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseBan(tt.msg)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseBan(%q) = %v, %v", tt.msg, got, ok)
		}
	}
	if ScopeOfBan(SubCodeAPIAccessCount) != BanAPI || ScopeOfBan(SubCodeAppAccessCount) != BanApp {
		t.Error("ScopeOfBan wrong")
	}
}

func TestErrorResponseDecodeAndMask(t *testing.T) {
	var env ErrorEnvelope
	body := `{"error_response":{"code":"15","msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"mobile 13812345678 invalid","request_id":"abc"}}`
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	e := env.ErrorResponse
	if e.Code != 15 || e.RequestID != "abc" || KindOf(e.Code, e.SubCode) != KindInvalid {
		t.Fatalf("decoded %+v", e)
	}
	if strings.Contains(e.Error(), "13812345678") || !strings.Contains(e.Error(), "138****5678") {
		t.Fatalf("Error() leaks or over-masks: %s", e.Error())
	}
}

func TestFlexibleValues(t *testing.T) {
	var v struct {
		N  Int64  `json:"n"`
		B1 Bool   `json:"b1"`
		B2 Bool   `json:"b2"`
		B3 Bool   `json:"b3"`
		S  String `json:"s"`
		T  Time   `json:"t"`
		TM Time   `json:"tm"`
	}
	body := `{"n":"42","b1":"true","b2":1,"b3":"0","s":1008,"t":"2016-06-28 10:30:00","tm":1656674541001}`
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.N != 42 || !bool(v.B1) || !bool(v.B2) || bool(v.B3) || v.S != "1008" {
		t.Fatalf("decoded %+v", v)
	}
	if FormatTime(v.T.Time) != "2016-06-28 10:30:00" || v.TM.UnixMilli() != 1656674541001 {
		t.Fatalf("times %v %v", v.T, v.TM)
	}
	bad := []string{`{"b1":"xxx"}`, `{"n":"12a"}`, `{"t":"yesterday"}`, `{"s":{"a":1}}`}
	for _, b := range bad {
		if err := json.Unmarshal([]byte(b), &v); err == nil {
			t.Errorf("%s accepted", b)
		}
	}
	out, err := json.Marshal(struct {
		T Time  `json:"t,omitzero"`
		Z Time  `json:"z,omitzero"`
		N Int64 `json:"n"`
	}{T: Time{time.Date(2016, 6, 28, 2, 30, 0, 0, time.UTC)}, N: 7})
	if err != nil || string(out) != `{"t":"2016-06-28 10:30:00","n":7}` {
		t.Fatalf("marshal = %s, %v", out, err)
	}
}

// TestAppendQueryEscapeMatchesURL: every byte alone, between safe bytes
// and in runs escapes as url.QueryEscape escapes it.
func TestAppendQueryEscapeMatchesURL(t *testing.T) {
	var inputs []string
	for c := range 256 {
		b := string([]byte{byte(c)})
		inputs = append(inputs, b, "a"+b, b+"z", "ab"+b+"cd"+b+b+"ef")
	}
	inputs = append(inputs, "", "张师傅 13245678901", `{"k":"v/w&z=1"}`, "2026-11-30 08:00:00", "tmall.servicecenter.worker.taglist.get")
	for _, s := range inputs {
		if got, want := string(AppendQueryEscape([]byte("p="), s)), "p="+url.QueryEscape(s); got != want {
			t.Errorf("AppendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzAppendQueryEscape(f *testing.F) {
	f.Add("x y&z=张")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendQueryEscape(nil, s)), url.QueryEscape(s); got != want {
			t.Fatalf("AppendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	})
}
