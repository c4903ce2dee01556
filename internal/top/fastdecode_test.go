package top

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fastSeeds are success-envelope values of every shape, good and bad:
// the normal and simplified lists, nulls, duplicates, escapes, keys that
// match a field only case-insensitively, values of the wrong kind.
var fastSeeds = []string{
	`{"result":{"result_data":{"black_list":false,"degradation":false,"ability_map":"\"ac_install\":{\"effective\":false,\"serviceCode\":\"ac_install\",\"abilityLevel\":2}","vip":true,"big_promotion":true,"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"vip","begin_time":"2024-12-20 17:42:01","end_time":"2030-12-31 23:59:59"}]}},"msg_code":"0","msg_info":"ok","success":true},"request_id":"bench0taglist"}`,
	`{"result":{"success":true,"msg_code":"0","msg_info":"ok"},"request_id":"bench0assign"}`,
	`{"result":{"success":false,"msg_code":1008,"msg_info":"工单不存在","display_msg":"no such workcard"},"request_id":"r"}`,
	` { "result" : { "result_data" : { "home_worker_tags" : [ { "name" : "a" } , null , {"begin_time":1734687721000} ] } , "success" : "1" } } `,
	`{"result":{"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"beside"}]},"result_data":null}}`,
	`{"result":{"result_data":{"vip":true},"result_data":{"big_promotion":true}}}`,
	`{"result":{"result_data":{"vip":true},"result_data":null}}`,
	`{"result":{"success":true},"result":{"msg_code":"7"}}`,
	`{"result":null,"request_id":null}`,
	`{"Result":{"success":true}}`,
	`{"result":{"SUCCESS":true}}`,
	`{"result":{"ſuccess":true}}`,
	`{"resul\u0074":{"success":true}}`,
	`{"result":{"msg_info":"a\"b\u4e2d"},"request_id":"x\/y"}`,
	`{"result":{"msg_info":5}}`,
	`{"result":{"success":"xxx"}}`,
	`{"result":{"result_data":{"home_worker_tags":{"a":[],"b":[]}}}}`,
	`{"result":{"result_data":{"home_worker_tags":{"a":[{"name":"x"}],"b":[{"name":"y"}]}}}}`,
	`{"result":{"result_data":{"home_worker_tags":{}}}}`,
	`{"result":{"result_data":{"home_worker_tags":[]}}}`,
	`{"result":{"result_data":{"home_worker_tags":[1]}}}`,
	`{"result":{"result_data":{"home_worker_tags":[{"begin_time":"yesterday"}]}}}`,
	`{"result":{"result_data":{"home_worker_tags":[{"end_time":null,"name":null}]}}}`,
	`{"result":{"result_data":{"ability_map":null,"vip":null,"extra":[1,{"x":"]}"}]}}}`,
	`{"result":[],"request_id":"r"}`,
	`{"result":"x"}`,
	`{}`,
	`[]`,
	`null`,
	"{\"result\":{\"msg_info\":\"\xff\"}}",
	`{"worker_manage_rule_d_t_o":[{"name":"a","begin_time":"2024-12-20 17:42:01"},null]}`,
	`{"a":[{"name":"x"}],"b":[]}`,
	`{"a":[{"name":"x"}],"a":[]}`,
	`[{"name":"a"},{"name":"b","name":"c"}]`,
	`{"a":null}`,
	`{"a":{"b":[]}}`,
	`{"result":{"success":1.}}`,
	`{"result":{"success":tru}}`,
	`{"result":{"success":true,"x":[1,]}}`,
	"{\"result\":{\"msg_info\":\"a\x01\"}}",
	`{"result":{"success":true},}`,
	`{"result":{"success":01}}`,
	`{"result":{"success":-}}`,
	`{"result":{"success":1e}}`,
	`{"result":{"x":"\u12"}}`,
	`{"request_id":"a"} x`,
	`{"request_id":"a"}}`,
	`{"result":{"x":{"y":1,"z"}}}`,
	`{"result":{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
	"{\"result\":{\"success\":true}\f",
}

// FuzzDecodeFast holds the one-pass decoders to encoding/json: whenever
// one answers, encoding/json decodes the same value without error; when it
// refuses, it leaves its receiver as it was.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFast(t, b, new(TagListGetResponse), new(TagListGetResponse))
		checkFast(t, b, new(AssignWorkerResponse), new(AssignWorkerResponse))
		var fast, slow List[WorkerManageRule]
		if decodeWhole(b, &fast) {
			if err := json.Unmarshal(b, &slow); err != nil {
				t.Fatalf("List decoded %s, encoding/json failed: %v", b, err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("List of %s:\nfast %+v\nslow %+v", b, fast, slow)
			}
		} else if fast != nil {
			t.Fatalf("List refused %s but changed: %+v", b, fast)
		}
	})
}

// checkFast decodes b with fast and with encoding/json into slow, two
// zero values of the same type, and compares them.
func checkFast(t *testing.T, b []byte, fast fastDecoder, slow any) {
	t.Helper()
	if !fast.decodeFast(b) {
		zero := reflect.New(reflect.TypeOf(fast).Elem()).Interface()
		if !reflect.DeepEqual(fast, zero) {
			t.Fatalf("%T refused %s but changed its receiver: %+v", fast, b, fast)
		}
		return
	}
	if err := json.Unmarshal(b, slow); err != nil {
		t.Fatalf("%T decoded %s, encoding/json failed: %v", fast, b, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%T of %s:\nfast %+v\nslow %+v", fast, b, fast, slow)
	}
}

// TestDecodeFastTakesUsualShapes checks that the answers servicecenterd
// receives take the one-pass path (so the fuzz target compares something)
// and that the unusual ones are left to encoding/json.
func TestDecodeFastTakesUsualShapes(t *testing.T) {
	tests := []struct {
		name string
		dst  fastDecoder
		body string
		want bool
	}{
		{"taglist normal", new(TagListGetResponse), fastSeeds[0], true},
		{"assignworker", new(AssignWorkerResponse), fastSeeds[1], true},
		{"assignworker failure", new(AssignWorkerResponse), fastSeeds[2], true},
		{"taglist simplified with spaces", new(TagListGetResponse), fastSeeds[3], true},
		{"escaped strings", new(TagListGetResponse), fastSeeds[13], true},
		{"case-folded key", new(TagListGetResponse), fastSeeds[9], false},
		{"long s folds to s", new(AssignWorkerResponse), fastSeeds[11], false},
		{"escaped key", new(TagListGetResponse), fastSeeds[12], false},
		{"string field given a number", new(TagListGetResponse), fastSeeds[14], false},
		{"wrapper with two lists", new(TagListGetResponse), fastSeeds[17], false},
		{"bad time", new(TagListGetResponse), fastSeeds[21], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dst.decodeFast([]byte(tt.body)); got != tt.want {
				t.Fatalf("decodeFast(%s) = %v, want %v", tt.body, got, tt.want)
			}
			if tt.want {
				checkFast(t, []byte(tt.body), reflect.New(reflect.TypeOf(tt.dst).Elem()).Interface().(fastDecoder),
					reflect.New(reflect.TypeOf(tt.dst).Elem()).Interface())
			}
		})
	}
}

// TestDecodeEnvelopeFastMatchesSlow decodes whole answers through
// DecodeEnvelope (the one-pass path) and through encoding/json alone.
func TestDecodeEnvelopeFastMatchesSlow(t *testing.T) {
	for _, body := range []string{
		`{"tmall_servicecenter_worker_taglist_get_response":` + fastSeeds[0] + `}`,
		fastSeeds[0],
		`{"tmall_servicecenter_worker_taglist_get_response":` + fastSeeds[4] + `}`,
	} {
		var got TagListGetResponse
		if apiErr, err := DecodeEnvelope(MethodWorkerTagList, []byte(body), &got); apiErr != nil || err != nil {
			t.Fatalf("DecodeEnvelope(%s): %v %v", body, apiErr, err)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		value, ok := env[ResponseKey(MethodWorkerTagList)]
		if !ok {
			value = []byte(body)
		}
		var want TagListGetResponse
		if err := json.Unmarshal(value, &want); err != nil {
			t.Fatal(err)
		}
		want.finishDecode()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ngot  %+v\nwant %+v", body, got, want)
		}
	}
}

// TestDecodeFastNotZero leaves a receiver that already holds values to
// encoding/json, which merges into it.
func TestDecodeFastNotZero(t *testing.T) {
	r := &AssignWorkerResponse{RequestID: "kept"}
	if r.decodeFast([]byte(fastSeeds[1])) {
		t.Fatal("decodeFast decoded into a receiver that was not zero")
	}
	tl := &TagListGetResponse{Result: TagListResult{Success: true}}
	if tl.decodeFast([]byte(fastSeeds[0])) {
		t.Fatal("decodeFast decoded into a receiver that was not zero")
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	bodies := map[string]struct {
		method string
		body   string
		out    func() any
	}{
		"taglist":      {MethodWorkerTagList, `{"tmall_servicecenter_worker_taglist_get_response":` + fastSeeds[0] + `}`, func() any { return new(TagListGetResponse) }},
		"assignworker": {MethodAssignWorker, `{"tmall_servicecenter_workcard_assignworker_response":` + fastSeeds[1] + `}`, func() any { return new(AssignWorkerResponse) }},
	}
	for name, c := range bodies {
		body := []byte(c.body)
		b.Run(name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if apiErr, err := DecodeEnvelope(c.method, body, c.out()); apiErr != nil || err != nil {
					b.Fatal(apiErr, err)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			_, value, _ := firstMember(body)
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(value, c.out()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzUnescapeString holds unescapeString to encoding/json's decoding of
// a string: whenever it answers, it answers the same.
func FuzzUnescapeString(f *testing.F) {
	for _, s := range []string{`"a"`, `"\"ac_install\":{\"effective\":false}"`, `"a\\b\/c\n\t\r\b\f"`, `"\u4e2d"`,
		`"中文\n"`, "\"\xff\"", "\"a\x01\"", `"a\"`, `"\x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := unescapeString(b)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("unescapeString(%q) = %q, encoding/json failed: %v", b, got, err)
		}
		if got != want {
			t.Fatalf("unescapeString(%q) = %q, encoding/json %q", b, got, want)
		}
	})
}

