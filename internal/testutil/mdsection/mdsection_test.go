package mdsection

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplace(t *testing.T) {
	page := "# Page\n\n" + Begin("t") + "\nold\n" + End("t") + "\n\nafter\n"
	tests := []struct {
		name, page, body, want, err string
	}{
		{"replaces the body", page, "| a |\n", "# Page\n\n" + Begin("t") + "\n| a |\n" + End("t") + "\n\nafter\n", ""},
		{"adds the last newline", page, "x", "# Page\n\n" + Begin("t") + "\nx\n" + End("t") + "\n\nafter\n", ""},
		{"empty body", page, "", "# Page\n\n" + Begin("t") + "\n" + End("t") + "\n\nafter\n", ""},
		{"no markers", "# Page\n", "x", "", "missing"},
		{"end before begin", End("t") + "\n" + Begin("t") + "\n", "x", "", "out of order"},
		{"twice", page + page, "x", "", "repeated"},
		{"another part's markers", page, "x", "", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "t"
			if tt.name == "another part's markers" {
				name = "u"
			}
			got, err := Replace([]byte(tt.page), name, tt.body)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Errorf(format string, args ...any) { r.failed = format }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format; r.TB.FailNow() }
func (r *recorder) Logf(string, ...any)               {}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "page.md")
	page := "text\n" + Begin("t") + "\nold\n" + End("t") + "\n"
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	Check(r, path, map[string]string{"t": "new\n"}, false)
	if r.failed == "" {
		t.Fatal("a stale part passed")
	}
	if got, _ := os.ReadFile(path); string(got) != page {
		t.Fatalf("a check without update wrote %q", got)
	}
	r = &recorder{TB: t}
	Check(r, path, map[string]string{"t": "new\n"}, true)
	want := "text\n" + Begin("t") + "\nnew\n" + End("t") + "\n"
	if got, _ := os.ReadFile(path); r.failed != "" || string(got) != want {
		t.Fatalf("update wrote %q (failed %q), want %q", got, r.failed, want)
	}
	r = &recorder{TB: t}
	Check(r, path, map[string]string{"t": "new\n"}, false)
	if r.failed != "" {
		t.Fatalf("a current part failed: %s", r.failed)
	}
}
