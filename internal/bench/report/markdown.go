package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// keyList is keys as `a`, `b`, or "none".
func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return "`" + strings.Join(keys, "`, `") + "`"
}

// rounds is how many rounds the run made (1 for older reports).
func (r *Report) rounds() int {
	n := r.Settings.Rounds
	for _, p := range r.Points {
		n = max(n, p.Round+1)
	}
	return max(1, n)
}

// cell formats a Stat as "median (min–max)", or the median alone when
// there was one value or they were all equal; "–" when there was none.
func cell(s Stat, format string) string {
	if s.N == 0 || math.IsNaN(s.Median) {
		return "–"
	}
	med := fmt.Sprintf(format, s.Median)
	lo, hi := fmt.Sprintf(format, s.Min), fmt.Sprintf(format, s.Max)
	if s.N == 1 || lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

// LoadLine is the sentence on the machine's load during the run: the
// load average at its start and end and the other load during its
// points.
func (r *Report) LoadLine() string {
	la := func(l [3]float64) string { return fmt.Sprintf("%.2f / %.2f / %.2f", l[0], l[1], l[2]) }
	var other []float64
	var worst Point
	for _, p := range r.Points {
		other = append(other, p.OtherCores)
		if p.OtherCores > worst.OtherCores {
			worst = p
		}
	}
	s := fmt.Sprintf("Machine load: load average (1 / 5 / 15 min) %s at the start, %s at the end", la(r.Load.Start), la(r.Load.End))
	if len(other) == 0 {
		return s + "."
	}
	st := Stats(other)
	busy := 0
	for _, o := range other {
		if o > 0.1 {
			busy++
		}
	}
	s += fmt.Sprintf("; other load during the points: median %.2f cores, %d of %d points above 0.1", st.Median, busy, len(other))
	if worst.OtherCores > 0 {
		s += fmt.Sprintf(", most %.2f (%s %s, round %d)", worst.OtherCores, TargetName(worst.Target), worst.Method, worst.Round+1)
	}
	switch {
	case st.Median <= 0.1 && busy*10 <= len(other):
		s += ": a quiet machine."
	default:
		s += ": the machine was not quiet; read CPU per call, not rps or p99."
	}
	return s
}

// Markdown is the report: the machine and settings, its load, every
// point (medians of the rounds), the ratios, the goals and the
// footprints.
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
		"TOP signature %s; servicecenterd environment %s. %d round(s): each round runs every point once, "+
		"the targets alternating in an order that changes from round to round. Command: `%s`.\n\n",
		time.Duration(r.Settings.Warmup), time.Duration(r.Settings.Duration), r.Settings.GRPCConns,
		r.Settings.SignMethod, env, r.rounds(), r.Settings.Command)
	b.WriteString(r.LoadLine() + "\n\n")
	if p := r.Replica; p != nil {
		dropped := "created for the run and dropped after it"
		if !p.Dropped {
			dropped = "created for the run, NOT dropped"
		}
		fmt.Fprintf(&b, "- (e) and (f): servicecenterd as one of many replicas, on PostgreSQL database %s of %s (%s) "+
			"and Redis %s under the prefix %s (keys seen after its points: %s; %d left at the end, deleted); "+
			"its settings beyond (b)'s: `%s`; its /readyz said `quota: %s`.\n", p.Database, p.PostgreSQL, dropped, p.Redis,
			p.RedisPrefix, keyList(p.RedisKeysSeen), p.RedisKeysAtEnd, strings.Join(p.Flags, " "), p.QuotaBackend)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 || r.Replica != nil {
		b.WriteString("\n")
	}

	b.WriteString("### Points\n\n")
	b.WriteString("Each number is the median of the rounds, their least and greatest in parentheses. " +
		"CPU s/1k is the CPU seconds (user + system) per 1,000 requests of the process under test; " +
		"upstream and generator CPU are shown apart and never counted in it. Other load is the CPU the rest of " +
		"the machine used during the point (from /proc/stat), in cores: above about 0.1 the point competed with it. " +
		"Errors are summed over the rounds.\n\n")
	for _, m := range r.methods() {
		fmt.Fprintf(&b, "**%s**\n\n", m)
		b.WriteString("| target | conc | rps | p50 ms | p99 ms | CPU s/1k | upstream CPU s/1k | generator CPU s/1k | other load, cores | errors |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, t := range r.targets() {
			for _, c := range r.concurrencies() {
				s, ok := r.Summary(t, m, c)
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %.3f | %.3f | %s | %d |\n",
					TargetName(t), c, cell(s.RPS, "%.0f"), cell(s.P50Ms, "%.3f"), cell(s.P99Ms, "%.3f"),
					cell(s.CPUPer1k, "%.3f"), s.UpstreamCPUPer1k.Median, s.GeneratorCPUPer1k.Median,
					cell(s.OtherCores, "%.2f"), s.Errors)
			}
		}
		b.WriteString("\n")
	}
	for _, m := range r.methods() {
		for _, t := range r.targets() {
			for _, c := range r.concurrencies() {
				if s, ok := r.Summary(t, m, c); ok && s.FirstError != "" {
					fmt.Fprintf(&b, "First error of %s %s at %d: `%s`\n\n", TargetName(t), m, c,
						strings.ReplaceAll(s.FirstError, "`", "'"))
				}
			}
		}
	}

	r.writeRatios(&b)
	r.writeGoals(&b)
	r.writeFootprints(&b)
	return b.String()
}

