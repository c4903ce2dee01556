package docs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/sqlitetest"
)

// root is the repository, from this package.
const root = "../../.."

// pages are the pages whose examples run, each against its own server.
// Every page under docs/ is here or in generatedPages.
var pages = []string{
	"README.md",
	"docs/clients.md",
	"docs/errors.md",
	"docs/emulator.md",
	"docs/blacklist-sync.md",
	"docs/events.md",
	"docs/security.md",
	"docs/observability.md",
	"docs/deployment.md",
	"docs/contributing.md",
	"docs/tmc.md",
}

// generatedPages are written by programs and checked by their own tests
// (cmd/servicecenterd's TestReferenceMatchesDocs, cmd/scdbench's), or hold
// no command to run (top-protocol.md: TOP's wire rules; architecture.md:
// the layout, checked by the root package's TestArchitecture*).
var generatedPages = []string{"docs/architecture.md", "docs/configuration.md", "docs/performance.md", "docs/top-protocol.md"}

// binDir holds the servicecenterd binary built from this tree.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scd-docs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "servicecenterd"), "./cmd/servicecenterd")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build servicecenterd:", err)
	} else {
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func TestEveryPageIsChecked(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := "docs/" + filepath.Base(f)
		if slices.Contains(generatedPages, p) {
			if md, err := os.ReadFile(f); err != nil || strings.Contains(string(md), "```sh") && p == "docs/top-protocol.md" {
				t.Errorf("%s: has ```sh examples now: add it to pages (%v)", p, err)
			}
			continue
		}
		if !slices.Contains(pages, p) {
			t.Errorf("%s: add it to pages (its examples run) or generatedPages", p)
		}
	}
}

// live is a running server and what the examples need to reach it.
type live struct {
	grpcAddr, httpAddr, emuAddr string
	conn                        *grpc.ClientConn
}

// startServer runs servicecenterd serve with extra flags on free loopback
// ports and the embedded emulator until the test ends (stopping without
// the default 5s drain delay: no load balancer watches it), on a data dir
// holding a store already migrated (sqlitetest.Seed: the same as a new
// one, without migrating it again for every page).
func startServer(t *testing.T, dir string, extra []string) *live {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	sqlitetest.Seed(t, filepath.Join(dir, "data", sqlite.FileName))
	args := append([]string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--emulator-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--shutdown-timeout", "5s", "--drain-delay", "0s"}, extra...)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // flags name files relative to the scratch folder
	cfg, _, err := server.LoadConfig(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Chdir(wd)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	u, err := url.Parse(s.EmulatorURL())
	if err != nil {
		t.Fatal(err)
	}
	return &live{grpcAddr: s.GRPCAddr(), httpAddr: s.HTTPAddr(), emuAddr: u.Host, conn: conn}
}

// rewrite points a documented command at the live server.
func (l *live) rewrite(s string) string {
	return strings.NewReplacer(
		"127.0.0.1:9090", l.grpcAddr, "localhost:9090", l.grpcAddr,
		"127.0.0.1:8080", l.httpAddr, "localhost:8080", l.httpAddr,
		"127.0.0.1:8800", l.emuAddr, "localhost:8800", l.emuAddr,
		"bin/servicecenterd", "servicecenterd",
	).Replace(s)
}

// unrewrite turns the live addresses in an output back to the documented ones.
func (l *live) unrewrite(s string) string {
	return strings.NewReplacer(l.grpcAddr, "127.0.0.1:9090", l.httpAddr, "127.0.0.1:8080", l.emuAddr, "127.0.0.1:8800").Replace(s)
}

// run runs an example's commands in dir and returns their output
// (stdout and stderr) and whether one failed.
func (l *live) run(t *testing.T, dir string, ex example) (string, error) {
	t.Helper()
	var out strings.Builder
	var failed error
	cmds := commands(ex.script)
	if !slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "bin/grpcurl ") }) {
		cmds = []string{ex.script} // one shell: variables and quoted newlines carry over
	}
	for _, cmd := range cmds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if words := splitWords(cmd); len(words) > 0 && words[0] == "bin/grpcurl" {
			o, err := grpcurl(ctx, l.conn, words[1:])
			out.WriteString(o)
			if err != nil {
				failed = err
				if !errors.Is(err, errGRPCFailed) {
					out.WriteString(err.Error() + "\n")
				}
			}
			cancel()
			continue
		}
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", l.rewrite(cmd))
		c.Dir = dir
		c.Env = append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
			"SERVICECENTERD_BLACKLIST_ADDR="+l.grpcAddr) // the blacklist command's default address, moved
		c.WaitDelay = 5 * time.Second
		o, err := c.CombinedOutput()
		cancel()
		out.Write(o)
		if err != nil {
			failed = fmt.Errorf("%s: %w", cmd, err)
		}
	}
	return l.unrewrite(out.String()), failed
}

