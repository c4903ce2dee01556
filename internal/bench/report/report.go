// Package report turns the points `make bench` measured into its
// results: JSON, a Markdown report (tables of every point, the ratios
// between targets and the goals), an SVG chart of rps and p99
// against concurrency, and the generated section of docs/performance.md.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Target ids, as in the issue: the floor, servicecenterd against the
// fixed upstream (gRPC), against the embedded emulator (gRPC), and REST
// through the gateway against the fixed upstream.
const (
	TargetFloor    = "a"
	TargetUpstream = "b"
	TargetEmulator = "c"
	TargetREST     = "d"
)

// TargetName describes target id t in tables and the chart's legend.
func TargetName(t string) string {
	switch t {
	case TargetFloor:
		return "(a) floor: grpc-go + one POST"
	case TargetUpstream:
		return "(b) servicecenterd gRPC, fixed upstream"
	case TargetEmulator:
		return "(c) servicecenterd gRPC, emulator"
	case TargetREST:
		return "(d) servicecenterd REST, fixed upstream"
	}
	return t
}

// Report is one `make bench` run.
type Report struct {
	// Date is when the run started.
	Date time.Time `json:"date"`
	// Machine describes where it ran.
	Machine Machine `json:"machine"`
	// Settings are the run's knobs.
	Settings Settings `json:"settings"`
	// Points are the measurements, in the order they ran.
	Points []Point `json:"points"`
}

// Machine describes the machine a run used.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	Commit     string `json:"commit"`
}

// Settings are a run's knobs.
type Settings struct {
	Duration      Duration `json:"duration"`
	Warmup        Duration `json:"warmup"`
	Concurrencies []int    `json:"concurrencies"`
	Targets       []string `json:"targets"`
	Methods       []string `json:"methods"`
	GRPCConns     int      `json:"grpc_conns"`
	SignMethod    string   `json:"sign_method"`
	ServerEnv     []string `json:"server_env,omitempty"`
	Command       string   `json:"command"`
}

// Duration is a time.Duration that reads and writes as "10s" in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Point is one target, method and concurrency.
type Point struct {
	Target      string `json:"target"`
	Method      string `json:"method"`
	Concurrency int    `json:"concurrency"`
	Requests    int64  `json:"requests"`
	Errors      int64  `json:"errors"`
	FirstError  string `json:"first_error,omitempty"`
	// RPS is successful requests per second.
	RPS float64 `json:"rps"`
	// Latencies of successful requests, in milliseconds.
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MeanMs float64 `json:"mean_ms"`
	// CPUPer1k is the CPU seconds per 1,000 requests of the process under
	// test (the floor, or servicecenterd, emulator included for (c)).
	CPUPer1k float64 `json:"cpu_s_per_1k"`
	// UpstreamCPUPer1k is the fixed upstream's (0 for (c)).
	UpstreamCPUPer1k float64 `json:"upstream_cpu_s_per_1k"`
	// GeneratorCPUPer1k is the load generator's own, for reference.
	GeneratorCPUPer1k float64 `json:"generator_cpu_s_per_1k"`
	// OtherCores is CPU the rest of the machine used meanwhile, in cores:
	// load that competed with the benchmark.
	OtherCores float64 `json:"other_cores"`
}

// Find returns the point for target, method and concurrency.
func (r *Report) Find(target, method string, conc int) (Point, bool) {
	for _, p := range r.Points {
		if p.Target == target && p.Method == method && p.Concurrency == conc {
			return p, true
		}
	}
	return Point{}, false
}

// methods returns the methods measured, in the order of the settings.
func (r *Report) methods() []string {
	if len(r.Settings.Methods) > 0 {
		return r.Settings.Methods
	}
	var ms []string
	for _, p := range r.Points {
		if !slices.Contains(ms, p.Method) {
			ms = append(ms, p.Method)
		}
	}
	return ms
}

