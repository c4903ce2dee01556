package contract

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The generated package registers servicecenter.v1 and, through its
	// imports, google/api and buf/validate in protoregistry.GlobalFiles.
	servicecenterv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// protoRoot is the buf module root holding servicecenter/v1/*.proto.
const protoRoot = "../../../proto"

// pkg is the package the contract lives in.
const pkg protoreflect.FullName = "servicecenter.v1"

// wantRoutes is the public REST contract, "VERB path" per RPC: the TOP
// calls are POSTs with the whole request as their body; reads of
// servicecenterd's own blacklist sync jobs and of the audit trail are
// GETs. Only ids (workcard_id, job_id) ever appear in a path: personal
// data travels in bodies, and a GET request (whose fields become query
// parameters) may not have a personal-data field (see personalFields).
var wantRoutes = map[protoreflect.FullName]string{
	"servicecenter.v1.WorkcardService.AssignWorker":            "POST /v1/workcards/{workcard_id}:assignWorker",
	"servicecenter.v1.WorkcardService.BindVirtualPhone":        "POST /v1/workcards/{workcard_id}:bindVirtualPhone",
	"servicecenter.v1.WorkerService.UpdateWorker":              "POST /v1/workers:update",
	"servicecenter.v1.WorkerService.GetWorkerTags":             "POST /v1/workers:getTags",
	"servicecenter.v1.LogisticsService.SyncUserBlacklist":      "POST /v1/blacklist:sync",
	"servicecenter.v1.LogisticsService.ImportUserBlacklist":    "POST /v1/blacklist/jobs:import",
	"servicecenter.v1.LogisticsService.GetBlacklistSyncJob":    "GET /v1/blacklist/jobs/{job_id}",
	"servicecenter.v1.LogisticsService.ListBlacklistSyncJobs":  "GET /v1/blacklist/jobs",
	"servicecenter.v1.LogisticsService.CancelBlacklistSyncJob": "POST /v1/blacklist/jobs/{job_id}:cancel",
	"servicecenter.v1.LogisticsService.RetryFailedChunks":      "POST /v1/blacklist/jobs/{job_id}:retryFailedChunks",
	"servicecenter.v1.LogisticsService.WatchBlacklistSyncJob":  "GET /v1/blacklist/jobs/{job_id}:watch",
	"servicecenter.v1.LogisticsService.ListRejectedEntries":    "GET /v1/blacklist/jobs/{job_id}/rejectedEntries",
	"servicecenter.v1.AuditService.ListAuditEvents":            "GET /v1/auditEvents",
	"servicecenter.v1.EventService.WatchEvents":                "GET /v1/events:watch",
	"servicecenter.v1.EventService.ListEvents":                 "GET /v1/events",
	"servicecenter.v1.EventService.AckEvents":                  "POST /v1/events:ack",
}

// personalFields are names of fields holding personal data; a GET
// request (whose fields become query parameters) must have none, at any
// depth.
var personalFields = []string{"mobile", "phone", "id_number", "identity"}

// compiler compiles .proto sources with their comments. Our files come from
// sources (from root, or from srcs when given); their imports (google/api,
// buf/validate, well-known types) come from the descriptors linked into
// this test binary, so the test needs neither buf nor the fetched
// third_party/ protos.
func compiler(root string, srcs map[string]string) *protocompile.Compiler {
	src := &protocompile.SourceResolver{ImportPaths: []string{root}}
	if srcs != nil {
		src = &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}
	}
	linked := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	return &protocompile.Compiler{
		Resolver:       protocompile.CompositeResolver{src, linked},
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
}

// sourceFiles compiles every proto/servicecenter/v1/*.proto.
func sourceFiles(t *testing.T) linker.Files {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(protoRoot, "servicecenter", "v1", "*.proto"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .proto files under %s (err %v)", protoRoot, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		rel, err := filepath.Rel(protoRoot, p)
		if err != nil {
			t.Fatal(err)
		}
		names[i] = filepath.ToSlash(rel)
	}
	files, err := compiler(protoRoot, nil).Compile(context.Background(), names...)
	if err != nil {
		t.Fatalf("compile %v: %v", names, err)
	}
	return files
}

// generatedFiles lists the files of package servicecenter.v1 linked in
// from gen/go, by path.
func generatedFiles() map[string]protoreflect.FileDescriptor {
	_ = servicecenterv1.File_servicecenter_v1_rules_proto // keep the import explicit
	out := map[string]protoreflect.FileDescriptor{}
	protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
		out[fd.Path()] = fd
		return true
	})
	return out
}

