package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	panelW, panelH = 440, 250
	padLeft        = 70
	padRight       = 20
	padTop         = 34
	padBottom      = 42
	legendH        = 70
)

// color is the line colour of a target.
func color(target string) string {
	switch target {
	case TargetFloor:
		return "#444444"
	case TargetUpstream:
		return "#1f77b4"
	case TargetEmulator:
		return "#2ca02c"
	case TargetREST:
		return "#ff7f0e"
	case TargetReplica:
		return "#d62728"
	case TargetReplicaREST:
		return "#8c564b"
	}
	return "#9467bd"
}

// SVG draws the report as an SVG image: one row per method, with requests
// per second (left) and p99 latency (right), medians of the rounds. With
// several concurrencies each target is a line against concurrency
// (evenly spaced: they grow roughly geometrically); with one, each target
// is a bar, with the rounds' range as a whisker.
func (r *Report) SVG() string {
	methods, concs, targets := r.methods(), r.concurrencies(), r.targets()
	width := 2 * panelW
	height := legendH + len(methods)*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">servicecenterd against the floor of two network hops (%s)</text>`+"\n",
		padLeft, html.EscapeString(r.Date.UTC().Format("2006-01-02")))
	for i, t := range targets {
		x := padLeft + (i%2)*(width/2-padLeft/2)
		y := 40 + (i/2)*18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"/>`, x, y-4, x+24, y-4, color(t))
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y, html.EscapeString(TargetName(t)))
	}
	rpsOf := func(s Summary) Stat { return s.RPS }
	p99Of := func(s Summary) Stat { return s.P99Ms }
	for row, m := range methods {
		y0 := legendH + row*panelH
		suffix := ""
		if len(concs) == 1 {
			suffix = fmt.Sprintf(" at %d callers", concs[0])
		}
		r.panel(&b, 0, y0, m+": requests/s"+suffix, m, concs, targets, rpsOf)
		r.panel(&b, panelW, y0, m+": p99 latency (ms)"+suffix, m, concs, targets, p99Of)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// panel draws one metric of one method at (x0, y0): lines against
// concurrency, or bars when there is one concurrency.
func (r *Report) panel(b *strings.Builder, x0, y0 int, title, method string, concs []int, targets []string, metric func(Summary) Stat) {
	left, top := x0+padLeft, y0+padTop
	w, h := panelW-padLeft-padRight, panelH-padTop-padBottom
	bars := len(concs) == 1
	var top0 float64
	for _, t := range targets {
		for _, c := range concs {
			if s, ok := r.Summary(t, method, c); ok {
				st := metric(s)
				top0 = math.Max(top0, st.Median)
				if bars {
					top0 = math.Max(top0, st.Max)
				}
			}
		}
	}
	ymax, step := niceScale(top0)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, y0+padTop-12, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, top, w, h)
	for v := 0.0; v <= ymax+step/2; v += step {
		y := float64(top+h) - v/ymax*float64(h)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`, left, y, left+w, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, tickLabel(v, step))
	}
	yOf := func(v float64) float64 { return float64(top+h) - v/ymax*float64(h) }
	if bars {
		r.bars(b, left, top, w, h, method, concs[0], targets, metric, yOf)
		return
	}
	xOf := func(i int) float64 {
		return float64(left) + 20 + float64(i)*float64(w-40)/float64(len(concs)-1)
	}
	for i, c := range concs {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", xOf(i), top+h+16, c)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">concurrent callers</text>`+"\n", left+w/2, top+h+34)
	for _, t := range targets {
		var pts []string
		for i, c := range concs {
			s, ok := r.Summary(t, method, c)
			if !ok {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(i), yOf(metric(s).Median)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", color(t), strings.Join(pts, " "))
		for _, pt := range pts {
			xy := strings.SplitN(pt, ",", 2)
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`, xy[0], xy[1], color(t))
		}
		b.WriteString("\n")
	}
}

// bars draws one bar per target measured (the median) with a whisker
// from the least to the greatest round.
func (r *Report) bars(b *strings.Builder, left, top, w, h int, method string, conc int, targets []string,
	metric func(Summary) Stat, yOf func(float64) float64) {
	slot := float64(w) / float64(len(targets))
	for i, t := range targets {
		s, ok := r.Summary(t, method, conc)
		if !ok {
			continue
		}
		st := metric(s)
		cx := float64(left) + slot*(float64(i)+0.5)
		bw := slot * 0.6
		y := yOf(st.Median)
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, cx-bw/2, y, bw, float64(top+h)-y, color(t))
		if st.N > 1 {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1.5"/>`,
				cx, yOf(st.Min), cx, yOf(st.Max))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">(%s)</text>`+"\n", cx, top+h+16, html.EscapeString(t))
	}
}

// niceScale returns an axis maximum at or above v and a tick step, both
// 1, 2 or 5 times a power of ten, with 4 to 10 ticks.
func niceScale(v float64) (ymax, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.2
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	ymax = math.Ceil(v/step-1e-9) * step
	return ymax, step
}

// tickLabel formats an axis value with as many decimals as step needs.
func tickLabel(v, step float64) string {
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
