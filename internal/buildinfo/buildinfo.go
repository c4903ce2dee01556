// Package buildinfo says which build of servicecenterd is running.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at link time by the Makefile
// (-ldflags "-X github.com/servicecenterd/servicecenterd/internal/buildinfo.version=...");
// it is never written at run time.
var version string

// Info describes the build.
type Info struct {
	// Version is the release or git description, "dev" when unknown.
	Version string
	// Revision is the VCS commit, when the build recorded it.
	Revision string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Read returns the build's description.
func Read() Info {
	info := Info{Version: version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Revision = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// String formats the build as "servicecenterd <version> (<revision>, <go>)".
func (i Info) String() string {
	parts := []string{i.GoVersion}
	if i.Revision != "" {
		parts = append([]string{i.Revision}, parts...)
	}
	return "servicecenterd " + i.Version + " (" + strings.Join(parts, ", ") + ")"
}