// docProblems lists the elements of a file whose leading doc comment is
// missing or does not say what the element maps to in TOP ("TOP").
func docProblems(fd protoreflect.FileDescriptor) []string {
	var problems []string
	locs := fd.SourceLocations()
	check := func(kind string, d protoreflect.Descriptor) {
		comment := strings.TrimSpace(locs.ByDescriptor(d).LeadingComments)
		switch {
		case comment == "":
			problems = append(problems, fmt.Sprintf("%s %s: no leading doc comment", kind, d.FullName()))
		case !strings.Contains(comment, "TOP"):
			problems = append(problems, fmt.Sprintf("%s %s: doc comment does not name its TOP counterpart", kind, d.FullName()))
		}
	}
	var enums func(protoreflect.EnumDescriptors)
	enums = func(es protoreflect.EnumDescriptors) {
		for i := range es.Len() {
			e := es.Get(i)
			check("enum", e)
			for j := range e.Values().Len() {
				check("enum value", e.Values().Get(j))
			}
		}
	}
	fields := func(kind string, fs protoreflect.ExtensionDescriptors) {
		for i := range fs.Len() {
			check(kind, fs.Get(i))
		}
	}
	var messages func(protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue // synthesised for a map field, which has its own comment
			}
			check("message", m)
			for j := range m.Fields().Len() {
				check("field", m.Fields().Get(j))
			}
			for j := range m.Oneofs().Len() {
				if o := m.Oneofs().Get(j); !o.IsSynthetic() {
					check("oneof", o)
				}
			}
			fields("extension", m.Extensions())
			enums(m.Enums())
			messages(m.Messages())
		}
	}
	for i := range fd.Services().Len() {
		s := fd.Services().Get(i)
		check("service", s)
		for j := range s.Methods().Len() {
			check("rpc", s.Methods().Get(j))
		}
	}
	messages(fd.Messages())
	enums(fd.Enums())
	fields("extension", fd.Extensions())
	return problems
}

// httpRule returns a method's google.api.http option, or nil.
func httpRule(m protoreflect.MethodDescriptor) (*annotations.HttpRule, error) {
	// Round-trip the options so that the extension is typed whether the
	// descriptor came from generated code or from the compiler.
	raw, err := proto.Marshal(m.Options())
	if err != nil {
		return nil, err
	}
	opts := &descriptorpb.MethodOptions{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, opts); err != nil {
		return nil, err
	}
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	if rule.GetPattern() == nil {
		return nil, nil
	}
	return rule, nil
}

// routeProblems lists the RPCs of a file whose route is not one POST with
// body "*" or one GET without a body, differs from want, or is a GET whose
// request has a personal-data field.
func routeProblems(fd protoreflect.FileDescriptor, want map[protoreflect.FullName]string) []string {
	var problems []string
	for i := range fd.Services().Len() {
		methods := fd.Services().Get(i).Methods()
		for j := range methods.Len() {
			m := methods.Get(j)
			rule, err := httpRule(m)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("rpc %s: reading options: %v", m.FullName(), err))
				continue
			case rule == nil:
				problems = append(problems, fmt.Sprintf("rpc %s: no google.api.http annotation", m.FullName()))
				continue
			}
			var got string
			switch {
			case len(rule.GetAdditionalBindings()) > 0:
			case rule.GetPost() != "" && rule.GetBody() == "*":
				got = "POST " + rule.GetPost()
			case rule.GetGet() != "" && rule.GetBody() == "":
				got = "GET " + rule.GetGet()
				if f := personalField(m.Input(), nil); f != "" {
					problems = append(problems, fmt.Sprintf("rpc %s: a GET, but its request has personal data in %s", m.FullName(), f))
				}
			}
			switch {
			case got == "":
				problems = append(problems, fmt.Sprintf("rpc %s: want one POST binding with body \"*\" or one GET, got %v", m.FullName(), rule))
			case want[m.FullName()] != got:
				problems = append(problems, fmt.Sprintf("rpc %s: route %q, want %q", m.FullName(), got, want[m.FullName()]))
			}
		}
	}
	return problems
}

// personalField returns the path of a field of md (or of its messages)
// named like personal data, or "".
func personalField(md protoreflect.MessageDescriptor, seen []protoreflect.FullName) string {
	if slices.Contains(seen, md.FullName()) {
		return ""
	}
	seen = append(seen, md.FullName())
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		for _, p := range personalFields {
			if strings.Contains(string(f.Name()), p) {
				return string(f.Name())
			}
		}
		if f.Message() != nil {
			if sub := personalField(f.Message(), seen); sub != "" {
				return string(f.Name()) + "." + sub
			}
		}
	}
	return ""
}

