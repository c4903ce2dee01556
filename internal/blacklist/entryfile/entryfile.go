// Package entryfile reads blacklist entries from a file, streaming:
// CSV with a header row naming the columns mobile and (optionally) reason,
// or NDJSON, one JSON object per line:
//
//	mobile,reason
//	13800000001,1
//	13800000002,"1,3"
//
//	{"mobile": "13800000001", "reason": [1]}
//	{"mobile": "13800000002", "reason": "1,3"}
//
// A reason cell or string is TOP's comma list of reasons 1 to 5 ("|", ";"
// and spaces separate too); NDJSON also takes an array of numbers or of
// enum names (BLACKLIST_REASON_OTHER). The reader checks the file's
// syntax only: a mobile or reason that is wrong but readable is passed on
// (a reason that is not a number becomes 0) for the server to reject with
// the entry's line. Memory stays flat however long the file: a record (a
// CSV record, an NDJSON line) longer than MaxRecord bytes refuses the file
// with a *TooLargeError, and a file that is not UTF-8 is refused with a
// *SyntaxError naming the line.
package entryfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// Format is a file format.
type Format int

// The formats.
const (
	// CSV is comma-separated values with a header row.
	CSV Format = iota + 1
	// NDJSON is one JSON object per line.
	NDJSON
)

// String names the format.
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case NDJSON:
		return "ndjson"
	}
	return "unknown"
}

// ParseFormat reads "csv" or "ndjson" (also "jsonl").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl":
		return NDJSON, nil
	}
	return 0, fmt.Errorf("format %q: want csv or ndjson", s)
}

// FormatOfContentType maps a Content-Type to a format: text/csv, or
// application/x-ndjson (also application/ndjson, application/jsonl,
// application/x-jsonlines).
func FormatOfContentType(ct string) (Format, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "text/csv":
		return CSV, true
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return NDJSON, true
	}
	return 0, false
}

// FormatOfName maps a file name's extension to a format: .csv, or
// .ndjson, .jsonl, .json.
func FormatOfName(name string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV, true
	case ".ndjson", ".jsonl", ".json":
		return NDJSON, true
	}
	return 0, false
}

// SyntaxError is a file that cannot be read: the whole upload is refused.
type SyntaxError struct {
	// Line is the 1-based line of the problem.
	Line int64
	// Problem says what is wrong (never a value from the file).
	Problem string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return "line " + strconv.FormatInt(e.Line, 10) + ": " + e.Problem
}

// TooLargeError is a record longer than MaxRecord: the whole upload is
// refused.
type TooLargeError struct {
	// Line is the 1-based line where the record starts.
	Line int64
	// Limit is the most bytes a record may have (MaxRecord).
	Limit int
}

// Error implements error.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("line %d: record longer than %d bytes", e.Line, e.Limit)
}

// Reader reads entries one by one.
type Reader struct {
	next func() (*scv1.BlacklistImportEntry, error)
}

// MaxRecord is the most bytes a record may have: a CSV record (with its
// line break, and any blank lines before it) or an NDJSON line. A real
// entry is a few dozen bytes; the bound keeps a hostile file from costing
// memory.
const MaxRecord = 64 << 10

// errRecordTooLarge is what recordReader answers once a record is over
// MaxRecord.
var errRecordTooLarge = errors.New("record too large")

// NewReader reads entries in format f from r.
func NewReader(r io.Reader, f Format) *Reader {
	if f == CSV {
		return &Reader{next: csvReader(r)}
	}
	return &Reader{next: ndjsonReader(r)}
}

// Next returns the next entry, with its line; io.EOF at the end; a
// *SyntaxError when the file is malformed (or an I/O error).
func (r *Reader) Next() (*scv1.BlacklistImportEntry, error) { return r.next() }