func (r *Report) concurrencies() []int {
	if len(r.Settings.Concurrencies) > 0 {
		return r.Settings.Concurrencies
	}
	var cs []int
	for _, p := range r.Points {
		if !slices.Contains(cs, p.Concurrency) {
			cs = append(cs, p.Concurrency)
		}
	}
	slices.Sort(cs)
	return cs
}

func (r *Report) targets() []string {
	if len(r.Settings.Targets) > 0 {
		return r.Settings.Targets
	}
	var ts []string
	for _, p := range r.Points {
		if !slices.Contains(ts, p.Target) {
			ts = append(ts, p.Target)
		}
	}
	slices.Sort(ts)
	return ts
}

// Ratio is one target's metric over another's at one method and
// concurrency.
type Ratio struct {
	Method      string
	Concurrency int
	// Name is e.g. "(b)/(a) rps".
	Name  string
	Value float64
	// OK is false when a point is missing or the divisor is 0.
	OK bool
}

// ratioSpec is one ratio the report shows.
type ratioSpec struct {
	name     string
	num, den string
	metric   func(Point) float64
}

func rps(p Point) float64 { return p.RPS }
func p99(p Point) float64 { return p.P99Ms }
func cpu(p Point) float64 { return p.CPUPer1k }

// ratioSpecs are the ratios the report shows, in its columns' order.
func ratioSpecs() []ratioSpec {
	return []ratioSpec{
		{"(b)/(a) rps", TargetUpstream, TargetFloor, rps},
		{"(b)/(a) p99", TargetUpstream, TargetFloor, p99},
		{"(b)/(a) CPU/1k", TargetUpstream, TargetFloor, cpu},
		{"(c)/(a) rps", TargetEmulator, TargetFloor, rps},
		{"(d)/(b) rps", TargetREST, TargetUpstream, rps},
		{"(d)/(b) p99", TargetREST, TargetUpstream, p99},
		{"(d)/(b) CPU/1k", TargetREST, TargetUpstream, cpu},
	}
}

// ratio computes one ratio.
func (r *Report) ratio(s ratioSpec, method string, conc int) Ratio {
	out := Ratio{Method: method, Concurrency: conc, Name: s.name}
	num, ok1 := r.Find(s.num, method, conc)
	den, ok2 := r.Find(s.den, method, conc)
	if !ok1 || !ok2 || s.metric(den) == 0 || num.Requests == 0 {
		return out
	}
	out.Value, out.OK = s.metric(num)/s.metric(den), true
	return out
}

// Goal is one of the targets checked against a run.
type Goal struct {
	// Name says what is compared, e.g. "(b)/(a) rps at 64, GetWorkerTags".
	Name string
	// Want is the bound as text, e.g. ">= 0.80".
	Want string
	// Got is the measured ratio (NaN when it could not be computed).
	Got float64
	// Met says whether Got satisfies Want.
	Met bool
}

// GoalConcurrency is the concurrency the goals are stated at.
const GoalConcurrency = 64

// cpuGoal is issue 16's bound on (b)/(a) CPU per call, by method: an
// audited (mutating) call may pay for its durable event.
var cpuGoal = map[string]float64{"GetWorkerTags": 1.10, "AssignWorker": 1.30}

// Goals checks issue 16's goals for each method at 64 callers: (b)/(a)
// CPU per call <= 1.10 (1.30 for AssignWorker, which writes an audit
// event), (b)/(a) p99 <= 1.3, (b)/(a) rps >= 0.85, and REST's CPU per call
// (d)/(b) <= 1.4.
func (r *Report) Goals() []Goal {
	type bound struct {
		spec  int // index in ratioSpecs
		atMin bool
		limit float64
	}
	specs := ratioSpecs()
	var goals []Goal
	for _, m := range r.methods() {
		cpuLimit, ok := cpuGoal[m]
		if !ok {
			cpuLimit = cpuGoal["GetWorkerTags"]
		}
		bounds := []bound{{2, false, cpuLimit}, {1, false, 1.3}, {0, true, 0.85}, {6, false, 1.4}}
		for _, b := range bounds {
			s := specs[b.spec]
			rt := r.ratio(s, m, GoalConcurrency)
			g := Goal{Name: fmt.Sprintf("%s at %d, %s", s.name, GoalConcurrency, m), Got: math.NaN()}
			if b.atMin {
				g.Want = fmt.Sprintf(">= %.2f", b.limit)
			} else {
				g.Want = fmt.Sprintf("<= %.2f", b.limit)
			}
			if rt.OK {
				g.Got = rt.Value
				g.Met = b.atMin && rt.Value >= b.limit || !b.atMin && rt.Value <= b.limit
			}
			goals = append(goals, g)
		}
	}
	return goals
}