// FuzzSkipValue holds the cursor's validation to json.Valid, both ways
// (up to maxDepth levels of nesting).
func FuzzSkipValue(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`1`, `-0.5e+3`, `"\ud83d\ude00"`, `[1,{"a":[true,false,null]}]`, `01`, `1.`, `-`, `[1,]`, `{"a" 1}`, `"\x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := skipValue(b, skipSpace(b, 0), 0)
		ours := ok && skipSpace(b, end) == len(b)
		if valid := json.Valid(b); ours != valid && (ours || depthOf(b) < maxDepth) {
			t.Fatalf("skipValue(%q) = %v, json.Valid %v", b, ours, valid)
		}
	})
}

// depthOf is an upper bound of the nesting of b.
func depthOf(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '[' || c == '{' {
			n++
		}
	}
	return n
}

// FuzzParseLayout holds parseLayout to time.ParseInLocation: whenever it
// answers, ParseInLocation gives the same time, location included.
func FuzzParseLayout(f *testing.F) {
	for _, s := range []string{"2024-12-20 17:42:01", "2030-12-31 23:59:59", "2024-02-29 00:00:00", "2023-02-29 00:00:00",
		"1900-02-29 12:00:00", "2000-02-29 12:00:00", "2024-13-01 00:00:00", "2024-04-31 00:00:00", "2024-12-20 24:00:00",
		"2024-12-20 17:60:01", "2024-12-20 17:42:60", "0000-01-01 00:00:00", "2024-12-20T17:42:01", "2024-12-20 17:42:01.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseLayout([]byte(s))
		want, err := time.ParseInLocation(TimeLayout, s, beijing)
		if !ok {
			if len(s) == len(TimeLayout) && err == nil && s[10] == ' ' {
				t.Logf("parseLayout refused %q, which parses", s) // allowed, but worth seeing
			}
			return
		}
		if err != nil {
			t.Fatalf("parseLayout(%q) = %v, ParseInLocation failed: %v", s, got, err)
		}
		if got != want {
			t.Fatalf("parseLayout(%q) = %#v, ParseInLocation %#v", s, got, want)
		}
	})
}
