package entryfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

// readAll reads every entry as "line:mobile:reasons".
func readAll(f Format, in string) ([]string, error) {
	r := NewReader(strings.NewReader(in), f)
	var out []string
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rs := make([]string, len(e.GetReason()))
		for i, x := range e.GetReason() {
			rs[i] = fmt.Sprint(int32(x))
		}
		out = append(out, fmt.Sprintf("%d:%s:%s", e.GetLine(), e.GetMobile(), strings.Join(rs, ",")))
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []string
		err    string // SyntaxError text, "" for none
	}{
		{"csv", CSV, "mobile,reason\n13800000001,1\n13800000002,\"1,3\"\n", []string{"2:13800000001:1", "3:13800000002:1,3"}, ""},
		{"csv: CRLF, BOM, spaces, other separators, blank lines", CSV, "\ufeffMobile , Reason\r\n\r\n 13800000001 , 2|4\r\n13800000002,5;1\r\n13800000003,\r\n",
			[]string{"3:13800000001:2,4", "4:13800000002:5,1", "5:13800000003:"}, ""},
		{"csv: reason first, mobile only", CSV, "reason,mobile\n2,13800000001\n", []string{"2:13800000001:2"}, ""},
		{"csv: mobile column only", CSV, "mobile\n13800000001\n", []string{"2:13800000001:"}, ""},
		{"csv: bad values pass, unreadable reasons become 0", CSV, "mobile,reason\n12345,x\n,7\n", []string{"2:12345:0", "3::7"}, ""},
		{"csv: reason names", CSV, "mobile,reason\n13800000001,BLACKLIST_REASON_OTHER blacklist_reason_extortion\n", []string{"2:13800000001:5,3"}, ""},
		{"csv: quoted newline keeps line numbers", CSV, "mobile,reason\n13800000001,\"1,\n2\"\n13800000002,3\n", []string{"2:13800000001:1,2", "4:13800000002:3"}, ""},
		{"csv: empty", CSV, "", nil, "line 1: empty file: want a header row mobile,reason"},
		{"csv: no mobile column", CSV, "phone,reason\n1,2\n", nil, `line 1: header: unknown column 1 "phone" in header "phone,reason": want mobile and reason`},
		{"csv: unknown column named", CSV, "mobile,reason,name\n13800000001,1,x\n", nil, `line 1: header: unknown column 3 "name" in header "mobile,reason,name": want mobile and reason`},
		{"csv: no header, data masked", CSV, "13800000001,1\n", nil, `line 1: header: unknown column 1 "138****0001" in header "138****0001,1": want mobile and reason (the first line looks like data: start the file with the header row mobile,reason)`},
		{"csv: header without mobile", CSV, "reason\n1\n", nil, "line 1: header: no mobile column (want mobile,reason)"},
		{"csv: too many fields", CSV, "mobile,reason\n13800000001,1\n13800000002,1,2\n", []string{"2:13800000001:1"}, "line 3: wrong number of fields (want as many as the header)"},
		{"csv: bad quote", CSV, "mobile,reason\n13800000001,\"1\n", nil, "line 2: bad quoting: a quote in an unquoted field, or an unterminated quoted field"},
		{"csv: bare quote", CSV, "mobile,reason\n138\"00000001,1\n", nil, "line 2: bad quoting: a quote in an unquoted field, or an unterminated quoted field"},

		{"ndjson", NDJSON, `{"mobile":"13800000001","reason":[1,3]}` + "\n" + `{"mobile":"13800000002","reason":"2,4"}`,
			[]string{"1:13800000001:1,3", "2:13800000002:2,4"}, ""},
		{"ndjson: blank lines, CRLF, BOM, numbers, names, null", NDJSON, "\ufeff{\"mobile\":13800000001,\"reason\":5}\r\n\r\n" +
			`{"mobile":"13800000002","reason":["BLACKLIST_REASON_EXTORTION",1]}` + "\n" + `{"mobile":"13800000003","reason":null}` + "\n\n",
			[]string{"1:13800000001:5", "3:13800000002:3,1", "4:13800000003:"}, ""},
		{"ndjson: bad values pass", NDJSON, `{"mobile":"1","reason":[9,"x"]}` + "\n" + `{"reason":[1]}`, []string{"1:1:9,0", "2::1"}, ""},
		{"ndjson: not json", NDJSON, `{"mobile":"13800000001"}` + "\nmobile,reason\n", []string{"1:13800000001:"}, "line 2: not a JSON object {\"mobile\": ..., \"reason\": ...}"},
		{"ndjson: unknown field", NDJSON, `{"mobile":"13800000001","reasons":[1]}`, nil, "line 1: unknown field: want mobile and reason"},
		{"ndjson: two values", NDJSON, `{"mobile":"13800000001"} {"mobile":"13800000002"}`, nil, "line 1: more than one JSON value on the line"},
		{"ndjson: mobile object", NDJSON, `{"mobile":{"a":1}}`, nil, "line 1: mobile must be a string or a number"},
		{"ndjson: reason object", NDJSON, `{"mobile":"1","reason":{"a":1}}`, nil, "line 1: reason must be a list, a string or a number"},
		{"ndjson: reason list of objects", NDJSON, `{"mobile":"1","reason":[{}]}`, nil, "line 1: reason must list numbers or names"},
		{"csv: not UTF-8", CSV, "mobile,reason\n13800000001,1\n1380000\xff002,1\n", []string{"2:13800000001:1"}, "line 3: field 1 is not valid UTF-8 (the file must be UTF-8)"},
		{"csv: header not UTF-8", CSV, "mobile,re\xc3\n", nil, "line 1: field 2 is not valid UTF-8 (the file must be UTF-8)"},
		{"ndjson: not UTF-8", NDJSON, `{"mobile":"13800000001"}` + "\n" + "{\"mobile\":\"1380000\xff002\"}\n", []string{"1:13800000001:"}, "line 2: not valid UTF-8 (the file must be UTF-8)"},
		{"ndjson: empty", NDJSON, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.format, tt.in)
			var se *SyntaxError
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.err != "" && (!errors.As(err, &se) || err.Error() != tt.err):
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("entries %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRecordBound: a record (CSV, with quoted line breaks; an NDJSON
// line) of MaxRecord bytes is read, one byte more is a *TooLargeError with
// the line it starts on, and the reader reads little beyond the bound
// however long the record.
func TestRecordBound(t *testing.T) {
	field := func(n int) string { return strings.Repeat("1", n) }
	tests := []struct {
		name   string
		format Format
		in     string
		want   []string
		line   int64 // of the TooLargeError, 0 for none
	}{
		{"csv: a record of MaxRecord bytes", CSV, "mobile\n" + field(MaxRecord-1) + "\n13800000001\n", []string{"2:" + field(MaxRecord-1) + ":", "3:13800000001:"}, 0},
		{"csv: the last record, without a line break", CSV, "mobile\n13800000001\n" + field(MaxRecord), []string{"2:13800000001:", "3:" + field(MaxRecord) + ":"}, 0},
		{"csv: one byte more", CSV, "mobile\n13800000001\n" + field(MaxRecord) + "\n", []string{"2:13800000001:"}, 3},
		{"csv: a header too long", CSV, "mobile,reason" + strings.Repeat(",reason", MaxRecord/7) + "\n", nil, 1},
		{"csv: quoted line breaks count", CSV, "mobile,reason\n13800000001,\"1" + strings.Repeat("\n1", MaxRecord/2) + "\"\n", nil, 2},
		{"ndjson: a line of MaxRecord bytes", NDJSON, `{"mobile":"1"}` + strings.Repeat(" ", MaxRecord-15) + "\n", []string{"1:1:"}, 0},
		{"ndjson: one byte more", NDJSON, `{"mobile":"1"}` + "\n" + `{"mobile":"1"}` + strings.Repeat(" ", MaxRecord-14) + "\n", []string{"1:1:"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.format, tt.in)
			var tl *TooLargeError
			switch {
			case tt.line == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tt.line != 0 && (!errors.As(err, &tl) || tl.Line != tt.line || tl.Limit != MaxRecord):
				t.Fatalf("error %v, want a record too large on line %d", err, tt.line)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("entries %.200q, want %.200q", got, tt.want)
			}
		})
	}

	// A 100 MB line costs about MaxRecord, not 100 MB: the reader stops
	// soon after the bound.
	for f, head := range map[Format]string{CSV: "mobile\n", NDJSON: `{"mobile":"1"}` + "\n"} {
		src := &endless{}
		r := NewReader(io.MultiReader(strings.NewReader(head), src), f)
		var err error
		for err == nil {
			_, err = r.Next()
		}
		var tl *TooLargeError
		if !errors.As(err, &tl) || src.n > 2*MaxRecord {
			t.Errorf("%v: %v after reading %d bytes", f, err, src.n)
		}
	}
}

// endless is a line that never ends; n counts the bytes read from it.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '1'
	}
	e.n += len(p)
	return len(p), nil
}

