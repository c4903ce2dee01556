package frame

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The test vectors of docs/tmc.md (constructed with the protocol notes' tmc-frames.py
// and cross-checked against the JS and Java encoders).
const (
	vecToken   = "0f8fad5b-d9cb-469f-a165-70867728950e"
	vecSign    = "C86848D198760FA334AA309207C72ECD"
	vecContent = `{"workcard_id":7000000001,"action":"create","status":1,"type":1,"tp_id":2000001,"comment":"","update_date":"2024-01-02 03:04:05"}`

	hexConnect = `02000400010000000100070000006170705f6b65790108000000313233343536
373801000a00000067726f75705f6e616d65010700000064656661756c740100
0900000074696d657374616d70010d0000003137303030303030303030303001
00040000007369676e0120000000433836383438443139383736304641333334
414133303932303743373245434401000300000073646b011200000054616f4d
657373616765436f6e73756d657201000b000000696e7472616e65745f697001
0c0000003139322e3136382e312e31300000`
	hexConnectAck = `020104000100000005002400000030663866616435622d643963622d34363966
2d613136352d3730383637373238393530650000`
	hexConnectAckErr = `0201020091010000030017000000696c6c757374726174697665206572726f72
20746578740400010000000000`
	hexPull = `020205002400000030663866616435622d643963622d343639662d613136352d
3730383637373238393530650100060000005f5f6b696e6402010000`
	hexData = `020205002400000030663866616435622d643963622d343639662d613136352d
3730383637373238393530650100060000005f5f6b696e640203010002000000
696405070099e4e0ac951d010005000000746f706963011f000000746d616c6c
5f667577755f576f726b63617264537461747573557064617465010009000000
7075626c6973686572010400000034323732010006000000757365726964057f
43f92a000000000100040000006e69636b0109000000746573745f73686f7001
000400000074696d6506886469c68c0100000100070000006f757474696d6506
eb6869c68c0100000100060000006461746169640501863ba101000000010007
000000726574726965640200010007000000636f6e74656e7401810000007b22
776f726b636172645f6964223a373030303030303030312c22616374696f6e22
3a22637265617465222c22737461747573223a312c2274797065223a312c2274
705f6964223a323030303030312c22636f6d6d656e74223a22222c2275706461
74655f64617465223a22323032342d30312d30322030333a30343a3035227d00
00`
	hexConfirm = `020205002400000030663866616435622d643963622d343639662d613136352d
3730383637373238393530650100060000005f5f6b696e640202010002000000
696405070099e4e0ac951d0000`
	hexFailed = `020205002400000030663866616435622d643963622d343639662d613136352d
3730383637373238393530650100060000005f5f6b696e640214010002000000
696405070099e4e0ac951d0100030000006d7367010a00000064622074696d65
6f75740000`
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type vector struct {
	name  string
	hex   string
	size  int
	frame Frame
}

func vectors() []vector {
	return []vector{
		{"V1 CONNECT", hexConnect, 210, Frame{Version: 2, Type: Connect, Flag: 1, Headers: []Header{
			{HeaderAppKey, Str("12345678")},
			{HeaderGroupName, Str("default")},
			{HeaderTimestamp, Str("1700000000000")},
			{HeaderSign, Str(vecSign)},
			{HeaderSDK, Str("TaoMessageConsumer")},
			{HeaderIntranetIP, Str("192.168.1.10")},
		}}},
		{"V2 CONNECTACK", hexConnectAck, 52, Frame{Version: 2, Type: ConnectAck, Flag: 1, Token: vecToken}},
		{"V2b CONNECTACK failure", hexConnectAckErr, 45, Frame{Version: 2, Type: ConnectAck, Flag: 1, StatusCode: 401, StatusPhrase: "illustrative error text"}},
		{"V3 pull", hexPull, 60, Frame{Version: 2, Type: Send, Token: vecToken, Headers: []Header{{HeaderKind, Byte(int8(KindPull))}}}},
		{"V4 data", hexData, 417, Frame{Version: 2, Type: Send, Token: vecToken, Headers: []Header{
			{HeaderKind, Byte(int8(KindData))},
			{HeaderID, Int64(2131800080537681927)},
			{HeaderTopic, Str("tmall_fuwu_WorkcardStatusUpdate")},
			{HeaderPublisher, Str("4272")},
			{HeaderUserID, Int64(720978815)},
			{HeaderNick, Str("test_shop")},
			{HeaderTime, Date(time.UnixMilli(1704135845000))},
			{HeaderOutTime, Date(time.UnixMilli(1704135846123))},
			{HeaderDataID, Int64(7000000001)},
			{HeaderRetried, Byte(0)},
			{HeaderContent, Str(vecContent)},
		}}},
		{"V5 confirm", hexConfirm, 77, Frame{Version: 2, Type: Send, Token: vecToken, Headers: []Header{
			{HeaderKind, Byte(int8(KindConfirm))},
			{HeaderID, Int64(2131800080537681927)},
		}}},
		{"V6 failed", hexFailed, 101, Frame{Version: 2, Type: Send, Token: vecToken, Headers: []Header{
			{HeaderKind, Byte(int8(KindFailed))},
			{HeaderID, Int64(2131800080537681927)},
			{HeaderMsg, Str("db timeout")},
		}}},
	}
}

func TestVectors(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			wire := unhex(t, v.hex)
			if len(wire) != v.size {
				t.Fatalf("vector is %d bytes, the doc says %d", len(wire), v.size)
			}
			got, err := Decode(wire)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(v.frame, got); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
			if enc := v.frame.Encode(); string(enc) != string(wire) {
				t.Errorf("Encode:\n got %x\nwant %x", enc, wire)
			}
		})
	}
}

