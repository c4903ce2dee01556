package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// startBlacklistServer runs a real servicecenterd (embedded emulator, store in a
// temp dir) on loopback and returns it.
func startBlacklistServer(t *testing.T) *server.Server { return startServerWith(t, nil) }

// startServerWith is startBlacklistServer with settings changed by mutate
// (chunks of 10 entries, so that small jobs have several).
func startServerWith(t *testing.T, mutate func(*server.Config)) *server.Server {
	t.Helper()
	return testserver.Start(t, func(c *server.Config) {
		c.Sync.ChunkSize = 10
		if mutate != nil {
			mutate(c)
		}
	}).Server
}

// runBlacklistCLI runs the command, with an empty environment, and returns stdout,
// stderr and the error.
func runBlacklistCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runEnv(t, nil, args...)
}

// runEnv is run with the environment env.
func runEnv(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	err := runWithEnv(ctx, args, &out, &errw, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return out.String(), errw.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func csvFile(t *testing.T, n int, extra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("mobile,reason\n")
	for i := range n {
		fmt.Fprintf(&b, "136%08d,\"1,%d\"\n", i, 2+i%4)
	}
	b.WriteString(extra)
	return writeFile(t, "list.csv", b.String())
}

var jobIDRe = regexp.MustCompile(`job (bj-[a-z0-9]+) queued`)

func TestImportFollowsTheJobToItsEnd(t *testing.T) {
	s := startBlacklistServer(t)
	file := csvFile(t, 500, "13600000001,1\n12345,1\n")
	out, _, err := runBlacklistCLI(t, "import", file, "--supplier-id", "10000000001", "--addr", s.GRPCAddr())
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{
		"uploading: 100%  502 entries, storing",
		"queued: 502 received, 1 rejected, 1 duplicates, 500 to send in 50 chunks of 10",
		"rejected entries of " + file + ":\n  line 503: mobile must be a mainland China mobile number",
		"syncing: 100%  500/500 acknowledged, 0 failed, ",
		"SUCCEEDED: 500 of 500 acknowledged, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("not a terminal, but the output redraws:\n%q", out)
	}
	id := jobIDRe.FindStringSubmatch(out)[1]

	out, _, err = runBlacklistCLI(t, "jobs", "--addr", s.GRPCAddr(), "--state", "succeeded")
	if err != nil || !regexp.MustCompile(`(?m)^`+id+`\s+succeeded\s+10000000001\s+upsert\s+500\s+500\s+0\s+1\s`).MatchString(out) {
		t.Fatalf("jobs: %v\n%s", err, out)
	}
	out, _, err = runBlacklistCLI(t, "status", id, "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "acknowledged:  500") || !strings.Contains(out, "to send:       500 in 50 chunks of 10") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, _, err = runBlacklistCLI(t, "status", "--wait", id, "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("status --wait: %v\n%s", err, out)
	}
	if _, _, err = runBlacklistCLI(t, "cancel", id, "--addr", s.GRPCAddr()); err == nil || !strings.Contains(err.Error(), "already finished") {
		t.Fatalf("cancel of a finished job: %v", err)
	}
	out, _, err = runBlacklistCLI(t, "jobs", "--addr", s.GRPCAddr(), "--state", "failed")
	if err != nil || !strings.Contains(out, "(no jobs)") {
		t.Fatalf("jobs --state failed: %v\n%s", err, out)
	}
}

// TestRetryFailedJob: a job that failed because TOP refused one chunk is
// retried with `blacklist retry`, which follows it to SUCCEEDED; a second
// retry says there is nothing to retry.
func TestRetryFailedJob(t *testing.T) {
	s := startBlacklistServer(t)
	req, _ := http.NewRequest(http.MethodPut, s.EmulatorURL()+"/_emulator/faults",
		strings.NewReader(`{"rules":[{"method":"`+top.MethodBlacklistSync+`","count":1,"error":{"code":15,"sub_code":"isv.invalid-parameter","sub_msg":"refused"}}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out, _, err := runBlacklistCLI(t, "import", "--addr", s.GRPCAddr(), "--supplier-id", "10000000001", csvFile(t, 30, ""))
	if err == nil || !strings.Contains(out, "FAILED") {
		t.Fatalf("import with a refused chunk: %v\n%s", err, out)
	}
	id := jobIDRe.FindStringSubmatch(out)[1]
	out, _, err = runBlacklistCLI(t, "retry", id, "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "1 failed chunks queued again") || !strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	if _, _, err = runBlacklistCLI(t, "retry", id, "--addr", s.GRPCAddr()); err == nil || !strings.Contains(err.Error(), "no failed chunks") {
		t.Fatalf("retry of a succeeded job: %v", err)
	}
}

func TestImportDeleteNDJSONNoWaitAndCancel(t *testing.T) {
	s := startBlacklistServer(t)
	req, _ := http.NewRequest(http.MethodPut, s.EmulatorURL()+"/_emulator/faults",
		strings.NewReader(`{"rules":[{"method":"`+top.MethodBlacklistSync+`","latency":"100ms"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "{\"mobile\":\"136%08d\"}\n", i)
	}
	file := writeFile(t, "list.jsonl", b.String())
	out, _, err := runBlacklistCLI(t, "import", "--delete", "--no-wait", "--addr", s.GRPCAddr(), "--supplier-id", "10000000001", file)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	id := jobIDRe.FindStringSubmatch(out)[1]
	out, _, err = runBlacklistCLI(t, "jobs", "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "delete") {
		t.Fatalf("jobs: %v\n%s", err, out)
	}
	out, _, err = runBlacklistCLI(t, "cancel", id, "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "job "+id+" cancelled") {
		t.Fatalf("cancel: %v\n%s", err, out)
	}
	out, _, err = runBlacklistCLI(t, "status", id, "--wait", "--addr", s.GRPCAddr())
	if err == nil || !strings.Contains(err.Error(), "ended cancelled") || !strings.Contains(out, "CANCELLED") {
		t.Fatalf("status --wait of a cancelled job: %v\n%s", err, out)
	}
}

func TestImportErrors(t *testing.T) {
	s := startBlacklistServer(t)
	addr := s.GRPCAddr()
	good := csvFile(t, 3, "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"purge"}, `unknown command "purge"`},
		{"no file", []string{"import", "--supplier-id", "1", "--addr", addr}, "one FILE is required"},
		{"no supplier", []string{"import", good, "--addr", addr}, "--supplier-id is required"},
		{"unknown format", []string{"import", writeFile(t, "list.txt", "mobile\n"), "--supplier-id", "1", "--addr", addr}, "cannot tell the format"},
		{"bad --format", []string{"import", good, "--format", "xml", "--supplier-id", "1", "--addr", addr}, `format "xml"`},
		{"missing file", []string{"import", "/nonexistent.csv", "--supplier-id", "1", "--addr", addr}, "no such file"},
		{"malformed file", []string{"import", csvFile(t, 2500, "13600000001,1,2\n"), "--supplier-id", "1", "--addr", addr},
			"line 2502: wrong number of fields (want as many as the header) (nothing was imported)"},
		{"only bad entries", []string{"import", writeFile(t, "bad.csv", "mobile\n1\n2\n"), "--supplier-id", "1", "--addr", addr}, "no valid entries: all 2 were rejected"},
		{"server down", []string{"import", good, "--supplier-id", "1", "--addr", "127.0.0.1:1"}, "cannot reach servicecenterd at 127.0.0.1:1"},
		{"bad state", []string{"jobs", "--state", "done", "--addr", addr}, `--state "done"`},
		{"unknown job", []string{"status", "bj-nope", "--addr", addr}, "blacklist sync job not found (NotFound)"},
		{"cancel without id", []string{"cancel", "--addr", addr}, "one JOB_ID is required"},
		{"retry without id", []string{"retry", "--addr", addr}, "one JOB_ID is required"},
		{"retry of an unknown job", []string{"retry", "bj-nope", "--addr", addr}, "blacklist sync job not found (NotFound)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runBlacklistCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	out, _, err := runBlacklistCLI(t, "jobs", "--addr", addr)
	if err != nil || !strings.Contains(out, "(no jobs)") {
		t.Fatalf("a failed import left a job: %v\n%s", err, out)
	}
}

func TestProgressOnATerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, true, "syncing")
	clock := time.Unix(1700000000, 0)
	p.now = func() time.Time { return clock }
	p.update(0, 200, "0/200")
	clock = clock.Add(99 * time.Millisecond)
	p.update(50, 200, "50/200") // within 100ms: skipped
	p.update(200, 200, "200/200")
	p.done()
	want := "\r\033[Ksyncing   [" + strings.Repeat(".", 30) + "]   0%  0/200" +
		"\r\033[Ksyncing   [" + strings.Repeat("#", 30) + "] 100%  200/200\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	var plain bytes.Buffer
	p = newProgress(&plain, false, "uploading")
	for i := int64(0); i <= 100; i += 5 {
		p.update(i, 100, fmt.Sprint(i))
	}
	p.done()
	if lines := strings.Count(plain.String(), "\n"); lines != 11 {
		t.Fatalf("%d plain lines, want 11 (0%%, 10%%, ... 100%%):\n%s", lines, plain.String())
	}
	// A sync bar holds a full count until the job is over: no "100% ...
	// running" line before the one that says how it ended.
	var sync bytes.Buffer
	p = newProgress(&sync, false, "syncing")
	p.holdFull = true
	p.update(50, 100, "50/100 acknowledged, running")
	p.update(100, 100, "100/100 acknowledged, running")
	p.final(100, 100, "100/100 acknowledged, succeeded")
	p.done()
	if want := "syncing:  50%  50/100 acknowledged, running\nsyncing: 100%  100/100 acknowledged, succeeded\n"; sync.String() != want {
		t.Fatalf("sync lines %q, want %q", sync.String(), want)
	}
	if isTerminal(io.Discard) {
		t.Fatal("io.Discard is a terminal")
	}
}

// TestRejectionsListsEveryRejectedEntry: an import of 1 valid and 1234
// invalid lines reports the first 100 at once; `blacklist rejections`
// lists all 1234 (over pages of 1000), --limit the first ones, in file
// order, without the values.
func TestRejectionsListsEveryRejectedEntry(t *testing.T) {
	s := startBlacklistServer(t)
	var b strings.Builder
	b.WriteString("mobile,reason\n13600000001,1\n")
	for i := range 1234 {
		fmt.Fprintf(&b, "1%d,1\n", 1000+i) // 5 digits: not a mobile
	}
	file := writeFile(t, "bad.csv", b.String())
	out, _, err := runBlacklistCLI(t, "import", file, "--supplier-id", "10000000001", "--no-wait", "--addr", s.GRPCAddr())
	if err != nil || !strings.Contains(out, "... and 1134 more") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	id := jobIDRe.FindStringSubmatch(out)[1]
	out, _, err = runBlacklistCLI(t, "rejections", id, "--addr", s.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1234 || lines[0] != "line 3: mobile must be a mainland China mobile number: 11 digits starting with 13 to 19" ||
		!strings.HasPrefix(lines[1233], "line 1236: mobile ") || strings.Contains(out, "11000") {
		t.Fatalf("%d lines: first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	out, _, err = runBlacklistCLI(t, "rejections", id, "--limit", "3", "--addr", s.GRPCAddr())
	if err != nil || strings.Count(out, "\n") != 3 || !strings.HasPrefix(out, "line 3: ") {
		t.Fatalf("--limit 3: %v\n%s", err, out)
	}
	if _, _, err = runBlacklistCLI(t, "rejections", "bj-nope", "--addr", s.GRPCAddr()); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown job: %v", err)
	}
}
