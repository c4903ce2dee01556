package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

const (
	dashboardFile = "deploy/grafana/servicecenterd.json"
	alertsFile    = "deploy/prometheus/alerts.yaml"
)

// prometheusSeries are series Prometheus makes itself for each target,
// never in /metrics.
var prometheusSeries = map[string]bool{"up": true}

// scrapeLabels are labels Prometheus adds to every series it scrapes.
var scrapeLabels = map[string]bool{"job": true, "instance": true}

// TestDashboardAndAlertMetrics makes a known set of calls to a real
// servicecenterd (gRPC, REST through the gateway, a small bulk sync job,
// waits for the app's TOP quota, a TMC message from the emulator stored
// and confirmed, a refusal by the per-client rate limit),
// scrapes /metrics, and checks every metric the dashboard and the alert
// rules query: served, with every label their selectors match on.
func TestDashboardAndAlertMetrics(t *testing.T) {
	queries := append(dashboardQueries(t), alertQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in the dashboard and alerts", len(queries))
	}

	ts := testserver.Start(t, func(c *server.Config) {
		c.TOP.RateLimit, c.TOP.RateBurst = 20, 1 // calls in a row wait for the quota
		c.RateLimit.PerSecond, c.RateLimit.Burst = 0.001, 10
		c.Sync.ChunkSize = 10
	})
	knownRun(t, ts)
	served := scrapeMetrics(t, "http://"+ts.HTTPAddr()+"/metrics")

	checked := map[string]bool{}
	for _, q := range queries {
		for _, sel := range selectors(q.expr) {
			checked[sel.metric] = true
			labels, ok := served[sel.metric]
			switch {
			case prometheusSeries[sel.metric]:
				continue
			case !ok:
				t.Errorf("%s queries %s, which servicecenterd does not serve\n\t%s", q.where, sel.metric, q.expr)
				continue
			}
			for _, l := range sel.labels {
				if !labels[l] && !scrapeLabels[l] {
					t.Errorf("%s matches label %s of %s, which has none\n\t%s", q.where, l, sel.metric, q.expr)
				}
			}
		}
	}
	for _, want := range []string{"servicecenterd_top_calls_total", "servicecenterd_sync_jobs", "servicecenterd_top_quota_wait_seconds_bucket"} {
		if !checked[want] {
			t.Errorf("the queries' metrics %v lack %s: is the extraction broken?", keys(checked), want)
		}
	}
}

// knownRun makes the calls whose metrics the dashboard shows.
func knownRun(t *testing.T, ts *testserver.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testserver.WaitTimeout)
	defer cancel()
	tags := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	if _, err := ts.Workers.GetWorkerTags(ctx, tags); err != nil {
		t.Fatal(err)
	}
	if code, _, body := ts.REST(t, "/v1/workers:getTags", `{"id_number":"11010519491231002X","mobile":"13245678901"}`); code != http.StatusOK {
		t.Fatalf("REST GetWorkerTags: %d %v", code, body)
	}
	if _, err := ts.Workcards.AssignWorker(ctx, &scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567}); status.Code(err) != codes.NotFound {
		t.Fatalf("AssignWorker of an unknown workcard: %v", err)
	}

	// A bulk sync job of 3 chunks, watched to its end.
	stream, err := ts.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var entries []*scv1.BlacklistImportEntry
	for i := range 25 {
		entries = append(entries, &scv1.BlacklistImportEntry{Mobile: fmt.Sprintf("137%08d", i), Reason: []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER}})
	}
	for _, m := range []*scv1.ImportUserBlacklistRequest{
		{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}},
		{Entries: entries},
	} {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	watch, err := ts.Logistics.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: resp.GetJob().GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	var last *scv1.BlacklistSyncJob
	for {
		m, err := watch.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = m.GetJob()
	}
	if last.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED {
		t.Fatalf("job ended %v", last)
	}

	// A TMC message: the emulator publishes one for a new workcard, and
	// the consumer stores and confirms it.
	ts.Emulator(t, http.MethodPost, "/_emulator/workcards", map[string]any{"service_store_id": 12345, "fulfil_task_ids": []int{1902}})
	testserver.WaitFor(t, "the TMC message to be confirmed", func() bool {
		resp, err := http.Get("http://" + ts.HTTPAddr() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(raw), `servicecenterd_tmc_messages_handled_total{outcome="confirmed"`)
	})

	// Over the per-client rate limit (burst 10, then one call in 1000 s).
	for i := 0; ; i++ {
		_, err := ts.Workers.GetWorkerTags(ctx, tags)
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
		if err != nil || i == 20 {
			t.Fatalf("call %d over the rate limit: %v", i, err)
		}
	}
}

// scrapeMetrics reads /metrics and returns every metric name served (the
// families of # TYPE lines and the sample names, _bucket, _sum and _count
// included) with the label names seen on its samples.
func scrapeMetrics(t *testing.T, url string) map[string]map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	out := map[string]map[string]bool{}
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			if out[f[2]] == nil {
				out[f[2]] = map[string]bool{}
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if rest != "" {
			for _, m := range label.FindAllStringSubmatch(rest, -1) {
				out[name][m[1]] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// query is one PromQL expression and where it is.
type query struct {
	where string
	expr  string
}

// dashboardQueries are the dashboard's panel targets and template
// variables' queries (label_values(SELECTOR, LABEL) counts as SELECTOR).
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, query{dashboardFile + " panel " + p.Title, tg.Expr})
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s variable %s: %v", dashboardFile, v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("%s variable %s: query %q is no label_values(SELECTOR, LABEL)", dashboardFile, v.Name, q.Query)
		}
		out = append(out, query{dashboardFile + " variable " + v.Name, m[1]})
	}
	return out
}

