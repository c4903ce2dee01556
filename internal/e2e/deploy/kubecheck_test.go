package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// kubecheck builds deploy/kubecheck (its own module, with k8s.io/api) once
// and returns the binary's path.
var kubecheck = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kubecheck-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kubecheck")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "-C", filepath.Join(repoRoot, "deploy", "kubecheck"), "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build deploy/kubecheck: %v\n%s", err, out)
	}
	return bin, nil
})

// TestManifestsDecodeStrictly decodes the chart's renders (both modes,
// every optional object) and the plain manifests strictly into the
// Kubernetes API's Go types (deploy/kubecheck): a misspelt or misplaced
// field fails here instead of being dropped by the API server.
func TestManifestsDecodeStrictly(t *testing.T) {
	bin, err := kubecheck()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	everything := []string{"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "grafanaDashboard.enabled=true", "--set-json", `settings={"rate_limit":50}`,
		"--set", "tls.secretName=sc-tls", "--set", "tls.clientCA=true", "--set", "tracing.otlpEndpoint=http://c:4317"}
	renders := map[string][]string{
		"replicated, everything on": append([]string{"--set", "replicaCount=3"}, everything...),
		"embedded, everything on":   append([]string{"--set", "mode=embedded"}, everything...),
		"defaults":                  nil,
	}
	for name, args := range renders {
		t.Run(name, func(t *testing.T) {
			out, err := renderRaw(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			runKubecheck(t, bin, bytes.NewReader(out))
		})
	}
	t.Run("deploy/kubernetes", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "kubernetes", "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests (%v)", err)
		}
		var abs []string
		for _, f := range files {
			a, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			abs = append(abs, a)
		}
		runKubecheck(t, bin, nil, abs...)
	})
}

func runKubecheck(t *testing.T, bin string, stdin *bytes.Reader, files ...string) {
	t.Helper()
	cmd := exec.Command(bin, files...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubecheck: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "ok "); n < 3 {
		t.Fatalf("kubecheck checked %d objects:\n%s", n, out)
	}
}
