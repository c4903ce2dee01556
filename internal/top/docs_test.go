package top

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docSection returns the body of the "## <n>." section of
// docs/top-protocol.md.
func docSection(t *testing.T, n string) string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/top-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## "+n+". ")
	if start < 0 {
		t.Fatalf("docs/top-protocol.md has no section %s", n)
	}
	body := doc[start+1:]
	if end := strings.Index(body[3:], "\n## "); end >= 0 {
		body = body[:end+3]
	}
	return body
}

// tableColumn returns column i (from 0) of the Markdown table rows of
// text, trimmed, without backticks.
func tableColumn(text string, i int) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !strings.HasPrefix(strings.TrimSpace(line), "|") || len(cells) <= i || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		out = append(out, strings.Trim(strings.TrimSpace(cells[i]), "`"))
	}
	return out
}

// TestDocsNameEveryMethod: docs/top-protocol.md §9 has one row per method
// of the table, and no other; §8 has a row for every business code of
// codes.go, and no code that is not there.
func TestDocsNameEveryMethod(t *testing.T) {
	documented := tableColumn(docSection(t, "9"), 0)
	var names []string
	for _, m := range Methods() {
		names = append(names, m.Name)
		if !slices.Contains(documented, m.Name) {
			t.Errorf("docs/top-protocol.md §9 has no row for %s", m.Name)
		}
	}
	for _, d := range documented {
		if d != "method" && !slices.Contains(names, d) {
			t.Errorf("docs/top-protocol.md §9 documents %q, which is not in Methods()", d)
		}
	}

	codeCell := regexp.MustCompile(`^[0-9]+$`)
	var docCodes []string
	for _, c := range tableColumn(docSection(t, "8"), 2) {
		if codeCell.MatchString(c) {
			docCodes = append(docCodes, c)
		}
	}
	var codes []string
	for _, c := range BusinessCodes() {
		codes = append(codes, c.Code)
		if !slices.Contains(docCodes, c.Code) {
			t.Errorf("docs/top-protocol.md §8 has no row for business code %s (%s)", c.Code, c.Text)
		}
	}
	for _, d := range docCodes {
		if !slices.Contains(codes, d) {
			t.Errorf("docs/top-protocol.md §8 lists code %s, which is not in codes.go", d)
		}
	}
	if len(docCodes) == 0 || len(documented) == 0 {
		t.Fatal("no table rows read: the sections changed shape")
	}
}
