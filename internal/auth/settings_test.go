package auth

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// known is what the test allow lists may name.
var known = map[string][]string{
	"servicecenter.v1.WorkerService":   {"GetWorkerTags", "UpdateWorker"},
	"servicecenter.v1.WorkcardService": {"AssignWorker"},
	HTTPService:                        {"metrics", "healthz", "readyz", "topz", "openapi"},
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettingsValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", policyYAML())
	typo := writeFile(t, dir, "typo.yaml", strings.Replace(policyYAML(), "GetWorkerTags", "GetWorkerTag", 1))
	broken := writeFile(t, dir, "broken.yaml", "clients: [")
	tests := []struct {
		name string
		s    Settings
		want []string // substrings of the error, in order; nil: valid
	}{
		{"defaults", Settings{OpenEndpoints: []string{"health", "reflection", "metrics"}}, nil},
		{"nothing open", Settings{}, nil},
		{"a clients file", Settings{ClientsFile: good}, nil},
		{"unknown open endpoint", Settings{OpenEndpoints: []string{"health", "admin"}}, []string{`--open-endpoints: "admin": want health, reflection or metrics`}},
		{"missing file", Settings{ClientsFile: filepath.Join(dir, "none.yaml")}, []string{"--clients-file: "}},
		{"broken file", Settings{ClientsFile: broken}, []string{"--clients-file: "}},
		{"unknown method", Settings{ClientsFile: typo}, []string{"--clients-file " + typo + ": allow lists name what does not exist:\n", "has no method GetWorkerTag"}},
		{"both, in order", Settings{ClientsFile: typo, OpenEndpoints: []string{"x"}}, []string{"--open-endpoints", "--clients-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate(known)
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			rest := ""
			if err != nil {
				rest = err.Error()
			}
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", err, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestOpenPatterns(t *testing.T) {
	tests := []struct {
		open            []string
		opened, notOpen []string
	}{
		{nil, nil, []string{"/grpc.health.v1.Health/Check", "/http/metrics"}},
		{[]string{"health"}, []string{"/grpc.health.v1.Health/Check", "/http/healthz", "/http/readyz", "/http/topz"}, []string{"/http/metrics", "/http/openapi"}},
		{[]string{"reflection"}, []string{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "/http/openapi"}, []string{"/http/healthz"}},
		{[]string{"metrics"}, []string{"/http/metrics"}, []string{"/servicecenter.v1.WorkerService/GetWorkerTags"}},
	}
	for _, tt := range tests {
		patterns, err := Settings{OpenEndpoints: tt.open}.OpenPatterns()
		if err != nil {
			t.Fatal(err)
		}
		a := New(Options{Open: patterns})
		for _, m := range tt.opened {
			if !a.Open(m) {
				t.Errorf("%v: %s not open", tt.open, m)
			}
		}
		for _, m := range tt.notOpen {
			if a.Open(m) {
				t.Errorf("%v: %s open", tt.open, m)
			}
		}
	}
}

func TestRequireClientCert(t *testing.T) {
	certOnly, err := ParsePolicy([]byte("clients:\n  - name: d\n    cert_sans: [d]\n    allow: ['*']\n"))
	if err != nil {
		t.Fatal(err)
	}
	health, _ := Settings{OpenEndpoints: []string{"health"}}.OpenPatterns()
	tests := []struct {
		name string
		o    Options
		want bool
	}{
		{"no policy, nothing open", Options{VerifiedCerts: true}, true},
		{"certificate clients only", Options{Policy: certOnly, VerifiedCerts: true}, true},
		{"token clients", Options{Policy: mustPolicy(t), VerifiedCerts: true}, false},
		{"open endpoints", Options{Policy: certOnly, VerifiedCerts: true, Open: health}, false},
	}
	for _, tt := range tests {
		if got := New(tt.o).RequireClientCert(); got != tt.want {
			t.Errorf("%s: RequireClientCert = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientsFileWatch: a change to the clients file made after the load
// (even before Watch starts) becomes the policy; an invalid one is logged
// and the previous policy stays.
func TestClientsFileWatch(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "clients.yaml", policyYAML())
	f, p, err := LoadClientsFile(path, known)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Policy: p})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	// Changed before Watch starts: seen all the same.
	one := "clients:\n  - name: only\n    token_sha256: [" + HashToken("t1") + "]\n    allow: ['*']\n"
	writeFile(t, dir, "clients.yaml", one)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, time.Millisecond, a, logger)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the new policy", func() bool { _, ok := a.Policy().ByName("only"); return ok })

	// An allow list naming an unknown method is refused.
	writeFile(t, dir, "clients.yaml", strings.Replace(one, "'*'", "servicecenter.v1.WorkerService/Nope", 1))
	waitFor(t, "the refusal in the log", func() bool { return strings.Contains(logs.String(), "clients file changed but is invalid") })
	if _, ok := a.Policy().ByName("only"); !ok || len(a.Policy().Clients()) != 1 {
		t.Fatal("an invalid clients file replaced the policy")
	}
}

// waitFor waits, bounded, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
