package answerjson

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/servicecenterd/servicecenterd/internal/testutil/demoanswer"
)

// BenchmarkAnswer encodes the emulator's demo answers of GetWorkerTags
// and AssignWorker with Append and with protojson, side by side.
func BenchmarkAnswer(b *testing.B) {
	answers := []struct {
		name string
		m    proto.Message
	}{
		{"GetWorkerTags", demoanswer.GetWorkerTags()},
		{"AssignWorker", demoanswer.AssignWorker()},
	}
	for _, a := range answers {
		b.Run(a.name+"/answerjson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := Append(make([]byte, 0, 512), a.m); !ok {
					b.Fatal("not encoded")
				}
			}
		})
		b.Run(a.name+"/protojson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Options().Marshal(a.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