func TestEveryElementHasTOPDocComment(t *testing.T) {
	for _, fd := range sourceFiles(t) {
		for _, p := range docProblems(fd) {
			t.Errorf("%s: %s", fd.Path(), p)
		}
	}
}

func TestEveryRPCHasItsRESTRoute(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	for _, fd := range generatedFiles() {
		for _, p := range routeProblems(fd, wantRoutes) {
			t.Error(p)
		}
		for i := range fd.Services().Len() {
			for j := range fd.Services().Get(i).Methods().Len() {
				seen[fd.Services().Get(i).Methods().Get(j).FullName()] = true
			}
		}
	}
	for name := range wantRoutes {
		if !seen[name] {
			t.Errorf("rpc %s is missing from the generated code", name)
		}
	}
	if len(seen) != len(wantRoutes) {
		t.Errorf("%d RPCs, want %d: add new RPCs to wantRoutes", len(seen), len(wantRoutes))
	}
}

// TestGeneratedCodeMatchesSources fails when proto/ changed without
// `make generate`: the descriptors compiled from the sources must equal
// the ones embedded in gen/go (which carry no comments).
func TestGeneratedCodeMatchesSources(t *testing.T) {
	gen := generatedFiles()
	var srcPaths []string
	for _, fd := range sourceFiles(t) {
		srcPaths = append(srcPaths, fd.Path())
		g, ok := gen[fd.Path()]
		if !ok {
			t.Errorf("%s: not in gen/go; run make generate", fd.Path())
			continue
		}
		got, want := normalized(t, fd), normalized(t, g)
		if !proto.Equal(got, want) {
			t.Errorf("%s: gen/go is stale; run make generate", fd.Path())
		}
	}
	for path := range gen {
		if !slices.Contains(srcPaths, path) {
			t.Errorf("%s: in gen/go but not in proto/; run make generate", path)
		}
	}
}

