package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestChanged(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "one")
	w, err := New(a, b) // b is missing
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"nothing", func() {}, false},
		{"same content rewritten", func() { write(a, "one") }, false},
		{"content changed, same size", func() { write(a, "two") }, true},
		{"reported once", func() {}, false},
		{"missing file appears", func() { write(b, "x") }, true},
		{"renamed over", func() { write(filepath.Join(dir, "c"), "three"); _ = os.Rename(filepath.Join(dir, "c"), a) }, true},
		{"removed", func() { _ = os.Remove(b) }, true},
	}
	for _, s := range steps {
		s.do()
		got, err := w.Changed()
		if err != nil || got != s.want {
			t.Fatalf("%s: changed %v (%v), want %v", s.name, got, err, s.want)
		}
	}
}

func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(dir); err == nil { // a directory cannot be read as a file
		t.Fatal("no error for a directory")
	}
}

func TestPoll(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		Poll(ctx, w, time.Millisecond, func() { changes <- struct{}{} }, func(error) {})
		close(done)
	}()
	// Replace the file in one step: os.WriteFile truncates, then writes,
	// and a poll between the two (a 1ms poller on a loaded machine) would
	// rightly see two changes.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("change not noticed")
	}
	cancel()
	<-done
	if len(changes) > 0 {
		t.Fatalf("%d extra changes reported", len(changes))
	}
}
