package service

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// fakeTOP answers every call with one body, decoded as TOP's answers are.
type fakeTOP struct {
	body    string
	invoked []top.Method
}

func (f *fakeTOP) Invoke(_ context.Context, m top.Method, req top.Request, resp top.Response) error {
	f.invoked = append(f.invoked, m)
	if req.APIMethod() != m.Name {
		return errors.New("request of " + req.APIMethod() + " sent as " + m.Name)
	}
	apiErr, err := top.DecodeEnvelope(m.Name, []byte(f.body), resp)
	if apiErr != nil {
		return apiErr
	}
	return err
}

// handlerCalls calls every handler that calls TOP once, with a valid request.
func handlerCalls(d Deps) map[string]func(ctx context.Context) error {
	wc, wk, lg := NewWorkcards(d), NewWorkers(d), NewLogistics(d)
	return map[string]func(ctx context.Context) error{
		"AssignWorker": func(ctx context.Context) error {
			_, err := wc.AssignWorker(ctx, &scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 2})
			return err
		},
		"BindVirtualPhone": func(ctx context.Context) error {
			_, err := wc.BindVirtualPhone(ctx, &scv1.BindVirtualPhoneRequest{WorkcardId: 1})
			return err
		},
		"UpdateWorker": func(ctx context.Context) error {
			_, err := wk.UpdateWorker(ctx, &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "n", Phone: "13812345678"}})
			return err
		},
		"GetWorkerTags": func(ctx context.Context) error {
			_, err := wk.GetWorkerTags(ctx, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13812345678"})
			return err
		},
		"SyncUserBlacklist": func(ctx context.Context) error {
			_, err := lg.SyncUserBlacklist(ctx, &scv1.SyncUserBlacklistRequest{SupplierId: "s", OperateType: 1,
				Blacklist: []*scv1.BlacklistEntry{{Mobile: "13812345678"}}})
			return err
		},
	}
}

// TestEveryMethodHasAHandler walks the handlers that call TOP through a
// fake invoker: together they call every method of top.Methods, each with
// the table's own descriptor, and each notes TOP's request id on success
// and on a business failure, which becomes the failure's status.
func TestEveryMethodHasAHandler(t *testing.T) {
	const ok = `{"result":{"success":true},"user_blacklist_response":{"success":true,"code":"200"},"request_id":"rid-ok"}`
	const refused = `{"result":{"success":false,"msg_code":"1008"},"user_blacklist_response":{"success":false,"code":"409"},"request_id":"rid-no"}`
	fake := &fakeTOP{}
	calls := handlerCalls(Deps{TOP: fake, Logger: slog.New(slog.DiscardHandler)})
	for name, callRPC := range calls {
		t.Run(name, func(t *testing.T) {
			fake.body = ok
			c := &rpc.Call{}
			if err := callRPC(rpc.WithCall(context.Background(), c)); err != nil || c.TOPRequestID != "rid-ok" {
				t.Fatalf("success: %v, noted %q", err, c.TOPRequestID)
			}
			fake.body = refused
			c = &rpc.Call{}
			err := callRPC(rpc.WithCall(context.Background(), c))
			st := status.Convert(err)
			var reason string
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.GetReason()
				}
			}
			if st.Code() == codes.OK || c.TOPRequestID != "rid-no" || len(reason) < len("TOP_BIZ_") || reason[:8] != "TOP_BIZ_" {
				t.Fatalf("business failure: %v (reason %q), noted %q", err, reason, c.TOPRequestID)
			}
		})
	}
	var got, want []string
	for _, m := range fake.invoked {
		desc, known := top.Lookup(m.Name)
		if !known || desc.Session != m.Session || desc.Idempotency != m.Idempotency {
			t.Errorf("invoked %+v, not the table's %+v", m, desc)
		}
		if !slices.Contains(got, m.Name) {
			got = append(got, m.Name)
		}
	}
	for _, m := range top.Methods() {
		want = append(want, m.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("handlers call %v, want every method %v", got, want)
	}
}