func csvReader(r io.Reader) func() (*scv1.BlacklistImportEntry, error) {
	rr := &recordReader{br: bufio.NewReader(r), max: MaxRecord, line: 1}
	cr := csv.NewReader(rr)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	mobileCol, reasonCol := -1, -1
	header := true
	return func() (*scv1.BlacklistImportEntry, error) {
		for {
			rr.next()
			rec, err := cr.Read()
			if rr.tooLarge {
				return nil, &TooLargeError{Line: rr.start, Limit: MaxRecord}
			}
			if errors.Is(err, io.EOF) {
				if header {
					return nil, &SyntaxError{Line: 1, Problem: "empty file: want a header row mobile,reason"}
				}
				return nil, io.EOF
			}
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					return nil, &SyntaxError{Line: int64(pe.Line), Problem: csvProblem(pe.Err)}
				}
				return nil, err
			}
			line, _ := cr.FieldPos(0)
			for i, f := range rec {
				if !utf8.ValidString(f) {
					l, _ := cr.FieldPos(i)
					return nil, &SyntaxError{Line: int64(l), Problem: fmt.Sprintf("field %d is not valid UTF-8 (the file must be UTF-8)", i+1)}
				}
			}
			if header {
				header = false
				for i, name := range rec {
					if i == 0 {
						name = strings.TrimPrefix(name, "\ufeff") // a BOM from spreadsheet programs
					}
					switch strings.ToLower(strings.TrimSpace(name)) {
					case "mobile":
						mobileCol = i
					case "reason", "reasons":
						reasonCol = i
					default:
						return nil, &SyntaxError{Line: int64(line), Problem: unknownColumn(rec, i)}
					}
				}
				if mobileCol < 0 {
					return nil, &SyntaxError{Line: int64(line), Problem: "header: no mobile column (want mobile,reason)"}
				}
				continue
			}
			e := &scv1.BlacklistImportEntry{Mobile: strings.TrimSpace(rec[mobileCol]), Line: int64(line)}
			if reasonCol >= 0 {
				e.Reason = reasonList(rec[reasonCol])
			}
			return e, nil
		}
	}
}

// recordReader feeds encoding/csv one line at most per Read, so that when
// csv.Reader returns a record it has read exactly the lines up to the
// record's end (its bufio.Reader holds nothing beyond). That lets it count
// the bytes of each record, and refuse one that runs past max before
// csv.Reader buffers more of it.
type recordReader struct {
	br  *bufio.Reader
	max int
	// n counts the bytes read since next.
	n int
	// line is the line of the next byte; start the line the current
	// record starts on.
	line, start int64
	// tooLarge is set, for good, when a record ran past max.
	tooLarge bool
}

// next starts a record.
func (r *recordReader) next() { r.n, r.start = 0, r.line }

// Read implements io.Reader.
func (r *recordReader) Read(p []byte) (int, error) {
	if r.tooLarge {
		return 0, errRecordTooLarge
	}
	if _, err := r.br.Peek(1); err != nil {
		return 0, err
	}
	if r.n >= r.max {
		r.tooLarge = true
		return 0, errRecordTooLarge
	}
	if len(p) > r.max-r.n {
		p = p[:r.max-r.n]
	}
	buf, _ := r.br.Peek(min(r.br.Buffered(), len(p)))
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
		r.line++
	}
	n := copy(p, buf)
	_, _ = r.br.Discard(n)
	r.n += n
	return n, nil
}

// csvProblem describes a CSV error without quoting the file.
func csvProblem(err error) string {
	switch {
	case errors.Is(err, csv.ErrFieldCount):
		return "wrong number of fields (want as many as the header)"
	case errors.Is(err, csv.ErrQuote), errors.Is(err, csv.ErrBareQuote):
		return "bad quoting: a quote in an unquoted field, or an unterminated quoted field"
	}
	return "not valid CSV"
}

// reasonList reads "1,3" (or "1|3", "1;3", "1 3"); a token that is not a
// reason number or name becomes 0, which the server rejects.
func reasonList(s string) []scv1.BlacklistReason {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ';' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil
	}
	out := make([]scv1.BlacklistReason, len(fields))
	for i, f := range fields {
		out[i] = reasonToken(f)
	}
	return out
}

func reasonToken(s string) scv1.BlacklistReason {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return scv1.BlacklistReason(n)
	}
	return scv1.BlacklistReason(scv1.BlacklistReason_value[strings.ToUpper(s)])
}

