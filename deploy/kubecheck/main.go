// Command kubecheck decodes Kubernetes manifests (a stream of YAML
// documents on stdin, as `helm template` writes them, or files named as
// arguments) strictly into the Kubernetes API's own Go types, so that a
// misspelt or misplaced field, a wrong type or an unknown kind fails
// instead of being dropped by the API server. It prints one line per
// object and exits 1 naming each one that does not decode.
//
// It is a module of its own (deploy/kubecheck/go.mod): k8s.io/api stays
// out of the server's module graph. internal/e2e/deploy runs it on the
// chart's renders and the plain manifests.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kinds are the types of the kinds deploy/ uses. Custom resources
// (prometheus-operator's ServiceMonitor and PrometheusRule, kustomize's
// Kustomization) have no type here and are only checked for a name.
var kinds = map[string]func() any{
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"v1/ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

// untyped are the kinds accepted without a type.
var untyped = map[string]bool{
	"monitoring.coreos.com/v1/ServiceMonitor":       true,
	"monitoring.coreos.com/v1/PrometheusRule":       true,
	"kustomize.config.k8s.io/v1beta1/Kustomization": true,
}

func main() {
	var inputs []io.Reader
	names := os.Args[1:]
	if len(names) == 0 {
		inputs, names = []io.Reader{os.Stdin}, []string{"stdin"}
	}
	for _, n := range os.Args[1:] {
		f, err := os.Open(n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubecheck:", err)
			os.Exit(2)
		}
		defer f.Close()
		inputs = append(inputs, f)
	}
	failed := 0
	for i, in := range inputs {
		docs, err := split(in)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubecheck: %s: %v\n", names[i], err)
			os.Exit(2)
		}
		for _, doc := range docs {
			what, err := check(doc)
			if err != nil {
				failed++
				fmt.Printf("FAIL %s %s: %v\n", names[i], what, err)
				continue
			}
			fmt.Printf("ok %s %s\n", names[i], what)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// split cuts a YAML stream into its non-empty documents.
func split(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if strings.TrimSpace(stripComments(cur.String())) != "" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	flush()
	return docs, sc.Err()
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// check decodes one document strictly into its kind's type.
func check(doc []byte) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "?", err
	}
	gvk := head.APIVersion + "/" + head.Kind
	what := gvk + " " + head.Metadata.Name
	if head.Metadata.Name == "" && head.Kind != "Kustomization" {
		return what, errors.New("no metadata.name")
	}
	if untyped[gvk] {
		return what, nil
	}
	newObj, ok := kinds[gvk]
	if !ok {
		return what, fmt.Errorf("unknown kind %s", gvk)
	}
	return what, yaml.UnmarshalStrict(doc, newObj())
}
