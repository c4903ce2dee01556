package events

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// withClients starts a server whose clients file has an operator that may
// call everything and a client "fuwu" that may only use EventService, for
// tmall_fuwu_WorkcardInfo only.
func withClients(t *testing.T) *testserver.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clients.yaml")
	yaml := "clients:\n" +
		"  - name: operator\n    token_sha256: [" + auth.HashToken("operator-token") + "]\n    allow: ['*']\n" +
		"  - name: fuwu\n    token_sha256: [" + auth.HashToken("fuwu-token") + "]\n    allow: ['servicecenter.v1.EventService/*']\n" +
		"    topics: [tmall_fuwu_WorkcardInfo]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = path })
}

func as(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// TestTopicAllowList: a client sees only the topics its entry lists: its
// watch and list leave the others out, and asking for one is
// PERMISSION_DENIED; an operator without topics sees all.
func TestTopicAllowList(t *testing.T) {
	ts := withClients(t)
	fuwu := watchCtx(t, as("fuwu-token"), ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))})
	operator := watchCtx(t, as("operator-token"), ts.Events, &scv1.WatchEventsRequest{AfterCursor: new(int64(0))})
	publish(t, ts.Emulator, "tmall_fuwu_WorkcardStatusUpdate", 1)
	publish(t, ts.Emulator, "tmall_fuwu_WorkcardInfo", 1)
	for _, want := range []string{"tmall_fuwu_WorkcardStatusUpdate", "tmall_fuwu_WorkcardInfo"} {
		if e := operator.next(t, 5*time.Second); e.GetTopic() != want {
			t.Fatalf("operator: %s, want %s", e.GetTopic(), want)
		}
	}
	if e := fuwu.next(t, 5*time.Second); e.GetTopic() != "tmall_fuwu_WorkcardInfo" || e.GetCursor() != 2 {
		t.Fatalf("fuwu: event %d of %s, want event 2 of tmall_fuwu_WorkcardInfo only", e.GetCursor(), e.GetTopic())
	}
	fuwu.quiet(t, 200*time.Millisecond)

	list, err := ts.Events.ListEvents(as("fuwu-token"), &scv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 1 || list.GetEvents()[0].GetTopic() != "tmall_fuwu_WorkcardInfo" {
		t.Fatalf("fuwu's list: %v %v, want the WorkcardInfo event only", list, err)
	}
	denied := watchCtx(t, as("fuwu-token"), ts.Events, &scv1.WatchEventsRequest{Topics: []string{"tmall_fuwu_WorkcardStatusUpdate"}})
	if err := <-denied.err; status.Code(err) != codes.PermissionDenied {
		t.Fatalf("fuwu watching another topic: %v, want PERMISSION_DENIED", err)
	}
	if _, err := ts.Events.ListEvents(as("fuwu-token"), &scv1.ListEventsRequest{Topics: []string{"x"}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("fuwu listing another topic: %v, want PERMISSION_DENIED", err)
	}
	if _, err := ts.Events.ListEvents(context.Background(), &scv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a token: %v, want UNAUTHENTICATED", err)
	}
}

// TestAckAudited: AckEvents leaves an audit event naming the consumer
// and the cursor, with the client.
func TestAckAudited(t *testing.T) {
	ts := withClients(t)
	publish(t, ts.Emulator, "tmall_fuwu_WorkcardInfo", 1)
	testserver.WaitFor(t, "the message stored", func() bool {
		r, err := ts.Events.ListEvents(as("operator-token"), &scv1.ListEventsRequest{})
		return err == nil && r.GetLastCursor() == 1
	})
	if _, err := ts.Events.AckEvents(as("fuwu-token"), &scv1.AckEventsRequest{Consumer: "dispatch", Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	var got *scv1.AuditEvent
	testserver.WaitFor(t, "the audit event", func() bool {
		r, err := ts.Audit.ListAuditEvents(as("operator-token"), &scv1.ListAuditEventsRequest{Rpc: scv1.EventService_AckEvents_FullMethodName})
		if err != nil || len(r.GetEvents()) == 0 {
			return false
		}
		got = r.GetEvents()[0]
		return true
	})
	targets := map[string]string{}
	for _, tg := range got.GetTargets() {
		targets[tg.GetKind()] = tg.GetId()
	}
	if got.GetClient() != "fuwu" || got.GetOutcome() != "OK" || targets["event_consumer"] != "dispatch" || targets["event_cursor"] != "1" {
		t.Fatalf("audit event %v, want fuwu's OK ack of dispatch at 1", got)
	}

	// Consumer names are the client's own: the operator's "dispatch" is
	// another consumer, which never acknowledged.
	w := watchCtx(t, as("operator-token"), ts.Events, &scv1.WatchEventsRequest{Consumer: "dispatch"})
	if w.after != 0 {
		t.Fatalf("the operator's dispatch starts after %d, want 0 (fuwu's ack is fuwu's)", w.after)
	}
	if w := watchCtx(t, as("fuwu-token"), ts.Events, &scv1.WatchEventsRequest{Consumer: "dispatch"}); w.after != 1 {
		t.Fatalf("fuwu's dispatch starts after %d, want 1", w.after)
	}
}

// TestWatchREST: over REST, WatchEvents is newline-delimited JSON, one
// {"result": {"event": ...}} per event, typed payload included.
func TestWatchREST(t *testing.T) {
	ts := testserver.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+ts.HTTPAddr()+"/v1/events:watch?after_cursor=0&topics=tmall_fuwu_WorkcardStatusUpdate", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ids := publish(t, ts.Emulator, "tmall_fuwu_WorkcardStatusUpdate", 2)
	lines := bufio.NewScanner(resp.Body)
	for i, id := range ids {
		if !lines.Scan() {
			t.Fatalf("stream ended after %d lines: %v", i, lines.Err())
		}
		var line struct {
			Result struct {
				Event struct {
					Cursor    string `json:"cursor"`
					MessageID string `json:"message_id"`
					Update    *struct {
						WorkcardID string `json:"workcard_id"`
						Action     string `json:"action"`
					} `json:"tmall_fuwu_workcard_status_update"`
				} `json:"event"`
			} `json:"result"`
		}
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			t.Fatalf("line %d %q: %v", i, lines.Bytes(), err)
		}
		e := line.Result.Event
		if e.MessageID != jsonInt(id) || e.Update == nil || e.Update.Action != "create" {
			t.Fatalf("line %d: %s, want message %d with its typed status update", i, lines.Bytes(), id)
		}
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
