package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress shows how far a phase is: on a terminal a bar redrawn in place
// (at most 10 times a second), otherwise a plain line at every 10% step
// (every 5 seconds when the total is unknown).
type progress struct {
	w     io.Writer
	tty   bool
	label string
	now   func() time.Time // the clock (tests set their own)
	last  time.Time
	step  int64
	drawn bool
	// holdFull keeps a full count for final: a sync job whose last chunk
	// is acknowledged is still running until it is marked SUCCEEDED, and
	// a "100% ... running" line before that misleads.
	holdFull bool
}

const barWidth = 30

func newProgress(w io.Writer, tty bool, label string) *progress {
	return &progress{w: w, tty: tty, label: label, now: time.Now, step: -1}
}

// update shows done of total (total <= 0: unknown) and a text; with
// holdFull, a full count is left for final.
func (p *progress) update(done, total int64, text string) {
	if p.holdFull && total > 0 && done >= total {
		return
	}
	p.show(done, total, text)
}

// final shows the last state, whatever holdFull says.
func (p *progress) final(done, total int64, text string) { p.show(done, total, text) }

func (p *progress) show(done, total int64, text string) {
	pct := int64(-1)
	if total > 0 {
		pct = min(100, done*100/total)
	}
	now := p.now()
	if p.tty {
		if p.drawn && now.Sub(p.last) < 100*time.Millisecond && pct != 100 {
			return
		}
		p.last, p.drawn = now, true
		if pct < 0 {
			fmt.Fprintf(p.w, "\r\033[K%-9s %s", p.label, text)
			return
		}
		fill := int(pct) * barWidth / 100
		fmt.Fprintf(p.w, "\r\033[K%-9s [%s%s] %3d%%  %s", p.label, strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), pct, text)
		return
	}
	if pct < 0 {
		if now.Sub(p.last) < 5*time.Second {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "%s: %s\n", p.label, text)
		return
	}
	if step := pct / 10; step > p.step {
		p.step = step
		fmt.Fprintf(p.w, "%s: %3d%%  %s\n", p.label, pct, text)
	}
}

// done ends the bar's line.
func (p *progress) done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
