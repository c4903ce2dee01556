// Command contractgen writes the contract files servicecenterd serves
// besides what buf generates; `make generate` runs it after buf:
//
//	contractgen -proto proto -third-party third_party/proto -out gen
//
// writes OUT/bundle/protos.tar (the .proto tree under protos/) and
// OUT/bundle/descriptor.binpb (the FileDescriptorSet, imports included),
// see internal/protobundle, and OUT/openapi/servicecenter.openapi.v3.json,
// the OpenAPI 3 form of OUT/openapi/servicecenter.swagger.json (see
// internal/openapiv3).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/servicecenterd/servicecenterd/internal/openapiv3"
	"github.com/servicecenterd/servicecenterd/internal/protobundle"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "contractgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("contractgen", flag.ContinueOnError)
	ours := fs.String("proto", "proto", "folder of our .proto files")
	third := fs.String("third-party", "third_party/proto", "folder of the imported .proto files (make third-party-protos)")
	out := fs.String("out", "gen", "the generated folder: bundle/ and openapi/ are written in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := protobundle.Build(context.Background(), *ours, *third, moduleVersion("google.golang.org/genproto/googleapis/rpc"))
	if err != nil {
		return err
	}
	var tarball bytes.Buffer
	if err := b.WriteTar(&tarball, "protos"); err != nil {
		return err
	}
	set, err := b.DescriptorSet()
	if err != nil {
		return err
	}
	v2, err := os.ReadFile(filepath.Join(*out, "openapi", "servicecenter.swagger.json"))
	if err != nil {
		return err
	}
	v3, err := openapiv3.FromV2(context.Background(), v2)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*out, "bundle"), 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"bundle/protos.tar":                     tarball.Bytes(),
		"bundle/descriptor.binpb":               set,
		"openapi/servicecenter.openapi.v3.json": v3,
	} {
		if err := os.WriteFile(filepath.Join(*out, filepath.FromSlash(name)), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("contractgen: %d .proto files, %d descriptors, OpenAPI 3 in %s\n", len(b.Files), len(b.Set.File), *out)
	return nil
}

// moduleVersion is the version of a module this binary was built with.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "(unknown version)"
}
