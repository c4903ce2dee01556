package topemu

import (
	"slices"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestHandlersAreTheMethodTable: the emulator answers exactly the methods
// of top.Methods, no more, no fewer.
func TestHandlersAreTheMethodTable(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	var handled, want []string
	for name, h := range e.handlers() {
		if h == nil {
			t.Errorf("%s has a nil handler", name)
		}
		handled = append(handled, name)
	}
	for _, m := range top.Methods() {
		want = append(want, m.Name)
		if !e.knows(m.Name) {
			t.Errorf("%s is not known", m.Name)
		}
	}
	slices.Sort(handled)
	slices.Sort(want)
	if !slices.Equal(handled, want) {
		t.Fatalf("handlers %v, want top.Methods %v", handled, want)
	}
	if e.knows("taobao.no.such.method") {
		t.Fatal("an unknown method is known")
	}
}
