package report

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	tags   = "GetWorkerTags"
	assign = "AssignWorker"
)

// pt is a point with the measures the ratios read.
func pt(round int, target, method string, conc int, rps, p99, cpu float64) Point {
	return Point{Round: round, Target: target, Method: method, Concurrency: conc, Requests: int64(rps * 5),
		RPS: rps, P50Ms: p99 / 3, P99Ms: p99, CPUPer1k: cpu}
}

// sample is three rounds of targets a, b, d, e and f at 64 callers of
// GetWorkerTags, chosen so that the median of the per-round ratios
// differs from the ratio of the medians: (b)/(a) CPU per round is 1.3,
// 1.4 and 1.0 (median 1.3), while the medians' ratio is 0.060/0.050 =
// 1.2.
func sample() *Report {
	r := &Report{
		Date:    time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Machine: Machine{CPU: "Test CPU", Cores: 2, GOMAXPROCS: 2, MemoryGiB: 24, Kernel: "6.1", GoVersion: "go1.26", Commit: "abc"},
		Settings: Settings{Duration: Duration(5 * time.Second), Warmup: Duration(time.Second), Rounds: 3,
			Concurrencies: []int{64}, Targets: []string{"a", "b", "d", "e", "f"}, Methods: []string{tags}, GRPCConns: 1,
			SignMethod: "hmac-sha256", Command: "make bench"},
		Load:  Load{Start: [3]float64{0.5, 0.4, 0.3}, End: [3]float64{1.5, 0.9, 0.5}},
		Notes: []string{"PostgreSQL + Redis (e, f): database scdbench_x"},
	}
	//                 a: rps  p99  cpu      b: rps p99   cpu     d: cpu  e: cpu   f: cpu
	rounds := [][9]float64{
		{10000, 10, 0.050, 9000, 12, 0.065, 0.130, 0.070, 0.091},
		{11000, 9, 0.040, 9500, 10, 0.056, 0.120, 0.070, 0.105},
		{9000, 12, 0.060, 8000, 16, 0.060, 0.150, 0.063, 0.070},
	}
	for i, v := range rounds {
		r.Points = append(r.Points,
			pt(i, "a", tags, 64, v[0], v[1], v[2]),
			pt(i, "b", tags, 64, v[3], v[4], v[5]),
			pt(i, "d", tags, 64, 4000, 30, v[6]),
			pt(i, "e", tags, 64, 8500, 14, v[7]),
			pt(i, "f", tags, 64, 3500, 35, v[8]),
		)
	}
	r.Points[2].Errors, r.Points[2].FirstError = 2, "HTTP 503: `x`"
	r.Points[7].OtherCores = 0.8 // (d), round 2
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 || math.IsNaN(a) && math.IsNaN(b) }

