package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/entryfile"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// importMethod is the RPC a file upload becomes.
const importMethod = scv1.LogisticsService_ImportUserBlacklist_FullMethodName

// registerBulkHTTP adds the file upload to POST /v1/blacklist/jobs:import
// (JSON bodies go on to the gateway) and lets job watches stream longer
// than the server's write timeout. gateway is the gateway behind its
// gatewayBodies guard.
func (s *Server) registerBulkHTTP(mux *http.ServeMux, gw *gwruntime.ServeMux, gateway http.Handler) {
	mux.Handle("POST /v1/blacklist/jobs:import", s.tracing.HTTPHandler(s.uploadHandler(gw, gateway), "upload"))
	// The list route, registered so that ServeMux does not redirect it to
	// the subtree below.
	mux.Handle("GET /v1/blacklist/jobs", gateway)
	mux.Handle("GET /v1/blacklist/jobs/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":watch") {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		gateway.ServeHTTP(w, r)
	}))
}

// Upload batching.
const (
	// uploadBatch is the most entries in one ImportUserBlacklist message.
	uploadBatch = 1000
	// uploadBatchBytes is the most bytes of entries in one message (or
	// half of --grpc-max-recv-msg-size, if less).
	uploadBatchBytes = 1 << 20
)

// uploadHandler serves uploads of a CSV (text/csv) or NDJSON
// (application/x-ndjson) file of entries, the job's settings in the query
// (supplier_id, operate_type upsert|delete|1|2, default upsert;
// service_type, ability_type). It streams the file, as it arrives, into
// ImportUserBlacklist over the gateway's connection to our gRPC server,
// with the caller's credentials (uploadMetadata), so the upload passes the
// same interceptors as any call. application/json goes to the gateway (a
// stream of JSON requests, --http-max-body-size); any other content type
// is refused.
//
// The caller is authenticated and authorized before any of the body is
// read; a refused caller's call goes to gRPC without a body, to be denied
// there. A file is bounded: --http-max-upload-size in all,
// entryfile.MaxRecord a record, and it must keep arriving
// (--http-upload-min-rate, --http-upload-timeout). An upload refused for
// its content type, settings, size, pace or syntax ends its stream with
// that refusal (uploadRefusals), which drops the import: no job is left,
// and the call is logged and audited with the refusal's code.
func (s *Server) uploadHandler(gw *gwruntime.ServeMux, gateway http.Handler) http.Handler {
	client := scv1.NewLogisticsServiceClient(s.gatewayConn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
			gateway.ServeHTTP(w, r)
			return
		}
		u := &upload{s: s, gw: gw, w: w, r: r, rc: http.NewResponseController(w)}
		u.serve(client, ct)
	})
}

// upload is one file upload being served.
type upload struct {
	s      *Server
	gw     *gwruntime.ServeMux
	w      http.ResponseWriter
	r      *http.Request
	rc     *http.ResponseController
	key    string // in uploadRefusals
	stream grpc.ClientStreamingClient[scv1.ImportUserBlacklistRequest, scv1.ImportUserBlacklistResponse]
	body   *uploadReader // nil until the body is read
}