// writeRatios writes the ratios that could be computed (a column whose
// targets did not run is left out).
func (r *Report) writeRatios(b *strings.Builder) {
	var specs []ratioSpec
	for _, s := range ratioSpecs() {
		for _, m := range r.methods() {
			if r.anyRatio(s, m) {
				specs = append(specs, s)
				break
			}
		}
	}
	b.WriteString("### Ratios\n\n")
	b.WriteString("A ratio is computed in each round from that round's two points; the table shows the median of the per-round ratios.\n\n")
	b.WriteString("| method | conc |")
	for _, s := range specs {
		fmt.Fprintf(b, " %s |", s.name)
	}
	b.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(specs)) + "\n")
	for _, m := range r.methods() {
		for _, c := range r.concurrencies() {
			fmt.Fprintf(b, "| %s | %d |", m, c)
			for _, s := range specs {
				if rt := r.ratio(s, m, c); rt.OK {
					fmt.Fprintf(b, " %.2f |", rt.Value)
				} else {
					b.WriteString(" – |")
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
}

func (r *Report) anyRatio(s ratioSpec, m string) bool {
	for _, c := range r.concurrencies() {
		if r.ratio(s, m, c).OK {
			return true
		}
	}
	return false
}

func (r *Report) writeGoals(b *strings.Builder) {
	fmt.Fprintf(b, "### Goals\n\nIssue 16's goals at %d callers: got is the median of the per-round ratios, "+
		"rounds their range and how many rounds' own ratios meet the goal. A goal met in only some rounds "+
		"may be met in one run and not in the next.\n\n", GoalConcurrency)
	b.WriteString("| goal | what | want | got | rounds | met |\n|---|---|---|---:|---:|---|\n")
	for _, g := range r.Goals() {
		got, rng, met := "–", "–", "no"
		if !math.IsNaN(g.Got) {
			got = fmt.Sprintf("%.2f", g.Got)
			rng = fmt.Sprintf("%.2f–%.2f (%d)", g.Min, g.Max, g.Rounds)
			if !g.Info {
				rng = fmt.Sprintf("%.2f–%.2f (%d of %d met)", g.Min, g.Max, g.RoundsMet, g.Rounds)
			}
		}
		switch {
		case g.Info:
			met = "(information)"
		case math.IsNaN(g.Got):
			met = "not measured"
		case g.Met:
			met = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", g.Name, g.What, g.Want, got, rng, met)
	}
	b.WriteString("\n")
}

func (r *Report) writeFootprints(b *strings.Builder) {
	if len(r.Footprints) == 0 {
		return
	}
	b.WriteString("### Footprint\n\n")
	b.WriteString("servicecenterd's goroutines (`go_goroutines` of its /metrics), OS threads and RSS (VmRSS of " +
		"/proc/PID/status; peak: VmHWM) after it started, before any load, and after its last point.\n\n")
	b.WriteString("| server | targets | goroutines after start | after load | threads after start | after load | " +
		"RSS MiB after start | after load | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range r.Footprints {
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %d | %.0f | %.0f | %.0f |\n", f.Server, strings.Join(f.Targets, ", "),
			f.Start.Goroutines, f.End.Goroutines, f.Start.Threads, f.End.Threads, f.Start.RSSMiB, f.End.RSSMiB,
			max(f.Start.PeakRSSMiB, f.End.PeakRSSMiB))
	}
	b.WriteString("\n")
}