// TestErrorsNeverQuoteTheFile: a syntax error names the line, not the
// values (they are personal data).
func TestErrorsNeverQuoteTheFile(t *testing.T) {
	for _, in := range []struct {
		f  Format
		in string
	}{
		{CSV, "mobile,reason\n13812345678,1,2\n"},
		{CSV, "13812345678,reason\n"},
		{NDJSON, `{"mobile":"13812345678","x":1}`},
		{NDJSON, `{"mobile":13812345678,`},
	} {
		_, err := readAll(in.f, in.in)
		if err == nil || strings.Contains(err.Error(), "1381234") {
			t.Errorf("%q: %v", in.in, err)
		}
	}
}

func TestFormats(t *testing.T) {
	for ct, want := range map[string]Format{"text/csv": CSV, "text/csv; charset=utf-8": CSV, "application/x-ndjson": NDJSON, "application/jsonl": NDJSON, "application/json": 0, "": 0} {
		if got, ok := FormatOfContentType(ct); got != want || ok != (want != 0) {
			t.Errorf("FormatOfContentType(%q) = %v, %v", ct, got, ok)
		}
	}
	for name, want := range map[string]Format{"a.CSV": CSV, "x/b.ndjson": NDJSON, "c.jsonl": NDJSON, "d.json": NDJSON, "e.txt": 0, "f": 0} {
		if got, ok := FormatOfName(name); got != want || ok != (want != 0) {
			t.Errorf("FormatOfName(%q) = %v, %v", name, got, ok)
		}
	}
	for s, want := range map[string]Format{"csv": CSV, "NDJSON": NDJSON, "jsonl": NDJSON} {
		if got, err := ParseFormat(s); got != want || err != nil {
			t.Errorf("ParseFormat(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

// TestExampleCSV: examples/blacklist.csv, the file the docs import,
// reads as six good entries (mobile, then reasons 1 to 5 or none).
func TestExampleCSV(t *testing.T) {
	f, err := os.Open("../../../examples/blacklist.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, CSV)
	var got []string
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%v", e.GetMobile(), e.GetReason()))
	}
	want := []string{"13900000101:[BLACKLIST_REASON_MALICIOUS_ORDER]", "13900000102:[BLACKLIST_REASON_MALICIOUS_ORDER BLACKLIST_REASON_MALICIOUS_COMPLAINT]",
		"13900000103:[BLACKLIST_REASON_EXTORTION]", "13900000104:[BLACKLIST_REASON_PERSONAL_ATTACK]", "13900000105:[BLACKLIST_REASON_OTHER]", "13900000106:[]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