func (u *upload) serve(client scv1.LogisticsServiceClient, contentType string) {
	cfg := u.s.cfg.HTTP
	_, denied := u.s.authn.Authenticate(importMethod, auth.HTTPCredentials(u.r))
	u.key = u.s.uploads.register()
	defer u.s.uploads.release(u.key)
	md := uploadMetadata(u.r)
	md.Set(uploadKeyHeader, u.key)
	if denied != nil {
		md.Set(auth.GatewayDeniedHeader, denied.Reason)
	}
	// Not the request's context: net/http cancels that when a read of the
	// body fails (as when it is too slow), and the stream must then end
	// with the refusal, not as CANCELLED. A client that goes away fails
	// the reads, and the stream is cancelled then.
	ctx, cancel := context.WithCancel(context.WithoutCancel(u.r.Context()))
	defer cancel()
	var err error
	if u.stream, err = client.ImportUserBlacklist(metadata.NewOutgoingContext(ctx, md)); err != nil {
		u.stream = nil
		u.answer(err)
		return
	}
	if denied != nil {
		u.end(nil) // gRPC denies the call, without its body
		return
	}
	format, ok := entryfile.FormatOfContentType(contentType)
	if !ok {
		u.end(contentTypeError(contentType))
		return
	}
	settings, err := uploadSettings(u.r.URL.Query())
	if err != nil {
		u.end(err)
		return
	}
	if u.r.ContentLength > cfg.MaxUploadSize {
		u.end(uploadTooLarge(cfg.MaxUploadSize))
		return
	}
	if err := u.send(&scv1.ImportUserBlacklistRequest{Settings: settings}); err != nil {
		u.answer(err)
		return
	}
	u.body = newUploadReader(u.r.Body, u.rc, cfg)
	rd := entryfile.NewReader(u.body, format)
	budget := min(uploadBatchBytes, u.s.cfg.GRPC.MaxRecvMsgSize/2)
	batch, size := make([]*scv1.BlacklistImportEntry, 0, uploadBatch), 0
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if refusal := fileRefusal(err, u.body); refusal != nil {
				u.end(refusal)
				return
			}
			cancel() // the client went away: the import is dropped
			u.answer(status.Error(codes.InvalidArgument, "reading the upload failed"))
			return
		}
		n := proto.Size(e)
		if len(batch) == uploadBatch || (len(batch) > 0 && size+n > budget) {
			if err := u.send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
				u.answer(err)
				return
			}
			batch, size = batch[:0], 0 // Send has marshalled the message
		}
		batch, size = append(batch, e), size+n
	}
	if len(batch) > 0 {
		if err := u.send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
			u.answer(err)
			return
		}
	}
	resp, err := u.stream.CloseAndRecv()
	if err != nil {
		u.answer(err)
		return
	}
	_, marshaler := gwruntime.MarshalerForRequest(u.gw, u.r)
	buf, err := marshaler.Marshal(resp)
	if err != nil {
		u.answer(err)
		return
	}
	_ = u.rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
	if md, err := u.stream.Header(); err == nil {
		for _, h := range []string{rpc.RequestIDHeader, idempotency.ReplayedHeader} {
			if v := md.Get(h); len(v) > 0 {
				u.w.Header().Set(h, v[0])
			}
		}
	}
	u.w.Header().Set("Content-Type", marshaler.ContentType(resp))
	u.w.WriteHeader(http.StatusOK)
	_, _ = u.w.Write(buf)
}

// send sends m. When the server has ended the stream, the error is its
// status; when m could not be sent (over --grpc-max-recv-msg-size), the
// stream ends with that refusal.
func (u *upload) send(m *scv1.ImportUserBlacklistRequest) error {
	err := u.stream.Send(m)
	if err == nil {
		return nil
	}
	if !errors.Is(err, io.EOF) {
		u.s.uploads.refuse(u.key, err)
	}
	if _, err = u.stream.CloseAndRecv(); err == nil {
		err = status.Error(codes.Internal, "the import ended before the upload did")
	}
	return err
}

// end ends the stream with refusal, which the server answers (when it has
// not failed the stream already): the import is dropped, and the call is
// logged and audited with the refusal. A nil refusal ends a stream the
// server refuses anyway (a denied caller).
func (u *upload) end(refusal error) {
	if refusal != nil {
		u.s.uploads.refuse(u.key, refusal)
	}
	_, err := u.stream.CloseAndRecv()
	if err == nil {
		// The refusal did not reach the server: our bug. The answer must
		// not claim a refusal the store does not reflect.
		err = status.Error(codes.Internal, "an upload refused by the HTTP layer was imported")
	}
	u.answer(err)
}

// answer answers err as the gateway would, with the stream's header (our
// x-request-id) once the stream ended. A body not read to its end closes
// the connection after the answer.
func (u *upload) answer(err error) {
	ctx := u.r.Context()
	if u.stream != nil {
		if md, herr := u.stream.Header(); herr == nil {
			ctx = gwruntime.NewServerMetadataContext(ctx, gwruntime.ServerMetadata{HeaderMD: md})
		}
	}
	if u.r.ProtoMajor == 1 && u.r.ContentLength != 0 && (u.body == nil || !u.body.eof) {
		u.w.Header().Set("Connection", "close")
	}
	_ = u.rc.SetWriteDeadline(time.Now().Add(u.s.cfg.HTTP.WriteTimeout))
	_, marshaler := gwruntime.MarshalerForRequest(u.gw, u.r)
	gwruntime.HTTPError(ctx, u.gw, marshaler, u.w, u.r, err)
}

// fileRefusal is the refusal of an upload whose reading failed with err:
// the body's own (too large, too slow), the file's syntax, or a record too
// long; nil when the client went away.
func fileRefusal(err error, body *uploadReader) error {
	var (
		se *entryfile.SyntaxError
		tl *entryfile.TooLargeError
	)
	switch {
	case body.err != nil:
		return body.err
	case errors.As(err, &se):
		return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{
			Field: "body", Description: se.Error(), Reason: "upload.malformed",
		})
	case errors.As(err, &tl):
		return tooLarge(fmt.Sprintf("line %d: record longer than %d bytes (the most a CSV record or NDJSON line may have)", tl.Line, tl.Limit),
			int64(tl.Limit), "record")
	}
	return nil
}

