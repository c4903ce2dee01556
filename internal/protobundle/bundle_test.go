package protobundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	servicecenterd "github.com/servicecenterd/servicecenterd"
)

// linkedWKT resolves the well-known types from the linked descriptors.
var linkedWKT = protocompile.ResolverFunc(func(p string) (protocompile.SearchResult, error) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath(p)
	if err != nil {
		return protocompile.SearchResult{}, err
	}
	return protocompile.SearchResult{Desc: fd}, nil
})

func TestPrintedRPCFilesCompileBack(t *testing.T) {
	for _, fd := range rpcFiles() {
		t.Run(fd.Path(), func(t *testing.T) {
			src, err := printFile(fd, rpcHeader(fd.Path(), "test"))
			if err != nil {
				t.Fatal(err)
			}
			c := protocompile.Compiler{Resolver: protocompile.CompositeResolver{
				&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{fd.Path(): src})},
				linkedWKT,
			}}
			files, err := c.Compile(context.Background(), fd.Path())
			if err != nil {
				t.Fatalf("compile the printed source: %v\n%s", err, src)
			}
			if err := samePrinted(files[0], fd); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPrintRefuses: what the printer cannot say is an error, not a file
// that says less than its descriptor.
func TestPrintRefuses(t *testing.T) {
	for name, src := range map[string]string{
		"service":   "syntax = \"proto3\";\npackage p;\nmessage M {}\nservice S { rpc X(M) returns (M); }\n",
		"oneof":     "syntax = \"proto3\";\npackage p;\nmessage M { oneof o { string a = 1; int32 b = 2; } }\n",
		"proto2":    "syntax = \"proto2\";\npackage p;\nmessage M { optional string a = 1; }\n",
		"field opt": "syntax = \"proto3\";\npackage p;\nmessage M { string a = 1 [deprecated = true]; }\n",
		"reserved":  "syntax = \"proto3\";\npackage p;\nmessage M { reserved 2; string a = 1; }\n",
	} {
		c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(map[string]string{"p.proto": src})}}
		files, err := c.Compile(context.Background(), "p.proto")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out, err := printFile(files[0], ""); err == nil {
			t.Errorf("%s: printed without error:\n%s", name, out)
		}
	}
}

// untar reads the bundle's tar archive: path under protos/ -> contents.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(hdr.Name, "protos/")
		if !ok {
			t.Fatalf("entry %s outside protos/", hdr.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
}

// TestEmbeddedBundle checks the bundle the server serves: our sources as
// they are in proto/ (a stale bundle fails here without buf), every
// import inside the bundle or a well-known type, and a descriptor set that
// links on its own and holds every file of the tree.
func TestEmbeddedBundle(t *testing.T) {
	files := untar(t, servicecenterd.ProtosTar)
	ours, err := filepath.Glob("../../proto/servicecenter/v1/*.proto")
	if err != nil || len(ours) == 0 {
		t.Fatalf("no sources (%v)", err)
	}
	for _, p := range ours {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := "servicecenter/v1/" + filepath.Base(p)
		if !bytes.Equal(files[name], want) {
			t.Errorf("%s: the bundle's copy differs from proto/ (run make generate)", name)
		}
	}
	for _, want := range []string{"google/api/annotations.proto", "google/api/http.proto", "buf/validate/validate.proto",
		"google/rpc/status.proto", "google/rpc/error_details.proto", "google/rpc/code.proto"} {
		if files[want] == nil {
			t.Errorf("%s: not in the bundle", want)
		}
	}

	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(servicecenterd.DescriptorSet, &set); err != nil {
		t.Fatal(err)
	}
	reg, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatalf("the descriptor set does not link on its own: %v", err)
	}
	for name := range files {
		fd, err := reg.FindFileByPath(name)
		if err != nil {
			t.Errorf("%s: in the tree, not in the descriptor set", name)
			continue
		}
		for i := range fd.Imports().Len() {
			imp := fd.Imports().Get(i).Path()
			if files[imp] == nil && !strings.HasPrefix(imp, wktPrefix) {
				t.Errorf("%s imports %s, which is not in the bundle", name, imp)
			}
		}
	}
	if got, want := reg.NumFiles(), len(set.File); got != want {
		t.Errorf("%d files linked, %d in the set", got, want)
	}
	if _, err := reg.FindDescriptorByName("servicecenter.v1.WorkerService"); err != nil {
		t.Error(err)
	}
}
