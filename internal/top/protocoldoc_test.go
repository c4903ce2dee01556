package top_test

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/testutil/mdsection"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/top-protocol.md (make docs)")

// TestProtocolDocTables: docs/top-protocol.md's table of business codes
// (§8) and of methods (§9) are what the code says: the business-code
// table, the method table, service's gRPC codes and the RPCs' topmethod
// options. make docs writes them (-update).
func TestProtocolDocTables(t *testing.T) {
	mdsection.Check(t, "../../docs/top-protocol.md", map[string]string{
		"top-codes":   codesTable(),
		"top-methods": methodsTable(t),
	}, *update)
}

// codesTable is §8: one table per answer field, each naming the methods
// that answer in it.
func codesTable() string {
	var fields []top.CodeField
	for _, c := range top.BusinessCodes() {
		if !slices.Contains(fields, c.Field) {
			fields = append(fields, c.Field)
		}
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString("\n")
		}
		var names []string
		for _, m := range top.Methods() {
			if m.CodeField == f {
				names = append(names, "`"+m.Name+"`")
			}
		}
		fmt.Fprintf(&b, "`%s`, in the answers of %s:\n\n", f, joinAnd(names))
		b.WriteString("| code | text | source | gRPC code |\n|---|---|---|---|\n")
		for _, c := range top.BusinessCodes() {
			if c.Field != f {
				continue
			}
			text := c.Text
			if c.Meaning != "" {
				text += " (" + c.Meaning + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Code, text, c.Origin, code.Code(service.CodeOf(c.Kind)))
		}
	}
	return b.String()
}

// methodsTable is §9: one row per method of the table.
func methodsTable(t *testing.T) string {
	rpcs := rpcsByTOPMethod(t)
	var b strings.Builder
	b.WriteString("| method | RPC | session | repeatable | business code in |\n|---|---|---|---|---|\n")
	for _, m := range top.Methods() {
		session := "no"
		if m.Session {
			session = "yes"
		}
		repeat := map[top.Idempotency]string{
			top.Write: "no: a write TOP cannot recognise as a repeat",
			top.Read:  "yes: a read",
			top.Keyed: "yes: TOP applies a key in the request once",
		}[m.Idempotency]
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", m.Name, strings.Join(rpcs[m.Name], ", "), session, repeat, m.CodeField)
	}
	return b.String()
}

// rpcsByTOPMethod maps each TOP method to the RPCs whose topmethod option
// names it, as `Service.Method`.
func rpcsByTOPMethod(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	protoregistry.GlobalFiles.RangeFilesByPackage(scv1.File_servicecenter_v1_options_proto.Package(), func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				if name, _ := proto.GetExtension(m.Options(), scv1.E_Topmethod).(string); name != "" {
					out[name] = append(out[name], fmt.Sprintf("`%s.%s`", svc.Name(), m.Name()))
				}
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("no RPC declares topmethod: the service protos are not linked")
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

// joinAnd joins "a", "b" and "c" as a sentence does.
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