// normalized returns a file's descriptor without source info, with its
// options parsed against the linked extension types.
func normalized(t *testing.T, fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	t.Helper()
	p := protodesc.ToFileDescriptorProto(fd)
	p.SourceCodeInfo = nil
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	out := &descriptorpb.FileDescriptorProto{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckersCatchProblems shows the two checks above can fail: a file
// with an undocumented field, a comment without TOP, an RPC without a
// route, a GET route where a POST is wanted, a GET with personal data, a
// PUT and a GET with a body.
func TestCheckersCatchProblems(t *testing.T) {
	const src = `syntax = "proto3";
package bad.v1;
import "google/api/annotations.proto";

// Svc is documented. TOP: none.
service Svc {
  // NoRoute has no google.api.http option. TOP: none.
  rpc NoRoute(Req) returns (Res);
  // Get is a GET where a POST is wanted. TOP: none.
  rpc Get(Req) returns (Res) {
    option (google.api.http) = {get: "/v1/things/{id}"};
  }
  // Find is a GET with personal data. TOP: none.
  rpc Find(Res) returns (Res) {
    option (google.api.http) = {get: "/v1/things"};
  }
  // Put is neither a POST nor a GET. TOP: none.
  rpc Put(Req) returns (Res) {
    option (google.api.http) = {
      put: "/v1/things/{id}"
      body: "*"
    };
  }
  // GetBody is a GET with a body. TOP: none.
  rpc GetBody(Req) returns (Res) {
    option (google.api.http) = {get: "/v1/things", body: "*"};
  }
}

// Req is documented but without naming its counterpart.
message Req {
  int64 id = 1;
}

// Res is documented. TOP: none.
message Res {
  // Who is documented. TOP: none.
  Who who = 1;
}

// Who is documented. TOP: none.
message Who {
  // Mobile is documented. TOP: none.
  string mobile = 1;
}

// E2 is documented. TOP: none.
message E2 {
  // E is documented. TOP: none.
  enum E {
    // Zero is documented. TOP: none.
    E_UNSPECIFIED = 0;
    E_ONE = 1;
  }
}
`
	files, err := compiler("", map[string]string{"bad/v1/bad.proto": src}).Compile(context.Background(), "bad/v1/bad.proto")
	if err != nil {
		t.Fatal(err)
	}
	gotDocs := docProblems(files[0])
	wantDocs := []string{
		"message bad.v1.Req: doc comment does not name its TOP counterpart",
		"field bad.v1.Req.id: no leading doc comment",
		"enum value bad.v1.E2.E_ONE: no leading doc comment",
	}
	if !slices.Equal(gotDocs, wantDocs) {
		t.Errorf("docProblems:\n got %q\nwant %q", gotDocs, wantDocs)
	}
	gotRoutes := routeProblems(files[0], map[protoreflect.FullName]string{
		"bad.v1.Svc.Get": "POST /v1/things/{id}", "bad.v1.Svc.Find": "GET /v1/things",
	})
	wantRoutes := []string{
		"bad.v1.Svc.NoRoute: no google.api.http annotation",
		`bad.v1.Svc.Get: route "GET /v1/things/{id}", want "POST /v1/things/{id}"`,
		"bad.v1.Svc.Find: a GET, but its request has personal data in who.mobile",
		"bad.v1.Svc.Put: want one POST binding",
		"bad.v1.Svc.GetBody: want one POST binding",
	}
	if len(gotRoutes) != len(wantRoutes) {
		t.Fatalf("routeProblems = %q", gotRoutes)
	}
	for i, w := range wantRoutes {
		if !strings.Contains(gotRoutes[i], w) {
			t.Errorf("routeProblems[%d] = %q, want %q", i, gotRoutes[i], w)
		}
	}
}

// TestLanguageOptions: every file says where its code goes in the other
// languages other teams generate (buf lint's PACKAGE_SAME_* rules keep
// the values equal across the package, not present).
func TestLanguageOptions(t *testing.T) {
	for _, fd := range sourceFiles(t) {
		o, _ := fd.Options().(*descriptorpb.FileOptions)
		for name, ok := range map[string]bool{
			"java_package":         o.GetJavaPackage() != "",
			"java_multiple_files":  o.GetJavaMultipleFiles(),
			"java_outer_classname": o.GetJavaOuterClassname() != "",
			"csharp_namespace":     o.GetCsharpNamespace() != "",
			"php_namespace":        o.GetPhpNamespace() != "",
			"ruby_package":         o.GetRubyPackage() != "",
			"objc_class_prefix":    o.GetObjcClassPrefix() != "",
			"go_package":           o.GetGoPackage() != "",
		} {
			if !ok {
				t.Errorf("%s: option %s is not set", fd.Path(), name)
			}
		}
	}
}

// TestExtensionNamesAreOneWord: protobuf.js (behind @grpc/proto-loader and
// grpc-js-reflection-client) loads an extension whose name has an "_"
// twice through reflection, under its camelCase and its snake_case name
// ("duplicate id 1108001 in Type .buf.validate.StringRules"), so the
// service cannot be loaded from reflection in Node. A name camelCase
// leaves alone loads; internal/e2e/clients' TestReflection loads it all.
func TestExtensionNamesAreOneWord(t *testing.T) {
	for _, fd := range sourceFiles(t) {
		var walk func(exts protoreflect.ExtensionDescriptors, msgs protoreflect.MessageDescriptors)
		walk = func(exts protoreflect.ExtensionDescriptors, msgs protoreflect.MessageDescriptors) {
			for i := range exts.Len() {
				if name := exts.Get(i).Name(); strings.Contains(string(name), "_") {
					t.Errorf("%s: extension %s: a name with \"_\" breaks protobuf.js clients; use one word", fd.Path(), exts.Get(i).FullName())
				}
			}
			for i := range msgs.Len() {
				walk(msgs.Get(i).Extensions(), msgs.Get(i).Messages())
			}
		}
		walk(fd.Extensions(), fd.Messages())
	}
}

// topMethod returns a method's servicecenter.v1.topmethod option, or "".
func topMethod(m protoreflect.MethodDescriptor) (string, error) {
	raw, err := proto.Marshal(m.Options())
	if err != nil {
		return "", err
	}
	opts := &descriptorpb.MethodOptions{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, opts); err != nil {
		return "", err
	}
	name, _ := proto.GetExtension(opts, servicecenterv1.E_Topmethod).(string)
	return name, nil
}

// docTOPMethod is the TOP method an RPC's doc comment names on its last
// "TOP:" line ("TOP: tmall.servicecenter.worker.update (修改工人信息)."),
// or "" when it names none ("TOP: none; ...").
func docTOPMethod(comment string) string {
	i := strings.LastIndex(comment, "TOP:")
	if i < 0 {
		return ""
	}
	fields := strings.Fields(comment[i+len("TOP:"):])
	if len(fields) == 0 {
		return ""
	}
	name := strings.TrimRight(fields[0], ".,;")
	if !strings.HasPrefix(name, "tmall.") && !strings.HasPrefix(name, "taobao.") {
		return ""
	}
	return name
}

// topMethodProblems lists the RPCs of a file whose topmethod option is
// not a method in known, or differs from the method their doc comment
// names; it also returns the methods named.
func topMethodProblems(fd protoreflect.FileDescriptor, known func(string) bool) (problems, named []string) {
	locs := fd.SourceLocations()
	for i := range fd.Services().Len() {
		methods := fd.Services().Get(i).Methods()
		for j := range methods.Len() {
			m := methods.Get(j)
			opt, err := topMethod(m)
			if err != nil {
				problems = append(problems, fmt.Sprintf("rpc %s: reading options: %v", m.FullName(), err))
				continue
			}
			doc := docTOPMethod(locs.ByDescriptor(m).LeadingComments)
			switch {
			case opt != doc:
				problems = append(problems, fmt.Sprintf("rpc %s: option topmethod %q, but its doc comment names %q", m.FullName(), opt, doc))
			case opt != "" && !known(opt):
				problems = append(problems, fmt.Sprintf("rpc %s: topmethod %q is not a method servicecenterd knows (internal/top)", m.FullName(), opt))
			}
			if opt != "" {
				named = append(named, opt)
			}
		}
	}
	return problems, named
}

// TestEveryTOPMethodHasItsRPC walks the RPCs: an RPC whose doc comment
// names a TOP method declares it as topmethod, and that method is in
// top.Methods(); and every method of top.Methods() is called by an RPC.
func TestEveryTOPMethodHasItsRPC(t *testing.T) {
	known := func(name string) bool { _, ok := top.Lookup(name); return ok }
	var named []string
	for _, fd := range sourceFiles(t) {
		problems, n := topMethodProblems(fd, known)
		for _, p := range problems {
			t.Errorf("%s: %s", fd.Path(), p)
		}
		named = append(named, n...)
	}
	for _, m := range top.Methods() {
		if !slices.Contains(named, m.Name) {
			t.Errorf("TOP method %s: no RPC declares it as its topmethod", m.Name)
		}
	}
}

// TestTOPMethodCheckerCatchesProblems shows topMethodProblems can fail:
// an option without the doc naming it, a doc naming a method without the
// option, two that differ, and a method top does not know.
func TestTOPMethodCheckerCatchesProblems(t *testing.T) {
	const src = `syntax = "proto3";
package bad.v1;
import "servicecenter/v1/options.proto";

// Svc is documented. TOP: none.
service Svc {
  // OptionOnly declares a method its doc does not name. TOP: none.
  rpc OptionOnly(M) returns (M) {
    option (servicecenter.v1.topmethod) = "tmall.servicecenter.worker.update";
  }
  // DocOnly names a method without the option.
  // TOP: tmall.servicecenter.worker.update (修改工人信息).
  rpc DocOnly(M) returns (M);
  // Differ names another method.
  // TOP: tmall.servicecenter.worker.update.
  rpc Differ(M) returns (M) {
    option (servicecenter.v1.topmethod) = "tmall.servicecenter.worker.taglist.get";
  }
  // Unknown names a method top does not know.
  // TOP: tmall.servicecenter.workcard.nosuch.
  rpc Unknown(M) returns (M) {
    option (servicecenter.v1.topmethod) = "tmall.servicecenter.workcard.nosuch";
  }
  // Good is right. TOP: tmall.servicecenter.worker.update.
  rpc Good(M) returns (M) {
    option (servicecenter.v1.topmethod) = "tmall.servicecenter.worker.update";
  }
}

// M is documented. TOP: none.
message M {}
`
	files, err := compiler("", map[string]string{"bad/v1/bad.proto": src}).Compile(context.Background(), "bad/v1/bad.proto")
	if err != nil {
		t.Fatal(err)
	}
	got, named := topMethodProblems(files[0], func(name string) bool { _, ok := top.Lookup(name); return ok })
	want := []string{
		`bad.v1.Svc.OptionOnly: option topmethod "tmall.servicecenter.worker.update", but its doc comment names ""`,
		`bad.v1.Svc.DocOnly: option topmethod "", but its doc comment names "tmall.servicecenter.worker.update"`,
		`bad.v1.Svc.Differ: option topmethod "tmall.servicecenter.worker.taglist.get", but its doc comment names "tmall.servicecenter.worker.update"`,
		`bad.v1.Svc.Unknown: topmethod "tmall.servicecenter.workcard.nosuch" is not a method servicecenterd knows`,
	}
	if len(got) != len(want) || len(named) != 4 {
		t.Fatalf("topMethodProblems = %q, named %q", got, named)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("problem %d = %q, want %q", i, got[i], w)
		}
	}
}