// ndjsonEntry is one NDJSON line.
type ndjsonEntry struct {
	Mobile json.RawMessage `json:"mobile"`
	Reason json.RawMessage `json:"reason"`
}

func ndjsonReader(r io.Reader) func() (*scv1.BlacklistImportEntry, error) {
	br := bufio.NewReaderSize(r, MaxRecord)
	var line int64
	return func() (*scv1.BlacklistImportEntry, error) {
		for {
			raw, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, &TooLargeError{Line: line + 1, Limit: MaxRecord}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			if len(raw) == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			line++
			if !utf8.Valid(raw) {
				return nil, &SyntaxError{Line: line, Problem: "not valid UTF-8 (the file must be UTF-8)"}
			}
			text := bytes.TrimSpace(raw)
			if line == 1 {
				text = bytes.TrimPrefix(text, []byte("\ufeff"))
			}
			if len(text) == 0 {
				if errors.Is(err, io.EOF) {
					return nil, io.EOF
				}
				continue
			}
			e, perr := parseNDJSON(text)
			if perr != "" {
				return nil, &SyntaxError{Line: line, Problem: perr}
			}
			e.Line = line
			return e, nil
		}
	}
}

func parseNDJSON(text []byte) (*scv1.BlacklistImportEntry, string) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var in ndjsonEntry
	if err := dec.Decode(&in); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return nil, "unknown field: want mobile and reason"
		}
		return nil, "not a JSON object {\"mobile\": ..., \"reason\": ...}"
	}
	if dec.More() {
		return nil, "more than one JSON value on the line"
	}
	e := &scv1.BlacklistImportEntry{}
	switch m := bytes.TrimSpace(in.Mobile); {
	case len(m) == 0 || string(m) == "null":
	case m[0] == '"':
		if err := json.Unmarshal(m, &e.Mobile); err != nil {
			return nil, "mobile is not a string"
		}
	case isNumber(m):
		e.Mobile = string(m)
	default:
		return nil, "mobile must be a string or a number"
	}
	rs := bytes.TrimSpace(in.Reason)
	switch {
	case len(rs) == 0 || string(rs) == "null":
	case rs[0] == '"':
		var s string
		if err := json.Unmarshal(rs, &s); err != nil {
			return nil, "reason is not a string"
		}
		e.Reason = reasonList(s)
	case rs[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(rs, &items); err != nil {
			return nil, "reason is not a list"
		}
		for _, it := range items {
			var s string
			if json.Unmarshal(it, &s) == nil {
				e.Reason = append(e.Reason, reasonToken(s))
				continue
			}
			if !isNumber(it) {
				return nil, "reason must list numbers or names"
			}
			e.Reason = append(e.Reason, reasonToken(string(it)))
		}
	case isNumber(rs):
		e.Reason = []scv1.BlacklistReason{reasonToken(string(rs))}
	default:
		return nil, "reason must be a list, a string or a number"
	}
	return e, ""
}

func isNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// unknownColumn says which header cell is not a column name, quoting it
// and the header (masked, cut short: a file without a header has data
// there), and says so when the header looks like data.
func unknownColumn(header []string, i int) string {
	quote := func(cell string) string {
		cell = strings.TrimSpace(redact.Text(cell))
		if r := []rune(cell); len(r) > 24 {
			cell = string(r[:24]) + "..."
		}
		return cell
	}
	cells := make([]string, 0, min(len(header), 8))
	for _, c := range header[:min(len(header), 8)] {
		cells = append(cells, quote(c))
	}
	shown := strings.Join(cells, ",")
	if len(header) > 8 {
		shown += ",..."
	}
	msg := fmt.Sprintf("header: unknown column %d %q in header %q: want mobile and reason", i+1, quote(header[i]), shown)
	if first := strings.TrimSpace(header[0]); first != "" && strings.Trim(first, "0123456789+ ") == "" {
		msg += " (the first line looks like data: start the file with the header row mobile,reason)"
	}
	return msg
}
