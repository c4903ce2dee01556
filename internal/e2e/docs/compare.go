package docs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// volatile are the run-dependent values, replaced by a placeholder on both
// sides before comparing.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`scd-[0-9a-f]{32}`), "<scd-request-id>"},
	{regexp.MustCompile(`\bbj-[a-z0-9]{24}\b`), "<job-id>"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<request-id>"},
	{regexp.MustCompile(`\b[a-z]{4}[0-9a-f]{8}\b`), "<top-request-id>"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z\b`), "<time>"},
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b`), "<top-time>"},
	{regexp.MustCompile(`\bin \d+(\.\d+)?(ms|s|µs)\b`), "in <duration>"},
}

// volatileKeys are members whose values depend on the run whatever they
// look like (server times, page tokens, durations, counters of earlier
// calls).
var volatileKeys = map[string]bool{
	"gmtModified": true, "gmt_modified": true, "create_time": true, "update_time": true, "createTime": true, "updateTime": true,
	"time": true, "next_page_token": true, "nextPageToken": true, "duration_ms": true, "token": true, "token_sha256": true,
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// decodeAll reads a stream of JSON values.
func decodeAll(s string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

// matchJSON reports how got differs from want ("" when it matches): want's
// members must be in got with matching values (got may have more), arrays
// have the same length unless want ends in "...".
func matchJSON(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", path, brief(got))
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if k == "..." {
				continue
			}
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing", path, k)
			}
			if volatileKeys[k] {
				continue
			}
			if d := matchJSON(w[k], gv, path+"."+k); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want an array, got %s", path, brief(got))
		}
		open := len(w) > 0 && w[len(w)-1] == "..."
		if open {
			w = w[:len(w)-1]
		}
		if len(g) < len(w) || !open && len(g) != len(w) {
			return fmt.Sprintf("%s: %d elements, want %d", path, len(g), len(w))
		}
		for i := range w {
			if d := matchJSON(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case string:
		if g, ok := got.(string); !ok || normalize(g) != normalize(w) {
			return fmt.Sprintf("%s: %s, want %q", path, brief(got), w)
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Sprintf("%s: %s, want %v", path, brief(got), want)
		}
		return ""
	}
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		b = append(b[:200], "..."...)
	}
	return string(b)
}

// matchOutput compares an example's output with its documented output.
func matchOutput(lang, want, got string) string {
	if strings.HasPrefix(strings.TrimSpace(want), "ERROR:") {
		return matchGRPCError(want, got)
	}
	if head, body, ok := strings.Cut(want, "\n\n"); ok && strings.HasPrefix(want, "HTTP/") {
		// curl -i: the status line and headers as lines, the body as JSON.
		gotHead, gotBody, _ := strings.Cut(strings.ReplaceAll(got, "\r\n", "\n"), "\n\n")
		if d := matchLines(head, gotHead); d != "" {
			return d
		}
		return matchOutput("json", body, gotBody)
	}
	if lang == "json" {
		wv, err := decodeAll(want)
		if err != nil {
			return fmt.Sprintf("the documented JSON does not parse: %v", err)
		}
		gv, err := decodeAll(got)
		if err != nil {
			return fmt.Sprintf("the output is not JSON: %v", err)
		}
		if len(gv) != len(wv) {
			return fmt.Sprintf("%d JSON values, want %d", len(gv), len(wv))
		}
		for i := range wv {
			if d := matchJSON(wv[i], gv[i], "$"); d != "" {
				return d
			}
		}
		return ""
	}
	return matchLines(want, got)
}

// matchLines: every expected line (but "..." ones), normalized and
// trimmed, appears in got in order; a line of JSON matches as JSON.
func matchLines(want, got string) string {
	gl := strings.Split(normalize(got), "\n")
	j := 0
	for _, w := range strings.Split(normalize(want), "\n") {
		w = strings.TrimSpace(w)
		if w == "" || w == "..." {
			continue
		}
		var wj any
		isJSON := strings.HasPrefix(w, "{") && json.Unmarshal([]byte(w), &wj) == nil
		found := false
		for ; j < len(gl); j++ {
			g := strings.TrimSpace(gl[j])
			var gj any
			if g == w || isJSON && json.Unmarshal([]byte(g), &gj) == nil && matchJSON(wj, gj, "$") == "" {
				found, j = true, j+1
				break
			}
		}
		if !found {
			return fmt.Sprintf("line %q not found (in order)", w)
		}
	}
	return ""
}

var (
	codeLineRe   = regexp.MustCompile(`(?m)^\s*Code: (\S+)\s*$`)
	msgLineRe    = regexp.MustCompile(`(?m)^\s*Message: (.*?)\s*$`)
	detailLineRe = regexp.MustCompile(`^\s*(\d+\)\t|\t)`)
)

// matchGRPCError compares grpcurl's error output: code, message and the
// details as JSON.
func matchGRPCError(want, got string) string {
	parse := func(s string) (code, msg string, details []any, err error) {
		if m := codeLineRe.FindStringSubmatch(s); m != nil {
			code = m[1]
		}
		if m := msgLineRe.FindStringSubmatch(s); m != nil {
			msg = m[1]
		}
		_, rest, ok := strings.Cut(s, "Details:")
		if ok {
			var b bytes.Buffer
			for _, line := range strings.Split(rest, "\n") {
				b.WriteString(detailLineRe.ReplaceAllString(line, ""))
				b.WriteByte('\n')
			}
			details, err = decodeAll(b.String())
		}
		return code, msg, details, err
	}
	wc, wm, wd, err := parse(want)
	if err != nil {
		return fmt.Sprintf("the documented details do not parse: %v", err)
	}
	gc, gm, gd, err := parse(got)
	if err != nil {
		return fmt.Sprintf("the details do not parse: %v", err)
	}
	switch {
	case gc != wc:
		return fmt.Sprintf("code %q, want %q", gc, wc)
	case normalize(gm) != normalize(wm):
		return fmt.Sprintf("message %q, want %q", gm, wm)
	case len(gd) != len(wd):
		return fmt.Sprintf("%d details, want %d", len(gd), len(wd))
	}
	for i := range wd {
		if d := matchJSON(wd[i], gd[i], fmt.Sprintf("details[%d]", i)); d != "" {
			return d
		}
	}
	return ""
}
