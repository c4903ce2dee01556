package servicecenterd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The checks of docs/architecture.md, which `make lint` runs: the page
// lists every package and nothing else, the import rules it states hold,
// and nothing tracked points at files outside the repository.

const modulePath = "github.com/servicecenterd/servicecenterd"

// goList runs `go list` with the format over the module's packages.
func goList(t *testing.T, format string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, "./...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// documentedFolders returns the folders the "What each folder owns" table
// of docs/architecture.md lists (its first column, `path/`).
func documentedFolders(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## What each folder owns")
	if start < 0 {
		t.Fatal(`docs/architecture.md has no "## What each folder owns" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]*/)` \\|")
	var out []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestArchitectureListsEveryPackage: every package of the module (but the
// generated ones under gen/) has its row in docs/architecture.md, and
// every row names a package.
func TestArchitectureListsEveryPackage(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var packages []string
	for _, dir := range goList(t, "{{.Dir}}") {
		rel, err := filepath.Rel(wd, dir)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel) + "/"
		if strings.HasPrefix(rel, "gen/") {
			continue
		}
		packages = append(packages, rel)
	}
	documented := documentedFolders(t)
	if len(documented) == 0 {
		t.Fatal("no folder rows read from docs/architecture.md")
	}
	for _, p := range packages {
		if !slices.Contains(documented, p) {
			t.Errorf("package %s is missing from docs/architecture.md (What each folder owns)", p)
		}
	}
	for _, d := range documented {
		if !slices.Contains(packages, d) {
			t.Errorf("docs/architecture.md lists %s, which is not a package", d)
		}
	}
}

// importRule is one rule of docs/architecture.md's Rules section: no
// package matching from may import a package matching to, unless allowed.
type importRule struct {
	what     string
	from, to func(pkg string) bool
}

func is(paths ...string) func(string) bool {
	return func(pkg string) bool { return slices.Contains(paths, pkg) }
}

func under(prefix string) func(string) bool {
	return func(pkg string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }
}

var importRules = []importRule{
	{"top imports no package of ours but redact and mainland",
		is("internal/top"), func(p string) bool { return !is("internal/redact", "internal/mainland")(p) }},
	{"topemu imports neither topclient nor service",
		is("internal/topemu"), is("internal/topclient", "internal/service")},
	{"service and syncjob import neither store nor topclient",
		is("internal/service", "internal/blacklist/syncjob"), func(p string) bool { return under("internal/store")(p) || p == "internal/topclient" }},
	{"audit, syncjob and idempotency never import store",
		is("internal/audit", "internal/blacklist/syncjob", "internal/idempotency"), under("internal/store")},
	{"only the commands and testserver import server",
		func(p string) bool {
			return !under("cmd")(p) && p != "internal/testutil/testserver" && p != "internal/server"
		}, is("internal/server")},
}

// importViolations lists the imports of graph (package -> its imports,
// paths relative to the module) that break a rule.
func importViolations(graph map[string][]string) []string {
	var out []string
	for _, r := range importRules {
		for pkg, imports := range graph {
			if !r.from(pkg) {
				continue
			}
			for _, imp := range imports {
				if r.to(imp) {
					out = append(out, pkg+" imports "+imp+": "+r.what)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestArchitectureImports checks the import rules of docs/architecture.md
// on the module's packages (non-test imports).
func TestArchitectureImports(t *testing.T) {
	graph := map[string][]string{}
	for _, line := range goList(t, `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], modulePath), "/")
		for _, imp := range fields[1:] {
			if rest, ok := strings.CutPrefix(imp, modulePath+"/"); ok && !strings.HasPrefix(rest, "gen/") {
				graph[pkg] = append(graph[pkg], rest)
			}
		}
	}
	if len(graph) < 10 {
		t.Fatalf("only %d packages with imports of ours: go list changed shape", len(graph))
	}
	for _, v := range importViolations(graph) {
		t.Error(v)
	}
}

// TestArchitectureRulesCanFail shows each import rule catches a breach.
func TestArchitectureRulesCanFail(t *testing.T) {
	got := importViolations(map[string][]string{
		"internal/top":                 {"internal/redact", "internal/config"},
		"internal/topemu":              {"internal/top", "internal/topclient"},
		"internal/service":             {"internal/store"},
		"internal/blacklist/syncjob":   {"internal/topclient", "internal/store/sqlite"},
		"internal/audit":               {"internal/store"},
		"internal/metrics":             {"internal/server"},
		"cmd/servicecenterd":           {"internal/server"},
		"internal/testutil/testserver": {"internal/server"},
	})
	want := []string{
		"internal/audit imports internal/store: audit, syncjob and idempotency never import store",
		"internal/blacklist/syncjob imports internal/store/sqlite: audit, syncjob and idempotency never import store",
		"internal/blacklist/syncjob imports internal/store/sqlite: service and syncjob import neither store nor topclient",
		"internal/blacklist/syncjob imports internal/topclient: service and syncjob import neither store nor topclient",
		"internal/metrics imports internal/server: only the commands and testserver import server",
		"internal/service imports internal/store: service and syncjob import neither store nor topclient",
		"internal/top imports internal/config: top imports no package of ours but redact and mainland",
		"internal/topemu imports internal/topclient: topemu imports neither topclient nor service",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}

// TestArchitectureNoSharedReferences: no tracked file points readers at
// ../shared (the team's notes beside the repository, which its users do
// not have); docs/top-protocol.md states what the code relies on. The
// recorded bench results and the CI entry point, which describes the
// machine it runs on, are left out.
func TestArchitectureNoSharedReferences(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	shared := regexp.MustCompile(`\.\./shared|shared/(docs|seeds)/`)
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if strings.HasPrefix(f, "bench/results/") || strings.HasPrefix(f, ".ci/") || strings.HasPrefix(f, "gen/") || f == "architecture_test.go" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // deleted in the working tree
		}
		if loc := shared.FindIndex(raw); loc != nil {
			line := 1 + strings.Count(string(raw[:loc[0]]), "\n")
			t.Errorf("%s:%d points at %s", f, line, raw[loc[0]:loc[1]])
		}
	}
}
