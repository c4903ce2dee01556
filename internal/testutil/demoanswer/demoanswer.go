// Package demoanswer holds the embedded emulator's demo answers of
// GetWorkerTags and AssignWorker as messages, for the benchmarks and
// tests of the parts that encode or hand on answers.
package demoanswer

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// GetWorkerTags is the emulator's demo answer of GetWorkerTags (about
// 200 bytes of protobuf, 500 of JSON): a map, a list and timestamps.
func GetWorkerTags() *scv1.GetWorkerTagsResponse {
	return &scv1.GetWorkerTagsResponse{
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
	}
}

// AssignWorker is the emulator's demo answer of AssignWorker.
func AssignWorker() *scv1.AssignWorkerResponse {
	return &scv1.AssignWorkerResponse{Success: true, TopRequestId: "efwa00000004"}
}
