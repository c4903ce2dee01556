// Package protobundle builds the proto bundle that servicecenterd gives
// to clients in any language: a self-contained tree of .proto files (ours,
// and every file they import besides google/protobuf's well-known types,
// which every protoc ships, plus google/rpc's status, error_details and
// code for reading error details) and a FileDescriptorSet of all of them
// (well-known types included), as `protoc --include_imports` writes.
//
// The third-party sources come from the folder `make third-party-protos`
// fills from Go modules. google/rpc has no Go module with current .proto
// sources, so its files are printed from the descriptors of
// google.golang.org/genproto/googleapis/rpc that the server links: they are
// exactly the messages the server sends, and Build checks that each
// printed file compiles back to the linked descriptor. No library prints
// .proto from a descriptor without a large dependency, and three small
// files need only what print.go does.
package protobundle

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Bundle is the proto bundle: sources by path, and the descriptor set.
type Bundle struct {
	// Files are the .proto sources by import path (no google/protobuf/).
	Files map[string][]byte
	// Set holds every file of the bundle and the well-known types they
	// import, dependencies first, ours with their comments.
	Set *descriptorpb.FileDescriptorSet
}

// rpcFiles are the google/rpc files the bundle prints from the linked
// descriptors.
func rpcFiles() []protoreflect.FileDescriptor {
	return []protoreflect.FileDescriptor{
		status.File_google_rpc_status_proto,
		errdetails.File_google_rpc_error_details_proto,
		code.File_google_rpc_code_proto,
	}
}

// wktPrefix starts the well-known types' paths, which come from the linked
// descriptors and are left out of the tree.
const wktPrefix = "google/protobuf/"

// Build compiles every .proto under ours (our contracts) with the imports
// found under thirdParty and the google/rpc files, and returns the bundle.
// rpcVersion names the genproto module version in the printed files'
// header.
func Build(ctx context.Context, ours, thirdParty, rpcVersion string) (*Bundle, error) {
	printed := map[string]string{}
	for _, fd := range rpcFiles() {
		src, err := printFile(fd, rpcHeader(fd.Path(), rpcVersion))
		if err != nil {
			return nil, err
		}
		printed[fd.Path()] = src
	}
	var names []string
	err := filepath.WalkDir(ours, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".proto" {
			return err
		}
		rel, err := filepath.Rel(ours, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", ours, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .proto files under %s", ours)
	}
	slices.Sort(names)
	for p := range printed {
		names = append(names, p)
	}
	slices.Sort(names[len(names)-len(printed):])

	linked := protocompile.ResolverFunc(func(p string) (protocompile.SearchResult, error) {
		if !strings.HasPrefix(p, wktPrefix) {
			return protocompile.SearchResult{}, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
		fd, err := protoregistry.GlobalFiles.FindFileByPath(p)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	compiler := protocompile.Compiler{
		Resolver: protocompile.CompositeResolver{
			&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(printed)},
			&protocompile.SourceResolver{ImportPaths: []string{ours, thirdParty}},
			linked,
		},
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := compiler.Compile(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("compile the bundle: %w", err)
	}
	for _, fd := range rpcFiles() {
		if err := samePrinted(files.FindFileByPath(fd.Path()), fd); err != nil {
			return nil, err
		}
	}

	b := &Bundle{Files: map[string][]byte{}, Set: &descriptorpb.FileDescriptorSet{}}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor) error
	add = func(fd protoreflect.FileDescriptor) error {
		if seen[fd.Path()] {
			return nil
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			if err := add(fd.Imports().Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		b.Set.File = append(b.Set.File, fileProto(fd))
		if strings.HasPrefix(fd.Path(), wktPrefix) {
			return nil
		}
		src, ok := printed[fd.Path()]
		if ok {
			b.Files[fd.Path()] = []byte(src)
			return nil
		}
		for _, root := range []string{ours, thirdParty} {
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(fd.Path())))
			if err == nil {
				b.Files[fd.Path()] = data
				return nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return fmt.Errorf("%s: source not found under %s or %s", fd.Path(), ours, thirdParty)
	}
	for _, f := range files {
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// fileProto is fd as a FileDescriptorProto, with source info when it was
// compiled from source.
func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if r, ok := fd.(linker.Result); ok {
		return proto.Clone(r.FileDescriptorProto()).(*descriptorpb.FileDescriptorProto)
	}
	return protodesc.ToFileDescriptorProto(fd)
}

// samePrinted checks that a printed file compiled to the descriptor it
// was printed from (json names and source info aside).
func samePrinted(got, want protoreflect.FileDescriptor) error {
	if got == nil {
		return fmt.Errorf("%s: not compiled", want.Path())
	}
	g, w := fileProto(got), protodesc.ToFileDescriptorProto(want)
	for _, p := range []*descriptorpb.FileDescriptorProto{g, w} {
		p.SourceCodeInfo = nil
		clearJSONNames(p.MessageType)
	}
	if !proto.Equal(g, w) {
		return fmt.Errorf("%s: the printed source does not compile to the linked descriptor", want.Path())
	}
	return nil
}

func clearJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}

func rpcHeader(p, version string) string {
	return "// " + p + ": printed by servicecenterd (internal/protobundle) from the\n" +
		"// descriptor in google.golang.org/genproto/googleapis/rpc " + version + ",\n" +
		"// the version servicecenterd sends; the original, with its comments, is\n" +
		"// googleapis' (Copyright Google LLC, Apache License 2.0).\n"
}

// Paths lists the bundle's source paths in order.
func (b *Bundle) Paths() []string {
	paths := make([]string, 0, len(b.Files))
	for p := range b.Files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// tarTime is every entry's modification time, so that the archive is the
// same bytes on every run.
var tarTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteTar writes the sources as a tar archive under the folder prefix
// ("protos"), in path order with fixed metadata.
func (b *Bundle) WriteTar(w io.Writer, prefix string) error {
	tw := tar.NewWriter(w)
	for _, p := range b.Paths() {
		data := b.Files[p]
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: path.Join(prefix, p), Size: int64(len(data)),
			Mode: 0o644, ModTime: tarTime, Format: tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
	}
	return tw.Close()
}

// DescriptorSet is the marshalled descriptor set (deterministic).
func (b *Bundle) DescriptorSet() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(b.Set)
}
