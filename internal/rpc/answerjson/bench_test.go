package answerjson

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// BenchmarkAnswer encodes the emulator's demo answers of GetWorkerTags
// and AssignWorker with Append and with protojson, side by side.
func BenchmarkAnswer(b *testing.B) {
	answers := []struct {
		name string
		m    proto.Message
	}{
		{"GetWorkerTags", &scv1.GetWorkerTagsResponse{
			ResultData: &scv1.WorkerTag{
				AbilityMap: map[string]*scv1.Ability{
					"ac_install": {ServiceCode: "ac_install", AbilityLevel: scv1.AbilityLevel_ABILITY_LEVEL_INTERMEDIATE},
					"tv_install": {Effective: true, ServiceCode: "tv_install", AbilityLevel: scv1.AbilityLevel_ABILITY_LEVEL_EXPERT},
				},
				Vip: true, BigPromotion: true,
				HomeWorkerTags: []*scv1.WorkerManageRule{{
					Name:      "vip",
					BeginTime: timestamppb.New(time.Date(2024, 12, 20, 9, 42, 1, 0, time.UTC)),
					EndTime:   timestamppb.New(time.Date(2030, 12, 31, 15, 59, 59, 0, time.UTC)),
				}},
			},
			Success: true, TopRequestId: "efwa00000001",
		}},
		{"AssignWorker", &scv1.AssignWorkerResponse{Success: true, TopRequestId: "efwa00000004"}},
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
