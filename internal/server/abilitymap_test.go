package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestAbilityMapShapes runs GetWorkerTags against a gateway that answers
// ability_map in each shape TOP has been seen to use.
func TestAbilityMapShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		text      string
		wantLevel scv1.AbilityLevel
		wantExtra string
		wantRaw   bool
	}{
		{"fragment without braces, as in the API document", `"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4}`, scv1.AbilityLevel_ABILITY_LEVEL_EXPERT, "", false},
		{"whole object, numbers as strings, unknown attribute", `{"tv_install":{"effective":"true","serviceCode":"tv_install","abilityLevel":"3","region":"east"}}`, scv1.AbilityLevel_ABILITY_LEVEL_SENIOR, "east", false},
		{"not JSON: the call still succeeds with the raw text", `tv_install=4;ac=2`, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"success":true,"result_data":{"vip":"true","ability_map":%s}},"request_id":"fixed-1"}}`,
					strconv.Quote(tt.text))
			}))
			t.Cleanup(upstream.Close)
			ts := testserver.Start(t, func(c *server.Config) {
				c.TOP.URL, c.TOP.AppKey, c.TOP.AppSecret, c.TOP.Session = upstream.URL, "k", "s", "sess"
			})
			resp, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq)
			if err != nil {
				t.Fatal(err)
			}
			d := resp.GetResultData()
			if !d.GetVip() || resp.GetTopRequestId() != "fixed-1" {
				t.Fatalf("resp %v", resp)
			}
			if tt.wantRaw {
				if d.GetRawAbilityMap() != tt.text || len(d.GetAbilityMap()) != 0 {
					t.Fatalf("raw %q map %v", d.GetRawAbilityMap(), d.GetAbilityMap())
				}
				return
			}
			tv := d.GetAbilityMap()["tv_install"]
			if tv.GetAbilityLevel() != tt.wantLevel || !tv.GetEffective() || d.GetRawAbilityMap() != "" {
				t.Fatalf("tv_install %v raw %q", tv, d.GetRawAbilityMap())
			}
			if got := tv.GetExtra().GetFields()["region"].GetStringValue(); got != tt.wantExtra {
				t.Fatalf("extra region %q, want %q", got, tt.wantExtra)
			}
		})
	}
}