// Markdown is the report: the machine and settings, every point, the
// ratios and the goals.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s on %s (%d cores, GOMAXPROCS %d, %d GiB, Linux %s, %s), commit %s.\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 UTC"), r.Machine.CPU, r.Machine.Cores, r.Machine.GOMAXPROCS,
		r.Machine.MemoryGiB, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.Commit)
	env := "default"
	if len(r.Settings.ServerEnv) > 0 {
		env = strings.Join(r.Settings.ServerEnv, " ")
	}
	fmt.Fprintf(&b, "Each point: %s warm-up, then %s measured; closed loop; gRPC over %d connection(s); "+
		"TOP signature %s; servicecenterd environment %s. Command: `%s`.\n\n",
		time.Duration(r.Settings.Warmup), time.Duration(r.Settings.Duration), r.Settings.GRPCConns,
		r.Settings.SignMethod, env, r.Settings.Command)

	b.WriteString("### Points\n\n")
	b.WriteString("CPU s/1k is the CPU seconds (user + system) per 1,000 requests of the process under test; " +
		"upstream and generator CPU are shown apart and never counted in it. Other load is the CPU the rest of " +
		"the machine used during the point (from /proc/stat), in cores: above about 0.1 the point competed with it.\n\n")
	for _, m := range r.methods() {
		fmt.Fprintf(&b, "**%s**\n\n", m)
		b.WriteString("| target | conc | rps | p50 ms | p99 ms | CPU s/1k | upstream CPU s/1k | generator CPU s/1k | other load, cores | errors |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, t := range r.targets() {
			for _, c := range r.concurrencies() {
				p, ok := r.Find(t, m, c)
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %d |\n",
					TargetName(t), c, p.RPS, p.P50Ms, p.P99Ms, p.CPUPer1k, p.UpstreamCPUPer1k, p.GeneratorCPUPer1k, p.OtherCores, p.Errors)
			}
		}
		b.WriteString("\n")
	}
	for _, p := range r.Points {
		if p.FirstError != "" {
			fmt.Fprintf(&b, "First error of %s %s at %d: `%s`\n\n", TargetName(p.Target), p.Method, p.Concurrency,
				strings.ReplaceAll(p.FirstError, "`", "'"))
		}
	}

	b.WriteString("### Ratios\n\n")
	specs := ratioSpecs()
	b.WriteString("| method | conc |")
	for _, s := range specs {
		fmt.Fprintf(&b, " %s |", s.name)
	}
	b.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(specs)) + "\n")
	for _, m := range r.methods() {
		for _, c := range r.concurrencies() {
			fmt.Fprintf(&b, "| %s | %d |", m, c)
			for _, s := range specs {
				if rt := r.ratio(s, m, c); rt.OK {
					fmt.Fprintf(&b, " %.2f |", rt.Value)
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
	}

	b.WriteString("\n### Goals\n\n| goal | want | got | met |\n|---|---|---:|---|\n")
	for _, g := range r.Goals() {
		got, met := "–", "no"
		if !math.IsNaN(g.Got) {
			got = fmt.Sprintf("%.2f", g.Got)
		}
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Name, g.Want, got, met)
	}
	return b.String()
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report json: %w", err)
	}
	return append(b, '\n'), nil
}
