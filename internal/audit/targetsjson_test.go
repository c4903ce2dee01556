package audit

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestTargetsJSON: TargetsJSON writes what encoding/json writes, on the
// direct path and on the fallback, and ParseTargetsJSON reads it back.
func TestTargetsJSON(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		want    string
	}{
		{"none", nil, "[]"},
		{"empty", []Target{}, "[]"},
		{"assign", []Target{{"workcard", "2345678"}, {"worker_mobile", "132****8901"}},
			`[{"kind":"workcard","id":"2345678"},{"kind":"worker_mobile","id":"132****8901"}]`},
		{"empty strings", []Target{{"", ""}}, `[{"kind":"","id":""}]`},
		{"quote", []Target{{"k", `a"b`}}, `[{"kind":"k","id":"a\"b"}]`},
		{"backslash", []Target{{"k", `a\b`}}, `[{"kind":"k","id":"a\\b"}]`},
		{"html", []Target{{"k", "<a&b>"}}, `[{"kind":"k","id":"\u003ca\u0026b\u003e"}]`},
		{"control", []Target{{"k\n", "\x7f\x01"}}, `[{"kind":"k\n","id":"` + "\x7f" + `\u0001"}]`},
		{"unicode and invalid UTF-8", []Target{{"k", "é\u2028\xff"}}, `[{"kind":"k","id":"é\u2028\ufffd"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TargetsJSON(tt.targets)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("TargetsJSON = %s, want %s", got, tt.want)
			}
			if lib := libraryJSON(t, tt.targets); got != lib {
				t.Errorf("TargetsJSON = %s, encoding/json %s", got, lib)
			}
			back, err := ParseTargetsJSON(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.targets) == 0 && back != nil {
				t.Errorf("ParseTargetsJSON(%s) = %v, want nil", got, back)
			}
		})
	}
	if _, err := ParseTargetsJSON("[{"); err == nil {
		t.Error("ParseTargetsJSON of broken JSON succeeded")
	}
}

// FuzzTargetsJSON: TargetsJSON equals encoding/json's text for any
// kinds and ids, and valid UTF-8 comes back unchanged.
func FuzzTargetsJSON(f *testing.F) {
	f.Add("workcard", "2345678", "worker_mobile", "132****8901")
	f.Add("k", `"\<>&`, "\x00\x1f\x7f", "\xff\u2029")
	f.Fuzz(func(t *testing.T, k1, id1, k2, id2 string) {
		targets := []Target{{k1, id1}, {k2, id2}}
		got, err := TargetsJSON(targets)
		if err != nil {
			t.Fatal(err)
		}
		if lib := libraryJSON(t, targets); got != lib {
			t.Fatalf("TargetsJSON = %s, encoding/json %s", got, lib)
		}
		back, err := ParseTargetsJSON(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != 2 {
			t.Fatalf("%d targets back, want 2", len(back))
		}
		if verbatimJSON(k1+id1+k2+id2) && fmt.Sprint(back) != fmt.Sprint(targets) {
			t.Fatalf("back %v, want %v", back, targets)
		}
	})
}

func libraryJSON(t *testing.T, targets []Target) string {
	t.Helper()
	stored := make([]jsonTarget, len(targets))
	for i, x := range targets {
		stored[i] = jsonTarget(x)
	}
	raw, err := json.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// BenchmarkTargetsJSON: an AssignWorker event's targets.
func BenchmarkTargetsJSON(b *testing.B) {
	targets := []Target{{"workcard", "2345678"}, {"worker_mobile", "132****8901"}}
	b.Run("TargetsJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TargetsJSON(targets); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalTargets(targets); err != nil {
				b.Fatal(err)
			}
		}
	})
}
