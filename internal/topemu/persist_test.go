package topemu_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestStateFileSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "emulator.db")
	first := newEnv(t, topemu.Config{StateFile: file})
	for _, method := range []string{top.MethodAssignWorker, top.MethodWorkerUpdate, top.MethodBlacklistSync} {
		if _, body := first.call(demoCalls(t)[method]); !strings.Contains(string(body), `"success":true`) {
			t.Fatalf("%s: %s", method, body)
		}
	}
	if _, body := first.call(blacklistReq("del-1", 2, [2]string{"13111111111", ""})); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("delete: %s", body)
	}
	_, body := first.call(demoCalls(t)[top.MethodVirtualPhoneBind])
	var bound top.VirtualPhoneBindResponse
	ok(t, top.MethodVirtualPhoneBind, body, &bound)
	before := mustJSON(t, first.emu.Snapshot())
	statsBefore := first.emu.Stats().Blacklist
	first.srv.Close()
	if err := first.emu.Close(); err != nil {
		t.Fatal(err)
	}

	// A new emulator on the same file, given another seed: the file wins.
	other := topemu.DemoState()
	other.Workers = other.Workers[:1]
	second := newEnv(t, topemu.Config{StateFile: file, Seed: other})
	if got := mustJSON(t, second.emu.Snapshot()); got != before {
		t.Fatalf("state after restart:\n%s\nwant\n%s", got, before)
	}
	if !strings.Contains(before, `"worker_id":1234567`) || !strings.Contains(before, `"status":"assigned"`) || strings.Contains(before, `"13111111111"`) {
		t.Fatalf("the changes were not made: %s", before)
	}
	// Idempotency records survive: a replay changes nothing, a conflict is refused.
	if _, body := second.call(demoCalls(t)[top.MethodBlacklistSync]); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("replay after restart: %s", body)
	}
	if _, body := second.call(blacklistReq("del-1", 1, [2]string{"13111111111", "1"})); string(mustOutcome(t, body)) != "false/409" {
		t.Fatalf("conflict after restart: %s", body)
	}
	after := second.emu.Stats().Blacklist
	if after.SyncRequestsApplied != statsBefore.SyncRequestsApplied || after.EntriesApplied != statsBefore.EntriesApplied ||
		after.AppliesByMobile != nil || after.MaxAppliesPerMobile != 2 {
		t.Fatalf("stats after restart %+v, before %+v", after, statsBefore)
	}
	// The virtual number is kept.
	_, body = second.call(demoCalls(t)[top.MethodVirtualPhoneBind])
	var again top.VirtualPhoneBindResponse
	ok(t, top.MethodVirtualPhoneBind, body, &again)
	if again.Result.ResultData != bound.Result.ResultData {
		t.Fatalf("virtual number %s after restart, was %s", again.Result.ResultData, bound.Result.ResultData)
	}
	// And a new one does not reuse it.
	second.clock.Advance(25 * time.Hour)
	_, body = second.call(demoCalls(t)[top.MethodVirtualPhoneBind])
	ok(t, top.MethodVirtualPhoneBind, body, &again)
	if again.Result.ResultData == bound.Result.ResultData {
		t.Fatal("expired number handed out again")
	}

	// Reset goes back to the seed saved in the file (the demo), and that
	// is saved too.
	second.admin(http.MethodPost, "/_emulator/reset", nil, nil)
	second.srv.Close()
	if err := second.emu.Close(); err != nil {
		t.Fatal(err)
	}
	third := newEnv(t, topemu.Config{StateFile: file})
	if got, want := mustJSON(t, third.emu.Snapshot()), mustJSON(t, topemu.DemoState()); got != want {
		t.Fatalf("after reset and restart:\n%s", got)
	}
	if st := third.emu.Stats().Blacklist; st.SyncRequestsApplied != 0 || st.EntriesApplied != 0 {
		t.Fatalf("reset kept sync records: %+v", st)
	}

	// PUT state is saved as the new seed.
	third.admin(http.MethodPut, "/_emulator/state", other, nil)
	third.srv.Close()
	if err := third.emu.Close(); err != nil {
		t.Fatal(err)
	}
	fourth := newEnv(t, topemu.Config{StateFile: file})
	fourth.call(demoCalls(t)[top.MethodBlacklistSync])
	fourth.admin(http.MethodPost, "/_emulator/reset", nil, nil)
	if got := fourth.emu.Snapshot(); len(got.Workers) != 1 {
		t.Fatalf("reset after restart did not use the loaded seed: %d workers", len(got.Workers))
	}
}

func TestStateFileBadPath(t *testing.T) {
	if _, err := topemu.New(topemu.Config{StateFile: filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")}); err == nil {
		t.Fatal("state file in a missing directory accepted")
	}
	if _, err := topemu.New(topemu.Config{StateFile: "x?.db"}); err == nil {
		t.Fatal("state file with ? accepted")
	}
}

func TestInvalidSeedRefused(t *testing.T) {
	bad := topemu.DemoState()
	bad.Workcards[0].ServiceStoreID = 777
	if _, err := topemu.New(topemu.Config{Seed: bad}); err == nil || !strings.Contains(err.Error(), "service_store_id") {
		t.Fatalf("bad seed: %v", err)
	}
}