func TestStats(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   []float64
		want Stat
	}{
		{"none", nil, Stat{Median: nan, Min: nan, Max: nan}},
		{"one", []float64{3}, Stat{3, 3, 3, 1}},
		{"odd, unsorted", []float64{5, 1, 3}, Stat{3, 1, 5, 3}},
		{"even: mean of the middle two", []float64{4, 1, 2, 10}, Stat{3, 1, 10, 4}},
		{"five rounds, one outlier", []float64{0.06, 0.061, 0.2, 0.059, 0.062}, Stat{0.061, 0.059, 0.2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := Stats(in)
			if !near(got.Median, tt.want.Median) || !near(got.Min, tt.want.Min) || !near(got.Max, tt.want.Max) || got.N != tt.want.N {
				t.Errorf("Stats(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Stats changed its input: %v", in)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	s, ok := sample().Summary("b", tags, 64)
	if !ok || s.Rounds != 3 || s.RPS != (Stat{9000, 8000, 9500, 3}) || s.P99Ms != (Stat{12, 10, 16, 3}) ||
		s.CPUPer1k != (Stat{0.060, 0.056, 0.065, 3}) || s.Requests != 5*(9000+9500+8000) {
		t.Errorf("Summary(b) = %+v, %v", s, ok)
	}
	d, _ := sample().Summary("d", tags, 64)
	if d.Errors != 2 || d.FirstError != "HTTP 503: `x`" || d.OtherCores.Max != 0.8 {
		t.Errorf("Summary(d) = %+v", d)
	}
	if _, ok := sample().Summary("c", tags, 64); ok {
		t.Error("Summary of a target not measured")
	}
}

// TestRatio: ratios are computed round by round and summarised; a round
// missing one of the two points, or with no requests, is left out.
func TestRatio(t *testing.T) {
	dropRound2A := sample()
	dropRound2A.Points = slices.DeleteFunc(dropRound2A.Points, func(p Point) bool { return p.Round == 2 && p.Target == "a" })
	noRequests := sample()
	noRequests.Points[1].Requests = 0 // b, round 0
	tests := []struct {
		name        string
		r           *Report
		ratio       string
		med, lo, hi float64
		rounds      int
		ok          bool
	}{
		{"median of per-round ratios, not of medians", sample(), "(b)/(a) CPU/1k", 1.3, 1.0, 1.4, 3, true},
		{"rps", sample(), "(b)/(a) rps", 8.0 / 9, 9.5 / 11, 0.9, 3, true},
		{"p99", sample(), "(b)/(a) p99", 1.2, 10.0 / 9, 16.0 / 12, 3, true},
		{"PostgreSQL + Redis over embedded", sample(), "(e)/(b) CPU/1k", 0.070 / 0.065, 0.063 / 0.060, 0.070 / 0.056, 3, true},
		{"REST over gRPC on PostgreSQL + Redis", sample(), "(f)/(e) CPU/1k", 1.3, 0.070 / 0.063, 1.5, 3, true},
		{"a round without its divisor", dropRound2A, "(b)/(a) CPU/1k", 1.35, 1.3, 1.4, 2, true},
		{"a round without requests", noRequests, "(b)/(a) CPU/1k", 1.2, 1.0, 1.4, 2, true},
		{"targets not measured", sample(), "(c)/(a) rps", math.NaN(), math.NaN(), math.NaN(), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.ratio(spec(tt.ratio), tags, 64)
			if !near(got.Value, tt.med) || !near(got.Min, tt.lo) || !near(got.Max, tt.hi) || got.Rounds != tt.rounds || got.OK != tt.ok {
				t.Errorf("%s = %+v, want median %v (%v-%v) over %d rounds, ok %v", tt.ratio, got, tt.med, tt.lo, tt.hi, tt.rounds, tt.ok)
			}
		})
	}
}

func TestGoals(t *testing.T) {
	r := sample()
	r.Settings.Methods = []string{tags, assign}
	for i := range 3 { // AssignWorker: the floor and (b) only
		r.Points = append(r.Points, pt(i, "a", assign, 64, 10000, 10, 0.05), pt(i, "b", assign, 64, 8600, 12, 0.065))
	}
	nan := math.NaN()
	want := []struct {
		name      string
		want      string
		got       float64
		met, info bool
	}{
		{"(b)/(a) CPU/1k at 64, GetWorkerTags", "<= 1.10", 1.3, false, false},
		{"(b)/(a) p99 at 64, GetWorkerTags", "<= 1.30", 1.2, true, false},
		{"(b)/(a) rps at 64, GetWorkerTags", ">= 0.85", 8.0 / 9, true, false},
		{"(d)/(b) CPU/1k at 64, GetWorkerTags", "<= 1.40", 0.120 / 0.056, false, false},
		{"(e)/(b) CPU/1k at 64, GetWorkerTags", "<= 1.15", 0.070 / 0.065, true, false},
		{"(f)/(e) CPU/1k at 64, GetWorkerTags", "<= 1.40", 1.3, true, false},
		{"(f)/(d) CPU/1k at 64, GetWorkerTags", "<= 1.15", 0.7, false, true},
		{"(b)/(a) CPU/1k at 64, AssignWorker", "<= 1.30", 1.3, true, false}, // the bound itself is met
		{"(b)/(a) p99 at 64, AssignWorker", "<= 1.30", 1.2, true, false},
		{"(b)/(a) rps at 64, AssignWorker", ">= 0.85", 0.86, true, false},
		{"(d)/(b) CPU/1k at 64, AssignWorker", "<= 1.40", nan, false, false},
		{"(e)/(b) CPU/1k at 64, AssignWorker", "<= 1.15", nan, false, false},
		{"(f)/(e) CPU/1k at 64, AssignWorker", "<= 1.40", nan, false, false},
		{"(f)/(d) CPU/1k at 64, AssignWorker", "<= 1.15", nan, false, true},
	}
	goals := r.Goals()
	if len(goals) != len(want) {
		t.Fatalf("%d goals, want %d: %+v", len(goals), len(want), goals)
	}
	for i, w := range want {
		g := goals[i]
		if g.Name != w.name || g.Want != w.want || math.Abs(g.Got-w.got) > 1e-9 && !(math.IsNaN(g.Got) && math.IsNaN(w.got)) ||
			g.Met != w.met || g.Info != w.info || g.What == "" {
			t.Errorf("goal %d = %+v, want %+v", i, g, w)
		}
	}
	// Per-round ratios of the sample: CPU 1.0, 1.3, 1.4 against 1.10;
	// p99 1.11, 1.2, 1.33 against 1.3; rps 0.86, 0.89, 0.9 against 0.85;
	// AssignWorker's CPU 1.3 in every round, at its bound.
	roundsMet := map[string]int{
		"(b)/(a) CPU/1k at 64, GetWorkerTags": 1,
		"(b)/(a) p99 at 64, GetWorkerTags":    2,
		"(b)/(a) rps at 64, GetWorkerTags":    3,
		"(f)/(d) CPU/1k at 64, GetWorkerTags": 0, // information: no goal to meet
		"(b)/(a) CPU/1k at 64, AssignWorker":  3,
		"(d)/(b) CPU/1k at 64, AssignWorker":  0, // not measured
	}
	for _, g := range goals {
		if want, ok := roundsMet[g.Name]; ok && g.RoundsMet != want {
			t.Errorf("%s: RoundsMet %d of %d, want %d", g.Name, g.RoundsMet, g.Rounds, want)
		}
	}
}

func TestLoadLine(t *testing.T) {
	quiet := sample()
	quiet.Points[7].OtherCores = 0
	tests := []struct {
		name string
		r    *Report
		want []string
	}{
		{"quiet", quiet, []string{"0.50 / 0.40 / 0.30 at the start, 1.50 / 0.90 / 0.50 at the end",
			"median 0.00 cores, 0 of 15 points above 0.1", "a quiet machine"}},
		{"one busy point", sample(), []string{"1 of 15 points above 0.1, most 0.80 ((d) servicecenterd REST, fixed upstream GetWorkerTags, round 2)"}},
		{"busy", func() *Report {
			r := sample()
			for i := range r.Points {
				r.Points[i].OtherCores = 0.5
			}
			return r
		}(), []string{"median 0.50 cores, 15 of 15", "not quiet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.LoadLine()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("LoadLine = %q, lacks %q", got, w)
				}
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	r := sample()
	r.Footprints = []Footprint{{Server: "servicecenterd, SQLite", Targets: []string{"b", "d"},
		Start: Snapshot{Goroutines: 290, Threads: 9, RSSMiB: 40.4, PeakRSSMiB: 41},
		End:   Snapshot{Goroutines: 480, Threads: 12, RSSMiB: 120.2, PeakRSSMiB: 150.6}}}
	r.Replica = &Replica{PostgreSQL: "postgres://postgres@127.0.0.1:5432/postgres", Redis: "redis://127.0.0.1:6379/0",
		Database: "scdbench_x", Dropped: true, RedisPrefix: "scdbench:x:", RedisKeysSeen: []string{"bench:quota", "bench:replicas"}, RedisKeysAtEnd: 3, QuotaBackend: "redis",
		Flags: []string{"--redis-prefix", "scdbench:x:"}}
	md := r.Markdown()
	for _, want := range []string{
		"Test CPU (2 cores", "commit abc", "3 round(s)", "Machine load: load average",
		"- PostgreSQL + Redis (e, f): database scdbench_x",
		"on PostgreSQL database scdbench_x of postgres://postgres@127.0.0.1:5432/postgres (created for the run and dropped after it) " +
			"and Redis redis://127.0.0.1:6379/0 under the prefix scdbench:x: (keys seen after its points: `bench:quota`, `bench:replicas`; 3 left at the end, deleted); " +
			"its settings beyond (b)'s: `--redis-prefix scdbench:x:`; its /readyz said `quota: redis`.",
		"| (b) servicecenterd gRPC, fixed upstream | 64 | 9000 (8000–9500) | 4.000 (3.333–5.333) | 12.000 (10.000–16.000) | 0.060 (0.056–0.065) |",
		"| (e) servicecenterd gRPC, PostgreSQL + Redis | 64 | 8500 | 4.667 | 14.000 | 0.070 (0.063–0.070) |",
		"| method | conc | (b)/(a) rps | (b)/(a) p99 | (b)/(a) CPU/1k | (d)/(b) rps |",
		"| (b)/(a) CPU/1k at 64, GetWorkerTags | CPU per call against the floor (embedded store) | <= 1.10 | 1.30 | 1.00–1.40 (1 of 3 met) | no |",
		"| (f)/(d) CPU/1k at 64, GetWorkerTags | PostgreSQL + Redis against the embedded store, CPU per call (REST) | <= 1.15 | 0.70 |",
		"| (information) |",
		"First error of (d) servicecenterd REST, fixed upstream GetWorkerTags at 64: `HTTP 503: 'x'`",
		"| servicecenterd, SQLite | b, d | 290 | 480 | 9 | 12 | 40 | 120 | 151 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "(c)/(a) rps") {
		t.Error("the ratios show a column of a target not measured")
	}
	noReplica := sample()
	noReplica.Points = slices.DeleteFunc(noReplica.Points, func(p Point) bool { return p.Target == "e" || p.Target == "f" })
	if md := noReplica.Markdown(); !strings.Contains(md, "| <= 1.15 | – | – | not measured |") || strings.Contains(md, "(e)/(b) CPU/1k |") {
		t.Errorf("without (e) and (f):\n%s", md)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	b, err := sample().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if time.Duration(back.Settings.Duration) != 5*time.Second || len(back.Points) != 15 || back.Points[2].Errors != 2 ||
		back.Points[14].Round != 2 || back.Load.End[0] != 1.5 || back.Settings.Rounds != 3 {
		t.Fatalf("round trip: %+v", back)
	}
	if !strings.Contains(string(b), `"duration": "5s"`) {
		t.Errorf("duration not written as text:\n%s", b)
	}
}

// svgElements parses svg (it must be well-formed XML) and counts its
// elements by name.
func svgElements(t *testing.T, svg string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	n := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Local]++
		}
	}
}

// TestSVG: with several concurrencies one line per target and panel;
// with one, one bar per target and panel, and a whisker for the rounds.
func TestSVG(t *testing.T) {
	lines := sample()
	lines.Settings.Concurrencies = []int{1, 64}
	lines.Settings.Targets = []string{"a", "b"}
	lines.Points = append(lines.Points, pt(0, "a", tags, 1, 5000, 1, 0.05), pt(0, "b", tags, 1, 4000, 1.2, 0.08))
	svg := lines.SVG()
	if n := svgElements(t, svg); n["polyline"] != 2*2 {
		t.Errorf("%d polylines, want 4", n["polyline"])
	}
	if !strings.Contains(svg, "GetWorkerTags: requests/s") || !strings.Contains(svg, "concurrent callers") {
		t.Errorf("svg lacks its titles:\n%s", svg)
	}

	svg = sample().SVG()
	n := svgElements(t, svg)
	// rects: the background, a frame per panel (2) and a bar per target and panel (5 x 2).
	if n["polyline"] != 0 || n["rect"] != 1+2+10 {
		t.Errorf("one concurrency: %d polylines and %d rects, want 0 and 13", n["polyline"], n["rect"])
	}
	for _, want := range []string{"GetWorkerTags: p99 latency (ms) at 64 callers", ">(f)</text>", "(e) servicecenterd gRPC, PostgreSQL + Redis"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct{ v, max, step float64 }{
		{0, 1, 0.2}, {9000, 10000, 2000}, {16.3, 20, 5}, {0.9, 1, 0.2}, {12345, 15000, 5000}, {100, 100, 20},
	}
	for _, tt := range tests {
		if m, s := niceScale(tt.v); math.Abs(m-tt.max) > 1e-9 || math.Abs(s-tt.step) > 1e-9 {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.v, m, s, tt.max, tt.step)
		}
	}
}

func TestReplaceSection(t *testing.T) {
	doc := "# P\n\nintro\n" + BeginMarker + "\nold\n" + EndMarker + "\nafter\n"
	got, err := ReplaceSection([]byte(doc), "new table")
	if err != nil {
		t.Fatal(err)
	}
	want := "# P\n\nintro\n" + BeginMarker + "\nnew table\n" + EndMarker + "\nafter\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"no markers", EndMarker + BeginMarker, BeginMarker} {
		if _, err := ReplaceSection([]byte(bad), "x"); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}