// contentTypeError refuses an upload of another content type.
func contentTypeError(ct string) error {
	got := "none"
	if ct != "" {
		p := prefix(ct, 64)
		if got = strconv.Quote(p); len(p) < len(ct) {
			got += "…"
		}
	}
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{
		Field: "Content-Type",
		Description: "must be text/csv (a CSV file), application/x-ndjson (an NDJSON file; also application/ndjson, " +
			"application/jsonl, application/x-jsonlines) or application/json (ImportUserBlacklistRequest messages); got " + got,
		Reason: "upload.content_type",
	})
}

func uploadTooLarge(limit int64) error {
	return tooLarge(fmt.Sprintf("upload larger than %d bytes (--http-max-upload-size)", limit), limit, "--http-max-upload-size")
}

// uploadMetadata is what the gateway passes to gRPC for a REST call, for
// an upload: the caller's request id and Authorization header, and the
// SANs of its verified client certificate (believed on the gateway's
// internal connection only), so that the upload is authenticated,
// authorized, rate-limited and audited as the same call over gRPC.
func uploadMetadata(r *http.Request) metadata.MD {
	md := metadata.MD{}
	if id := r.Header.Get(rpc.RequestIDHeader); id != "" {
		md.Set(rpc.RequestIDHeader, id)
	}
	if v := r.Header.Values(idempotency.KeyHeader); len(v) > 0 {
		md.Set(idempotency.KeyHeader, v...)
	}
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		md.Set("authorization", v...)
	}
	for k, v := range auth.GatewayMetadata(r.Context(), r) {
		md.Append(k, v...)
	}
	return md
}

// uploadSettings reads the job's settings from the query.
func uploadSettings(q url.Values) (*scv1.BlacklistSyncJobSettings, error) {
	s := &scv1.BlacklistSyncJobSettings{SupplierId: q.Get("supplier_id"), OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
	var bad []*errdetails.BadRequest_FieldViolation
	if v := q.Get("operate_type"); v != "" {
		switch strings.ToLower(v) {
		case "upsert", "1", "operate_type_upsert":
		case "delete", "2", "operate_type_delete":
			s.OperateType = scv1.OperateType_OPERATE_TYPE_DELETE
		default:
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: "operate_type", Description: "must be upsert or delete"})
		}
	}
	for _, f := range []struct {
		name string
		set  func(int32)
	}{
		{"service_type", func(v int32) { s.ServiceType = scv1.BlacklistServiceType(v) }},
		{"ability_type", func(v int32) { s.AbilityType = scv1.BlacklistAbilityType(v) }},
	} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: f.name, Description: "must be a number"})
				continue
			}
			f.set(int32(n))
		}
	}
	if len(bad) > 0 {
		return nil, rpc.FieldViolations(bad...)
	}
	return s, nil
}

// uploadReader reads an upload's body and refuses one that is too large
// (--http-max-upload-size) or too slow, with the error the upload then
// answers (err).
//
// Too slow is two limits, both kept with the connection's read deadline,
// which a read sets but cannot push on:
//   - a minimum rate (--http-upload-min-rate): the client has credit, at
//     most --http-upload-rate-window and that much at first, that time
//     spent waiting for its data uses up and each byte it sends renews by
//     1/rate seconds. A read may wait only as long as the credit lasts.
//     Only time waiting for the client counts, not time the server spends
//     storing what it sent (it does not read then), so a busy server does
//     not cut off a good client; and a client cannot bank a fast start to
//     stall later for longer than the window.
//   - a total deadline (--http-upload-timeout) from the start, which
//     bounds how long one upload holds a connection and an import open
//     however it paces itself.
type uploadReader struct {
	body    io.Reader
	rc      *http.ResponseController
	limit   int64
	minRate int64
	window  time.Duration
	timeout time.Duration

	end    time.Time // zero: no total deadline
	credit time.Duration
	n      int64
	eof    bool
	err    error
}

// newUploadReader starts reading an upload: its total deadline runs from
// now.
func newUploadReader(body io.Reader, rc *http.ResponseController, cfg HTTPSettings) *uploadReader {
	u := &uploadReader{
		body: body, rc: rc, limit: cfg.MaxUploadSize,
		minRate: cfg.UploadMinRate, window: cfg.UploadRateWindow, timeout: cfg.UploadTimeout,
		credit: cfg.UploadRateWindow,
	}
	if u.timeout > 0 {
		u.end = time.Now().Add(u.timeout)
	}
	return u
}

