package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// Page sizes of ListAuditEvents.
const (
	DefaultAuditPageSize = 100
	MaxAuditPageSize     = 1000
)

// Audit implements servicecenter.v1.AuditService over an audit.Lister.
type Audit struct {
	scv1.UnimplementedAuditServiceServer
	events audit.Lister
	logger *slog.Logger
}

var _ scv1.AuditServiceServer = (*Audit)(nil)

// NewAudit returns the AuditService handlers reading events.
func NewAudit(events audit.Lister, logger *slog.Logger) *Audit {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Audit{events: events, logger: logger}
}

// ListAuditEvents lists events newest first. The page token carries the
// id of the last event of the previous page and a fingerprint of the
// filters, so that a token is refused with other filters.
func (h *Audit) ListAuditEvents(ctx context.Context, req *scv1.ListAuditEventsRequest) (*scv1.ListAuditEventsResponse, error) {
	q := audit.Query{Client: req.GetClient(), Limit: int(req.GetPageSize())}
	if q.Limit == 0 {
		q.Limit = DefaultAuditPageSize
	}
	q.Limit = min(q.Limit, MaxAuditPageSize)
	if rpc := req.GetRpc(); rpc != "" {
		q.RPC = "/" + strings.TrimPrefix(rpc, "/")
	}
	if req.GetStartTime() != nil {
		q.From = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.To = req.GetEndTime().AsTime()
	}
	if o := req.GetOutcome(); o != "" {
		code, ok := codeByName(o)
		if !ok {
			return nil, badAuditField("outcome", "not a gRPC status code name")
		}
		q.Outcomes = []codes.Code{code}
	}
	fp := filterFingerprint(req)
	if tok := req.GetPageToken(); tok != "" {
		before, ok := parsePageToken(tok, fp)
		if !ok {
			return nil, badAuditField("page_token", "not a page token of this query; start again without page_token")
		}
		q.BeforeID = before
	}
	want := q.Limit
	q.Limit++ // one more tells whether there is a next page
	events, err := h.events.List(ctx, q)
	if err != nil {
		return nil, Status(ctx, h.logger, err)
	}
	resp := &scv1.ListAuditEventsResponse{}
	if len(events) > want {
		events = events[:want]
		resp.NextPageToken = pageToken(events[want-1].ID, fp)
	}
	for _, e := range events {
		resp.Events = append(resp.Events, eventToProto(e))
	}
	return resp, nil
}

func eventToProto(e audit.Event) *scv1.AuditEvent {
	out := &scv1.AuditEvent{
		Id: e.ID, Time: timestamppb.New(e.Time), Client: e.Client, Rpc: e.RPC,
		Outcome: codeName(e.Outcome), TopRequestId: e.TOPRequestID, RequestId: e.RequestID, TraceId: e.TraceID,
	}
	for _, t := range e.Targets {
		out.Targets = append(out.Targets, &scv1.AuditTarget{Kind: t.Kind, Id: t.ID})
	}
	return out
}

// codeName is a code's name as in google.rpc.Code (CANCELLED, not
// grpc-go's Canceled); "CODE_<n>" for a number it does not name.
func codeName(c codes.Code) string {
	if name, ok := code.Code_name[int32(c)]; ok {
		return name
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// codeByName is the code a google.rpc.Code name names.
func codeByName(name string) (codes.Code, bool) {
	c, ok := code.Code_value[name]
	return codes.Code(c), ok
}

// filterFingerprint hashes the request's filters (not its paging).
func filterFingerprint(req *scv1.ListAuditEventsRequest) [8]byte {
	h := sha256.New()
	for _, part := range []string{
		req.GetStartTime().AsTime().String(), strconv.FormatBool(req.GetStartTime() != nil),
		req.GetEndTime().AsTime().String(), strconv.FormatBool(req.GetEndTime() != nil),
		req.GetClient(), "/" + strings.TrimPrefix(req.GetRpc(), "/"), req.GetOutcome(),
	} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var fp [8]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// pageToken encodes "events before id" for the query with fingerprint fp.
func pageToken(id int64, fp [8]byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	copy(b[8:], fp[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func parsePageToken(tok string, fp [8]byte) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 16 || [8]byte(b[8:]) != fp {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(b[:8]))
	return id, id > 0
}

func badAuditField(field, why string) error {
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: field, Description: why})
}
