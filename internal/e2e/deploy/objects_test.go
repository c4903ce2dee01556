package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository, seen from this package's directory (where go
// test runs it).
const repoRoot = "../../.."

// chartDir is the chart, relative to repoRoot.
const chartDir = "deploy/helm/servicecenterd"

// object is one Kubernetes object as YAML decodes it.
type object map[string]any

func (o object) kind() string { return str(o, "kind") }
func (o object) name() string { return str(o, "metadata", "name") }

// get walks maps by key; nil when a step is missing or not a map.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := asMap(v)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case object:
		return m, true
	}
	return nil, false
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// named finds the element of a list of maps whose "name" is name.
func named(l []any, name string) map[string]any {
	for _, e := range l {
		if m, ok := asMap(e); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// decodeObjects decodes a stream of YAML documents, skipping empty ones.
func decodeObjects(r io.Reader) ([]object, error) {
	dec := yaml.NewDecoder(r)
	var out []object
	for {
		// Decoded as a plain map: into an object, yaml.v3 would make
		// every nested map an object too.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if o != nil {
			out = append(out, object(o))
		}
	}
}

// helm is the pinned helm's binary, which `go tool -n` builds (minutes on
// a cold build cache; `make test` builds it first) and names in the build
// cache, so that each render runs it directly, without the go command.
var helm = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "-modfile=helm.tools.mod", "helm")
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n -modfile=helm.tools.mod helm: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
})

// renderChart runs the pinned helm's `template` on the chart with args
// (--set ...) and returns the objects, or helm's error output.
func renderChart(t *testing.T, args ...string) ([]object, error) {
	t.Helper()
	out, err := renderRaw(t, args...)
	if err != nil {
		return nil, err
	}
	return decodeObjects(bytes.NewReader(out))
}

// renderRaw is renderChart's YAML as helm writes it.
func renderRaw(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := helm()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmdArgs := append([]string{"template", "sc", chartDir, "--namespace", "apps"}, args...)
	cmd := exec.CommandContext(ctx, bin, cmdArgs...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// readObjects decodes every YAML file of a directory under repoRoot.
func readObjects(t *testing.T, dir string) map[string][]object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML files in %s (%v)", dir, err)
	}
	out := map[string][]object{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = objs
	}
	return out
}

// byKind indexes objects by kind.
func byKind(objs []object) map[string][]object {
	out := map[string][]object{}
	for _, o := range objs {
		out[o.kind()] = append(out[o.kind()], o)
	}
	return out
}