// Read implements io.Reader.
func (u *uploadReader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.eof {
		return 0, io.EOF
	}
	now := time.Now()
	deadline := u.end
	if u.minRate > 0 {
		if u.credit <= 0 {
			return 0, u.tooSlow(now)
		}
		if d := now.Add(u.credit); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	if err := u.rc.SetReadDeadline(deadline); err != nil && !deadline.IsZero() {
		// Without a deadline the limits cannot hold: refuse rather
		// than wait unbounded.
		u.err = status.Error(codes.Internal, "cannot bound the upload's reads: "+err.Error())
		return 0, u.err
	}
	if room := u.limit - u.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := u.body.Read(p)
	after := time.Now()
	u.n += int64(n)
	if u.minRate > 0 {
		u.credit -= after.Sub(now)
		u.credit += time.Duration(float64(n) / float64(u.minRate) * float64(time.Second))
		u.credit = min(u.credit, u.window)
	}
	switch {
	case u.n > u.limit:
		u.err = uploadTooLarge(u.limit)
		return 0, u.err
	case errors.Is(err, io.EOF):
		u.eof = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, u.tooSlow(after)
	}
	return n, err
}

// tooSlow sets and returns the refusal of an upload whose read deadline
// passed at now.
func (u *uploadReader) tooSlow(now time.Time) error {
	if !u.end.IsZero() && !now.Before(u.end) {
		u.err = tooSlow(fmt.Sprintf("upload took longer than %s (--http-upload-timeout)", u.timeout), "--http-upload-timeout")
	} else {
		u.err = tooSlow(fmt.Sprintf("upload slower than %d bytes/s over %s (--http-upload-min-rate, --http-upload-rate-window)", u.minRate, u.window),
			"--http-upload-min-rate")
	}
	return u.err
}

// uploadKeyHeader is the internal metadata key that ties an upload's
// stream to its entry in uploadRefusals; believed only on the gateway's
// internal connection (and the gateway forwards no x-servicecenterd-*
// header from HTTP).
const uploadKeyHeader = "x-servicecenterd-upload"

// uploadRefusals tells the gRPC server why the upload route ended an
// import stream: the route registers each upload, and when it refuses
// one (a bad content type, a malformed or oversized file, a client too
// slow) it records the refusal and half-closes the stream. The server's
// interceptor (StreamInterceptor) then answers the end of the stream with
// the refusal instead of io.EOF, so the import handler fails, which drops
// the import, and the call's status, log line, metrics and audit event
// are the refusal's: cancelling the stream would have made them all
// CANCELLED. The route answers the caller with the status the server
// returns, so caller and audit trail agree.
type uploadRefusals struct {
	mu sync.Mutex
	m  map[string]error
}

func newUploadRefusals() *uploadRefusals { return &uploadRefusals{m: map[string]error{}} }

// register starts an upload and returns its key.
func (u *uploadRefusals) register() string {
	key := rpc.NewRequestID()
	u.mu.Lock()
	u.m[key] = nil
	u.mu.Unlock()
	return key
}

// refuse records the refusal of the upload key.
func (u *uploadRefusals) refuse(key string, err error) {
	u.mu.Lock()
	if _, ok := u.m[key]; ok {
		u.m[key] = err
	}
	u.mu.Unlock()
}

// refusal is the refusal of the upload key, nil if none.
func (u *uploadRefusals) refusal(key string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[key]
}

// release forgets the upload key (when its HTTP answer is written, after
// the stream ended).
func (u *uploadRefusals) release(key string) {
	u.mu.Lock()
	delete(u.m, key)
	u.mu.Unlock()
}

// StreamInterceptor makes the end of an upload's import stream answer its
// refusal, if the route recorded one (see uploadRefusals). Chain it after
// authentication: a refused caller is answered by authentication.
func (u *uploadRefusals) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != importMethod {
			return handler(srv, ss)
		}
		p, ok := peer.FromContext(ss.Context())
		if !ok {
			return handler(srv, ss)
		}
		if _, internal := p.AuthInfo.(auth.InternalAuthInfo); !internal {
			return handler(srv, ss)
		}
		keys := metadata.ValueFromIncomingContext(ss.Context(), uploadKeyHeader)
		if len(keys) == 0 {
			return handler(srv, ss)
		}
		return handler(srv, &refusableStream{ServerStream: ss, refusal: func() error { return u.refusal(keys[0]) }})
	}
}

// refusableStream answers the end of the stream with its refusal.
type refusableStream struct {
	grpc.ServerStream
	refusal func() error
}

// RecvMsg implements grpc.ServerStream.
func (s *refusableStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if errors.Is(err, io.EOF) {
		if r := s.refusal(); r != nil {
			return r
		}
	}
	return err
}
