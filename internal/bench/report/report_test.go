package report

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// sample is a report with the floor and servicecenterd at two
// concurrencies of one method.
func sample() *Report {
	return &Report{
		Date:    time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Machine: Machine{CPU: "Test CPU", Cores: 2, GOMAXPROCS: 2, MemoryGiB: 24, Kernel: "6.1", GoVersion: "go1.26", Commit: "abc"},
		Settings: Settings{Duration: Duration(10 * time.Second), Warmup: Duration(2 * time.Second),
			Concurrencies: []int{1, 64}, Targets: []string{"a", "b", "d"}, Methods: []string{"GetWorkerTags"}, GRPCConns: 1,
			SignMethod: "hmac-sha256", Command: "make bench"},
		Points: []Point{
			{Target: "a", Method: "GetWorkerTags", Concurrency: 1, Requests: 1000, RPS: 5000, P50Ms: 0.2, P99Ms: 1, CPUPer1k: 0.05},
			{Target: "b", Method: "GetWorkerTags", Concurrency: 1, Requests: 1000, RPS: 4000, P50Ms: 0.25, P99Ms: 1.2, CPUPer1k: 0.08},
			{Target: "a", Method: "GetWorkerTags", Concurrency: 64, Requests: 1000, RPS: 10000, P50Ms: 6, P99Ms: 10, CPUPer1k: 0.05},
			{Target: "b", Method: "GetWorkerTags", Concurrency: 64, Requests: 1000, RPS: 9000, P50Ms: 7, P99Ms: 16, CPUPer1k: 0.07},
			{Target: "d", Method: "GetWorkerTags", Concurrency: 64, Requests: 1000, RPS: 4500, P50Ms: 12, P99Ms: 30, CPUPer1k: 0.15,
				Errors: 2, FirstError: "HTTP 503: `x`"},
		},
	}
}

func TestGoals(t *testing.T) {
	goals := sample().Goals()
	want := []struct {
		name string
		got  float64
		met  bool
	}{
		{"(b)/(a) CPU/1k at 64, GetWorkerTags", 1.4, false},
		{"(b)/(a) p99 at 64, GetWorkerTags", 1.6, false},
		{"(b)/(a) rps at 64, GetWorkerTags", 0.9, true},
		{"(d)/(b) CPU/1k at 64, GetWorkerTags", 0.15 / 0.07, false},
	}
	if len(goals) != len(want) {
		t.Fatalf("%d goals, want %d: %+v", len(goals), len(want), goals)
	}
	for i, w := range want {
		g := goals[i]
		if g.Name != w.name || math.Abs(g.Got-w.got) > 1e-9 || g.Met != w.met {
			t.Errorf("goal %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestGoalsWithoutPoints(t *testing.T) {
	r := sample()
	r.Points = r.Points[:2] // nothing at 64
	for _, g := range r.Goals() {
		if !math.IsNaN(g.Got) || g.Met {
			t.Errorf("goal without points: %+v", g)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := sample().Markdown()
	for _, want := range []string{
		"Test CPU (2 cores", "commit abc",
		"| (b) servicecenterd gRPC, fixed upstream | 64 | 9000 | 7.000 | 16.000 | 0.070 |",
		"| GetWorkerTags | 64 | 0.90 | 1.60 | 1.40 | – | 0.50 |",
		"| (d)/(b) CPU/1k at 64, GetWorkerTags | <= 1.40 | 2.14 | no |",
		"First error of (d) servicecenterd REST, fixed upstream GetWorkerTags at 64: `HTTP 503: 'x'`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
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
	if time.Duration(back.Settings.Duration) != 10*time.Second || len(back.Points) != 5 || back.Points[4].Errors != 2 {
		t.Fatalf("round trip: %+v", back)
	}
	if !strings.Contains(string(b), `"duration": "10s"`) {
		t.Errorf("duration not written as text:\n%s", b)
	}
}

// TestSVG checks that the chart is well-formed XML with one line per
// target and panel.
func TestSVG(t *testing.T) {
	svg := sample().SVG()
	dec := xml.NewDecoder(strings.NewReader(svg))
	lines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 3*2 { // a, b, d in the rps and the p99 panel
		t.Errorf("%d polylines, want 6", lines)
	}
	for _, want := range []string{"GetWorkerTags: requests/s", "GetWorkerTags: p99 latency (ms)", "(c) servicecenterd"} {
		if strings.Contains(svg, want) != (want != "(c) servicecenterd") {
			t.Errorf("svg and %q", want)
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
