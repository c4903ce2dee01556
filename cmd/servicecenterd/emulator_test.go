package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// runningEmulator is an emulator started by Run on 127.0.0.1:0.
type runningEmulator struct {
	banner map[string]string // banner fields by name: url, app_key, ...
	text   string
	stderr *logbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startEmulatorCmd runs the command and waits for its banner.
func startEmulatorCmd(t *testing.T, args ...string) *runningEmulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &runningEmulator{banner: map[string]string{}, stderr: &logbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := runEmulator(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), pw, r.stderr)
		pw.Close()
		r.done <- err
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(10 * time.Second)
	var text strings.Builder
	for r.banner["state"] == "" {
		select {
		case line, open := <-lines:
			if !open {
				t.Fatalf("Run ended before its banner: %v; stderr: %s", <-r.done, r.stderr.String())
			}
			text.WriteString(line + "\n")
			if k, v, found := strings.Cut(strings.TrimSpace(line), ":"); found {
				r.banner[k] = strings.TrimSpace(v)
			}
		case <-timeout:
			t.Fatal("no banner within 10s")
		}
	}
	r.text = text.String()
	go func() { // drain anything printed later
		for range lines {
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the context and waits for Run to return.
func (r *runningEmulator) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, open := <-r.done:
		if !open {
			return nil
		}
		close(r.done)
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancellation")
	}
	return nil
}

// signedCall makes a taglist.get call with the demo worker.
func signedCall(t *testing.T, url, appKey, secret, session string) map[string]any {
	t.Helper()
	params := []top.Param{
		{Key: "method", Value: top.MethodWorkerTagList}, {Key: "app_key", Value: appKey},
		{Key: "session", Value: session}, {Key: "timestamp", Value: top.FormatTime(time.Now())},
		{Key: "format", Value: "json"}, {Key: "v", Value: "2.0"}, {Key: "sign_method", Value: "md5"},
		{Key: "id_number", Value: "11010519491231002X"}, {Key: "mobile", Value: "13245678901"},
	}
	top.SortParams(params)
	sign, err := top.Sign(top.SignMD5, secret, params)
	if err != nil {
		t.Fatal(err)
	}
	params = append(params, top.Param{Key: "sign", Value: sign})
	resp, err := http.Post(url, top.FormContentType, bytes.NewReader(top.AppendForm(nil, params)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunServesDemoAndShutsDown(t *testing.T) {
	r := startEmulatorCmd(t)
	if !strings.HasPrefix(r.banner["url"], "http") || r.banner["app_key"] != "emulator" ||
		r.banner["app_secret"] != "emulator-secret" || r.banner["session"] != "emulator-session" ||
		r.banner["state"] != "in memory" {
		t.Fatalf("banner:\n%s", r.text)
	}
	out := signedCall(t, r.banner["url"], "emulator", "emulator-secret", "emulator-session")
	if _, found := out["tmall_servicecenter_worker_taglist_get_response"]; !found {
		t.Fatalf("call: %v", out)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := http.Get(r.banner["url"]); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestRunHidesGivenSecrets(t *testing.T) {
	const secret, session = "s3cr3t-from-ops", "real-session-token"
	r := startEmulatorCmd(t, "--app-key", "12345678", "--app-secret", secret, "--session", session, "--log-level", "debug")
	if strings.Contains(r.text, secret) || strings.Contains(r.text, session) {
		t.Fatalf("banner leaks a given secret:\n%s", r.text)
	}
	if !strings.HasPrefix(r.banner["app_secret"], "[REDACTED]") || !strings.HasPrefix(r.banner["session"], "[REDACTED]") {
		t.Fatalf("banner:\n%s", r.text)
	}
	out := signedCall(t, r.banner["url"], "12345678", secret, session)
	if _, found := out["tmall_servicecenter_worker_taglist_get_response"]; !found {
		t.Fatalf("call with the given credentials: %v", out)
	}
	out = signedCall(t, r.banner["url"], "12345678", topemu.DefaultAppSecret, session)
	if e, _ := out["error_response"].(map[string]any); e == nil || e["code"] != float64(25) {
		t.Fatalf("demo secret accepted: %v", out)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	logs := r.stderr.String()
	if !strings.Contains(logs, "TOP call") || strings.Contains(logs, secret) || strings.Contains(logs, session) ||
		strings.Contains(logs, "13245678901") || strings.Contains(logs, "11010519491231002X") {
		t.Fatalf("debug logs leak or miss calls:\n%s", logs)
	}
}

func TestRunSeedAndStateFile(t *testing.T) {
	dir := t.TempDir()
	seed := topemu.DemoState()
	seed.Workers = seed.Workers[:1]
	b, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seedFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(dir, "state.db")
	workers := func(r *runningEmulator) int {
		resp, err := http.Get(strings.TrimSuffix(r.banner["admin"], "/") + "/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s topemu.State
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return len(s.Workers)
	}
	r := startEmulatorCmd(t, "--seed", seedFile, "--state-file", stateFile)
	if n := workers(r); n != 1 {
		t.Fatalf("seed not loaded: %d workers", n)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// Restarted without --seed: the file keeps the seeded state.
	r = startEmulatorCmd(t, "--state-file", stateFile)
	if n := workers(r); n != 1 || !strings.Contains(r.banner["state"], stateFile) {
		t.Fatalf("after restart: %d workers; banner:\n%s", n, r.text)
	}
}

func TestRunRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"all interfaces", []string{"--addr", ":8800"}, "not a loopback address"},
		{"public address", []string{"--addr", "192.0.2.1:8800"}, "not a loopback address"},
		{"bad address", []string{"--addr", "nonsense"}, "--addr"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"empty secret", []string{"--app-secret", ""}, "must not be empty"},
		{"missing seed", []string{"--addr", "127.0.0.1:0", "--seed", "/no/such/seed.json"}, "--seed"},
		{"bad log level", []string{"--addr", "127.0.0.1:0", "--log-level", "loud"}, "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runEmulator(ctx, tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Fatalf("err %v, stderr %s; want %q", err, stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed a banner: %s", stdout.String())
			}
		})
	}
	var stderr bytes.Buffer
	if err := runEmulator(context.Background(), []string{"-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(stderr.String(), "--state-file") && !strings.Contains(stderr.String(), "-state-file") {
		t.Fatalf("-h: %v %s", err, stderr.String())
	}
}

func TestFlagsAreMirroredByEnv(t *testing.T) {
	t.Setenv("SERVICECENTERD_EMULATOR_ADDR", "0.0.0.0:8800")
	err := runEmulator(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `--addr "0.0.0.0:8800" is not a loopback address`) {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("SERVICECENTERD_EMULATOR_MAX_CALLS", "many")
	if err := runEmulator(context.Background(), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "SERVICECENTERD_EMULATOR_MAX_CALLS") {
		t.Fatalf("err = %v", err)
	}
}

// TestEmulatorAddrInUse: with its address taken (by serve's embedded
// emulator, which has the same default, or anything else) the command
// says so and what to do.
func TestEmulatorAddrInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	err = runEmulator(context.Background(), []string{"--addr", held.Addr().String()}, io.Discard, io.Discard)
	for _, want := range []string{"in use", "servicecenterd serve", "embedded emulator", "--addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}
