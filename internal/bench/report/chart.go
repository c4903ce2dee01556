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
	}
	return "#9467bd"
}

// SVG draws the report as an SVG image: one row per method, with requests
// per second (left) and p99 latency (right) against concurrency, one line
// per target. Concurrencies are evenly spaced (they grow roughly
// geometrically).
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
	for row, m := range methods {
		y0 := legendH + row*panelH
		r.panel(&b, 0, y0, m+": requests/s", m, concs, targets, rps)
		r.panel(&b, panelW, y0, m+": p99 latency (ms)", m, concs, targets, p99)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// panel draws one metric of one method at (x0, y0).
func (r *Report) panel(b *strings.Builder, x0, y0 int, title, method string, concs []int, targets []string, metric func(Point) float64) {
	left, top := x0+padLeft, y0+padTop
	w, h := panelW-padLeft-padRight, panelH-padTop-padBottom
	var top0 float64
	for _, t := range targets {
		for _, c := range concs {
			if p, ok := r.Find(t, method, c); ok {
				top0 = math.Max(top0, metric(p))
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
	xOf := func(i int) float64 {
		if len(concs) == 1 {
			return float64(left) + float64(w)/2
		}
		return float64(left) + 20 + float64(i)*float64(w-40)/float64(len(concs)-1)
	}
	for i, c := range concs {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", xOf(i), top+h+16, c)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">concurrent callers</text>`+"\n", left+w/2, top+h+34)
	for _, t := range targets {
		var pts []string
		for i, c := range concs {
			p, ok := r.Find(t, method, c)
			if !ok {
				continue
			}
			y := float64(top+h) - metric(p)/ymax*float64(h)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(i), y))
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
