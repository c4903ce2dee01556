package contract

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/testutil/mdsection"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

var update = flag.Bool("update", false, "rewrite README's table of calls (make docs)")

// TestREADMECalls: the README's table of calls lists every RPC that
// declares a topmethod, with that method and its REST route, and nothing
// else: grouped by service (services in the order of their first method in
// top.Methods()), RPCs in the order the proto declares them. make docs
// writes it (-update).
func TestREADMECalls(t *testing.T) {
	type row struct {
		service string
		decl    int
		text    string
	}
	var rows []row
	rank := map[string]int{} // service -> index of its first TOP method
	for _, fd := range sourceFiles(t) {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				name, err := topMethod(m)
				if err != nil {
					t.Fatalf("rpc %s: %v", m.FullName(), err)
				}
				if name == "" {
					continue
				}
				rule, err := httpRule(m)
				if err != nil || rule.GetPost() == "" {
					t.Fatalf("rpc %s: want a POST route: %v %v", m.FullName(), rule, err)
				}
				order := slices.IndexFunc(top.Methods(), func(tm top.Method) bool { return tm.Name == name })
				if r, ok := rank[string(svc.Name())]; !ok || order < r {
					rank[string(svc.Name())] = order
				}
				rows = append(rows, row{string(svc.Name()), j, fmt.Sprintf("| `%s.%s` | %s | `POST %s` |\n", svc.Name(), m.Name(), name, rule.GetPost())})
			}
		}
	}
	if len(rows) == 0 {
		t.Fatal("no RPC declares a topmethod")
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.service != b.service {
			return rank[a.service] - rank[b.service]
		}
		return a.decl - b.decl
	})
	var b strings.Builder
	b.WriteString("| RPC | TOP method | REST |\n|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r.text)
	}
	mdsection.Check(t, "../../../README.md", map[string]string{"calls": b.String()}, *update)
}
