// Package logbuffer writes log lines in batches: a Writer keeps the lines
// it is given in memory and hands them to the underlying writer within a
// flush interval of the first, at once when its buffer fills, and all of
// them on Flush and Close. A server that logs a line per call (or two:
// the call and its audit event) otherwise pays one write system call per
// line; batched, it pays one per interval. slog's handlers call Write
// once per line and never split one, so a batch is whole lines.
//
// What it costs: a line reaches the file up to one interval late, and the
// lines of the last interval are lost if the process is killed (SIGKILL,
// a crash outside the recovered calls); a graceful shutdown closes the
// Writer, which writes them. bufio.Writer is not enough on its own: it
// flushes only when full, so a quiet server's lines would wait without
// bound.
package logbuffer

import (
	"io"
	"sync"
	"time"
)

// Writer batches writes to an io.Writer. It is safe for concurrent use.
type Writer struct {
	out      io.Writer
	interval time.Duration
	size     int

	// flushing serialises writes to out, so that batches keep their order.
	flushing sync.Mutex

	mu     sync.Mutex
	buf    []byte
	spare  []byte
	armed  bool // a flush is scheduled
	timer  *time.Timer
	closed bool
}

// New returns a Writer that writes to out within interval of a line,
// or at once when size bytes are waiting. An interval of 0 or less
// writes every line at once (no batching).
func New(out io.Writer, interval time.Duration, size int) *Writer {
	if size < 1 {
		size = 1
	}
	w := &Writer{out: out, interval: interval, size: size}
	w.timer = time.AfterFunc(time.Hour, func() { _ = w.Flush() })
	w.timer.Stop()
	return w
}

// Write keeps a copy of p for the next batch. It returns the error of the
// underlying writer only when it wrote (the buffer was full, batching is
// off, or the Writer is closed); a failure in a timed flush is not
// reported (a log has nowhere to report it).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed || w.interval <= 0 {
		w.mu.Unlock()
		w.flushing.Lock()
		defer w.flushing.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= w.size
	if !full && !w.armed {
		w.armed = true
		w.timer.Reset(w.interval)
	}
	w.mu.Unlock()
	if full {
		if err := w.Flush(); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (w *Writer) Flush() error {
	w.flushing.Lock()
	defer w.flushing.Unlock()
	w.mu.Lock()
	batch := w.buf
	w.buf, w.spare = w.spare[:0], nil
	if w.armed {
		w.armed = false
		w.timer.Stop()
	}
	w.mu.Unlock()
	if len(batch) == 0 {
		w.keep(batch)
		return nil
	}
	_, err := w.out.Write(batch)
	w.keep(batch)
	return err
}

// keep makes batch the spare buffer for the next swap, unless it grew
// far beyond size (one huge line), so that a burst does not pin memory.
func (w *Writer) keep(batch []byte) {
	if cap(batch) > 4*w.size {
		return
	}
	w.mu.Lock()
	w.spare = batch[:0]
	w.mu.Unlock()
}

// Close writes what is waiting; later writes go straight to the
// underlying writer. It does not close the underlying writer. It may be
// called more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return w.Flush()
}
