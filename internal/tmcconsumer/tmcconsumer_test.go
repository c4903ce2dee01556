package tmcconsumer_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/tmcconsumer"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestResolveURL(t *testing.T) {
	const emu = "ws://127.0.0.1:8800/"
	tests := []struct {
		url      string
		embedded bool
		want     string
		err      bool
	}{
		{"", true, emu, false},
		{"", false, "", false},
		{"off", true, "", false},
		{"production", false, tmcconsumer.ProductionURL, false},
		{"sandbox", true, tmcconsumer.SandboxURL, false},
		{"wss://mc.example.com/", false, "wss://mc.example.com/", false},
		{"ws://127.0.0.1:1/", false, "ws://127.0.0.1:1/", false},
		{"http://mc.api.taobao.com/", false, "", true},
		{"ws:///", false, "", true},
		{"prod", false, "", true},
	}
	for _, tt := range tests {
		got, err := tmcconsumer.Settings{URL: tt.url}.ResolveURL(tt.embedded, emu)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ResolveURL(%q, embedded %v) = %q, %v; want %q, error %v", tt.url, tt.embedded, got, err, tt.want, tt.err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		s    tmcconsumer.Settings
		want string
	}{
		{tmcconsumer.Settings{Group: "default"}, ""},
		{tmcconsumer.Settings{Group: "default", Topics: []string{"tmall_fuwu_WorkcardInfo"}}, ""},
		{tmcconsumer.Settings{Group: ""}, "--tmc-group"},
		{tmcconsumer.Settings{Group: "a b"}, "--tmc-group"},
		{tmcconsumer.Settings{Group: "g", Topics: []string{""}}, "--tmc-topics"},
		{tmcconsumer.Settings{Group: "g", URL: "mc.api.taobao.com"}, "--tmc-url"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.s, err, tt.want)
		}
	}
}

// flaky fails its first inserts, as a store that is briefly unreachable.
type flaky struct {
	events.Store
	failures atomic.Int64
}

func (f *flaky) InsertEvent(ctx context.Context, e events.Event) (int64, bool, error) {
	if f.failures.Add(-1) >= 0 {
		return 0, false, errors.New("store unreachable")
	}
	return f.Store.InsertEvent(ctx, e)
}

// TestStoreFailureRedelivers: a message the store refuses is reported
// failed to the channel, which redelivers it; once the store takes it, it
// is confirmed and stored once.
func TestStoreFailureRedelivers(t *testing.T) {
	emu := testserver.StartEmulator(t, topemu.Config{TMCRetryDelay: 10 * time.Millisecond})
	st := &flaky{Store: storetest.SQLite(t)}
	st.failures.Store(2)
	log, err := events.NewLog(events.LogConfig{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tmcconsumer.New(tmcconsumer.Settings{Group: "default"}, tmcconsumer.Config{
		URL: emu.TMCURL(), AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	id, err := emu.PublishTMC(topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: `{"result":"{}"}`})
	if err != nil {
		t.Fatal(err)
	}
	var rec topemu.TMCMessageRecord
	testserver.WaitFor(t, "the message confirmed", func() bool {
		recs, err := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
		if err != nil || len(recs) != 1 {
			return false
		}
		rec = recs[0]
		return true
	})
	if rec.ID != id || rec.Failures != 2 {
		t.Fatalf("record %+v, want message %d failed twice, then confirmed", rec, id)
	}
	evs, err := st.EventsAfter(context.Background(), events.Query{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].MessageID != id || evs[0].Topic != "tmall_fuwu_WorkcardInfo" {
		t.Fatalf("stored %+v, %v; want message %d once", evs, err, id)
	}
}