func TestPageExamples(t *testing.T) {
	examplesDir, err := filepath.Abs(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages {
		t.Run(strings.ReplaceAll(page, "/", "_"), func(t *testing.T) {
			md, err := os.ReadFile(filepath.Join(root, page))
			if err != nil {
				t.Fatal(err)
			}
			exs, flags := parsePage(string(md))
			dir := t.TempDir()
			if err := os.Symlink(examplesDir, filepath.Join(dir, "examples")); err != nil {
				t.Fatal(err)
			}
			l := startServer(t, dir, flags)
			ran := 0
			for _, ex := range exs {
				if ex.skip != "" {
					continue
				}
				ran++
				got, err := l.run(t, dir, ex)
				if !ex.hasOut {
					if err != nil {
						t.Errorf("%s:%d: %v\n%s", page, ex.line, err, got)
					}
					continue
				}
				if d := matchOutput(ex.outLang, ex.out, got); d != "" {
					t.Errorf("%s:%d: the output differs from the page: %s\n--- got:\n%s", page, ex.line, d, got)
				}
			}
			t.Logf("%s: %d examples run, %d not run", page, ran, len(exs)-ran)
		})
	}
}

// TestMatchingCanFail shows that the comparison catches what it must.
func TestMatchingCanFail(t *testing.T) {
	for _, tt := range []struct {
		name, lang, want, got string
		ok                    bool
	}{
		{"same JSON, other spacing and ids", "json", `{"success":true,"top_request_id":"abcd00000001"}`, `{"success": true, "top_request_id": "wxyz0000000f"}`, true},
		{"a value differs", "json", `{"success":true}`, `{"success":false}`, false},
		{"a member is missing", "json", `{"success":true,"code":"200"}`, `{"success":true}`, false},
		{"more members are fine", "json", `{"success":true}`, `{"success":true,"x":1}`, true},
		{"an array is shorter", "json", `{"a":[1,2]}`, `{"a":[1]}`, false},
		{"an open array", "json", `{"a":[1,"..."]}`, `{"a":[1,2,3]}`, true},
		{"not JSON", "json", `{}`, `curl: (7) Failed to connect`, false},
		{"text lines in order", "text", "a\n...\nc", "a\nb\nc\n", true},
		{"text lines out of order", "text", "c\na", "a\nc\n", false},
		{"grpc error", "text", "ERROR:\n  Code: NotFound\n  Message: m\n  Details:\n  1)\t{\n    \t  \"reason\": \"R\"\n    \t}",
			"ERROR:\n  Code: NotFound\n  Message: m\n  Details:\n  1)\t{\n    \t  \"@type\": \"x\",\n    \t  \"reason\": \"R\"\n    \t}\n", true},
		{"grpc error, other code", "text", "ERROR:\n  Code: NotFound\n  Message: m", "ERROR:\n  Code: Internal\n  Message: m\n", false},
	} {
		if d := matchOutput(tt.lang, tt.want, tt.got); (d == "") != tt.ok {
			t.Errorf("%s: match = %q, want ok %v", tt.name, d, tt.ok)
		}
	}
}

func TestParsePage(t *testing.T) {
	md := "x\n<!-- example server: --rate-limit 5 -->\n```sh\ncurl a \\\n  b # c\n```\n```json\n{}\n```\n\n<!-- example: not run (why) -->\n```sh\nmake run\n```\n```yaml\nk: v\n```\n"
	exs, flags := parsePage(md)
	if len(exs) != 2 || !slices.Equal(flags, []string{"--rate-limit", "5"}) {
		t.Fatalf("examples %+v, flags %q", exs, flags)
	}
	if !exs[0].hasOut || exs[0].outLang != "json" || exs[0].skip != "" || exs[1].skip != "why" || exs[1].hasOut {
		t.Errorf("examples %+v", exs)
	}
	if got := commands(exs[0].script); len(got) != 1 || !slices.Equal(splitWords(got[0]), []string{"curl", "a", "b"}) {
		t.Errorf("commands %q", got)
	}
	if got := splitWords(`bin/grpcurl -d '{"a": "b c"}' "x\"y" z\ w`); !slices.Equal(got, []string{"bin/grpcurl", "-d", `{"a": "b c"}`, `x"y`, "z w"}) {
		t.Errorf("splitWords %q", got)
	}
}

// linkRe finds the relative links of a page: [text](target#anchor).
var linkRe = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)

// TestLinks: every relative link of the pages (and of the generated
// ones) names a file of the repository.
func TestLinks(t *testing.T) {
	for _, page := range append(slices.Clone(pages), "docs/configuration.md", "docs/performance.md") {
		md, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRe.FindAllStringSubmatch(string(md), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.Dir(page), target)); err != nil {
				t.Errorf("%s: link to %s: %v", page, target, err)
			}
		}
	}
}