func TestSign(t *testing.T) {
	tests := []struct {
		secret, key, group, ts, want string
	}{
		{"helloworld", "12345678", "default", "1700000000000", vecSign},
		// An empty value is skipped, not written as its bare key.
		{"helloworld", "12345678", "", "1700000000000", md5Upper("helloworldapp_key12345678timestamp1700000000000helloworld")},
	}
	for _, tt := range tests {
		if got := Sign(tt.secret, tt.key, tt.group, tt.ts); got != tt.want {
			t.Errorf("Sign(%q, %q, %q) = %s, want %s", tt.key, tt.group, tt.ts, got, tt.want)
		}
	}
	verify := []struct {
		sign string
		want bool
	}{
		{vecSign, true},
		{strings.ToLower(vecSign), true},
		{"C86848D198760FA334AA309207C72ECE", false},
		{"", false},
		{vecSign + "00", false},
	}
	for _, tt := range verify {
		if got := VerifySign(tt.sign, "helloworld", "12345678", "default", "1700000000000"); got != tt.want {
			t.Errorf("VerifySign(%q) = %v, want %v", tt.sign, got, tt.want)
		}
	}
}

func TestValues(t *testing.T) {
	// Every format round-trips, and the integer widths all read as integers.
	f := Frame{Version: 1, Type: SendAck, Flag: 7, Headers: []Header{
		{"void", Void()},
		{"s", Str("文字")},
		{"empty", Str("")},
		{"b", Byte(-5)},
		{"i16", Int16(-30000)},
		{"i32", Int32(2000000000)},
		{"i64", Int64(-1 << 62)},
		{"date", Date(time.UnixMilli(1704135845000))},
		{"bytes", ByteArray([]byte{0x1f, 0x8b, 0})},
	}}
	got, err := Decode(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	ints := []struct {
		name string
		want int64
	}{{"b", -5}, {"i16", -30000}, {"i32", 2000000000}, {"i64", -1 << 62}, {"date", 1704135845000}}
	for _, tt := range ints {
		v, _ := got.Get(tt.name)
		if n, ok := v.Integer(); !ok || n != tt.want {
			t.Errorf("%s.Integer() = %d, %v; want %d", tt.name, n, ok, tt.want)
		}
	}
	for _, name := range []string{"s", "void", "bytes"} {
		v, _ := got.Get(name)
		if _, ok := v.Integer(); ok {
			t.Errorf("%s.Integer() ok, want not an integer", name)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		name    string
		headers []Header
		want    Kind
		ok      bool
	}{
		{"byte", []Header{{HeaderKind, Byte(3)}}, KindData, true},
		{"wider int", []Header{{HeaderKind, Int32(20)}}, KindFailed, true},
		{"last wins", []Header{{HeaderKind, Byte(1)}, {HeaderKind, Byte(2)}}, KindConfirm, true},
		{"missing", nil, KindNone, false},
		{"string", []Header{{HeaderKind, Str("3")}}, KindNone, false},
		{"out of range", []Header{{HeaderKind, Int32(300)}}, KindNone, false},
	}
	for _, tt := range tests {
		f := Frame{Headers: tt.headers}
		if got, ok := f.Kind(); got != tt.want || ok != tt.ok {
			t.Errorf("%s: Kind() = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"version only", "02", ErrTruncated},
		{"no end", "0202", ErrTruncated},
		{"half a header type", "020200", ErrTruncated},
		{"version 3", "03020000", ErrMalformed},
		{"version 0", "00020000", ErrMalformed},
		{"type 4", "02040000", ErrMalformed},
		{"unknown header type", "020206000000", ErrMalformed},
		{"negative header type", "0202ffff", ErrMalformed},
		{"unknown value format", "0202" + "0100" + "01000000" + "61" + "08" + "0000", ErrMalformed},
		{"trailing bytes", "0202000000", ErrMalformed},
		{"string past the end", "0202" + "0500" + "ffffff7f" + "41", ErrTruncated},
		{"name past the end", "0202" + "0100" + "10000000" + "61", ErrTruncated},
		{"value missing", "0202" + "0100" + "01000000" + "61", ErrTruncated},
		{"int64 short", "0202" + "0100" + "01000000" + "61" + "05" + "0102", ErrTruncated},
		{"byte array negative", "0202" + "0100" + "01000000" + "61" + "07" + "ffffffff" + "0000", ErrMalformed},
		{"byte array past the end", "0202" + "0100" + "01000000" + "61" + "07" + "ffffff7f" + "0000", ErrTruncated},
		{"flag short", "0202" + "0400" + "0100", ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(unhex(t, tt.hex))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeNullCounts(t *testing.T) {
	// A count of 0 or less is null, as in the Java decoder: the string is "".
	b := unhex(t, "0202"+"0500"+"ffffffff"+"0100"+"00000000"+"01"+"feffffff"+"0000")
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Frame{Version: 2, Type: Send, Headers: []Header{{"", Str("")}}}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDecodeCopies(t *testing.T) {
	wire := unhex(t, hexData)
	f, err := Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wire {
		wire[i] = 0
	}
	if v, _ := f.Get(HeaderContent); v.Str != vecContent {
		t.Errorf("content changed with the input buffer: %q", v.Str)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range vectors() {
		f.Add(unhex(f, v.hex))
	}
	f.Add([]byte{2, 2, 1, 0, 1, 0, 0, 0, 'a', 7, 3, 0, 0, 0, 1, 2, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to a frame that decodes to the same thing.
		again, err := Decode(got.Encode())
		if err != nil {
			t.Fatalf("re-decode of %x: %v", got.Encode(), err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		// A decoded frame never holds more bytes than the input.
		n := 0
		for _, h := range got.Headers {
			n += len(h.Name) + len(h.Value.Str) + len(h.Value.Bytes)
		}
		if n+len(got.Token)+len(got.StatusPhrase) > len(b) {
			t.Fatalf("decoded %d bytes of strings from %d bytes of input", n, len(b))
		}
	})
}

func md5Upper(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func TestDecodeHostileLengthsAllocateNothingBig(t *testing.T) {
	// Counts of 2 GiB: refused before anything is allocated for them.
	for _, h := range []string{
		"0202" + "0500" + "ffffff7f" + "41",
		"0202" + "0100" + "01000000" + "61" + "07" + "ffffff7f" + "0000",
	} {
		b := unhex(t, h)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(b)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; !errors.Is(err, ErrTruncated) || n > 64<<10 {
			t.Errorf("Decode(%s): %v, %d bytes allocated", h, err, n)
		}
	}
}