// alertQueries are the alert rules' expressions.
func alertQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var out []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, query{alertsFile + " alert " + r.Alert, r.Expr})
		}
	}
	return out
}

// selector is a metric a PromQL expression reads, with the label names
// its matchers use.
type selector struct {
	metric string
	labels []string
}

// The PromQL reading is a careful scan, not a parser (the real one,
// prometheus/promql/parser, would bring Prometheus into go.mod): string
// literals, Grafana variables, ranges, grouping clauses and numbers are
// blanked; then an identifier followed by "(" is a function, one of the
// keywords below is a keyword, and any other is a metric, whose "{...}"
// matchers give the label names. It does not know PromQL's
// {__name__="..."} form; the dashboard and rules do not use it.
var (
	promString     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promGrafanaVar = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)
	promRange      = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promNumber     = regexp.MustCompile(`\b\d[a-zA-Z0-9_.]*`) // 0.05, 1e-9, 5m
	promIdent      = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promMatcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promKeywords   = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

func selectors(expr string) []selector {
	s := promString.ReplaceAllString(expr, `""`)
	s = promGrafanaVar.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	s = promNumber.ReplaceAllString(s, " ")
	var out []selector
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if promKeywords[name] || strings.HasPrefix(rest, "(") {
			continue
		}
		// Inside a matcher block: a label, already taken with its metric.
		if open, close := strings.LastIndex(s[:loc[0]], "{"), strings.LastIndex(s[:loc[0]], "}"); open > close {
			continue
		}
		sel := selector{metric: name}
		if strings.HasPrefix(rest, "{") {
			block, _, _ := strings.Cut(rest[1:], "}")
			for _, m := range promMatcher.FindAllStringSubmatch(block, -1) {
				sel.labels = append(sel.labels, m[1])
			}
		}
		out = append(out, sel)
	}
	return out
}

// TestSelectors pins the PromQL scan on the shapes the dashboard and
// rules use.
func TestSelectors(t *testing.T) {
	cases := []struct {
		expr string
		want []string // metric, then its labels, per selector, joined by " "
	}{
		{`rate(a_total[5m])`, []string{"a_total"}},
		{`sum by (job, method) (increase(b_total{outcome=~"x|y", state!="z"}[$__rate_interval])) > 0.05`, []string{"b_total outcome state"}},
		{`histogram_quantile(0.99, sum by (le) (rate(c_bucket{job=~"$job", le!=""}[5m])))`, []string{"c_bucket job le"}},
		{`sum(rate(d_total{code="1"}[5m])) / clamp_min(sum(rate(d_total[5m])), 1e-9)`, []string{"d_total code", "d_total"}},
		{`max by (job) (e) == 0 and on (job) f offset 5m unless g`, []string{"e", "f", "g"}},
		{`up{job=~".*servicecenterd.*"} == 0`, []string{"up job"}},
		{`h{a="{b}"}`, []string{"h a"}},
	}
	for _, tc := range cases {
		var got []string
		for _, s := range selectors(tc.expr) {
			got = append(got, strings.Join(append([]string{s.metric}, s.labels...), " "))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("selectors(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestAlertRules checks the rule file's shape: every rule an alert with a
// unique name, an expression, a severity of warning or critical, a
// summary and a description; a `for` that parses.
func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || seen[r.Alert] || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("group %s: rule %q: no name, a repeated name, or no expression", g.Name, r.Alert)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") || strings.Count(r.Expr, "{") != strings.Count(r.Expr, "}") {
				t.Errorf("%s: unbalanced brackets in %s", r.Alert, r.Expr)
			}
		}
	}
	for _, want := range []string{"ServicecenterdTOPErrorRatioHigh", "ServicecenterdTOPBanned", "ServicecenterdSyncJobFailed",
		"ServicecenterdSyncQueueStalled", "ServicecenterdQuotaFallbackActive", "ServicecenterdTOPUnreachable"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDashboardShape checks what Grafana needs of the dashboard: a uid,
// panels with unique ids laid out within 24 columns without overlapping,
// every query on the ${datasource} variable (so that importing it asks
// for a Prometheus data source), and the variables that the queries use.
func TestDashboardShape(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	type grid struct{ H, W, X, Y int }
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			GridPos    grid   `json:"gridPos"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" {
		t.Error("no uid")
	}
	vars := map[string]bool{"__rate_interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	ids := map[int]bool{}
	var placed []grid
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside 24 columns", p.Title, g)
		}
		for _, o := range placed {
			if g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H {
				t.Errorf("panel %q at %+v overlaps one at %+v", p.Title, g, o)
			}
		}
		placed = append(placed, g)
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query on data source %q", p.Title, tg.Datasource.UID)
			}
			for _, m := range promGrafanaVar.FindAllString(tg.Expr, -1) {
				if name := strings.Trim(m, "${}"); !vars[name] {
					t.Errorf("panel %q: variable %s is not defined", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("no variable %s", want)
		}
	}
}
