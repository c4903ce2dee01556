package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// Defaults of Options.
const (
	// DefaultTTL is how long an outcome is kept (--idempotency-ttl).
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long a claim holds a key without being renewed:
	// a call whose replica died is taken over this long after its last
	// renewal. A call renews its claim every third of it while it runs.
	DefaultLease = 30 * time.Second
	// InFlightRetryDelay is the RetryInfo delay of IDEMPOTENCY_KEY_IN_FLIGHT.
	InFlightRetryDelay = time.Second
	// finishTimeout bounds storing an outcome once the call has ended (its
	// own context may be over: the caller went away).
	finishTimeout = 5 * time.Second
)

// Options are a Keeper's settings and dependencies.
type Options struct {
	// Store keeps the keys (required).
	Store Store
	// Methods are the RPCs that take a key (Methods).
	Methods map[string]Method
	// TTL is how long an outcome is kept; 0 is DefaultTTL.
	TTL time.Duration
	// Lease is a claim's lease; 0 is DefaultLease.
	Lease time.Duration
	// Require refuses a call of a unary keyed RPC without a key
	// (INVALID_ARGUMENT).
	Require bool
	// Refresh, when set, is given a replayed response before it is sent
	// and may return a fresher one (ImportUserBlacklist's job with its
	// current state). An error is answered instead.
	Refresh func(ctx context.Context, fullMethod string, resp proto.Message) (proto.Message, error)
	// Replayed, when set, is told of each replay (a metric).
	Replayed func(fullMethod string)
	// Logger logs the failures to store an outcome.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Keeper runs the keyed calls: see the package doc.
type Keeper struct {
	o Options
}

// NewKeeper returns a Keeper with o's defaults filled in.
func NewKeeper(o Options) (*Keeper, error) {
	if o.Store == nil {
		return nil, errors.New("idempotency: a store is required")
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Keeper{o: o}, nil
}

// keyOf returns the call's key, "" when it has none, or the refusal of a
// malformed one.
func keyOf(ctx context.Context) (string, error) {
	vals := metadata.ValueFromIncomingContext(ctx, KeyHeader)
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", keyViolation("must be given once", "idempotency_key.repeated")
	case !ValidKey(vals[0]):
		return "", keyViolation(fmt.Sprintf("must be 1-%d printable ASCII characters", MaxKeyLen), "idempotency_key.invalid")
	}
	return vals[0], nil
}

func keyViolation(desc, reason string) error {
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{Field: KeyHeader, Description: desc, Reason: reason})
}

// claim is one claim of a key by this process.
type claim struct {
	client, key, token string
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// claimKey claims the key; the error is the call's answer.
func (k *Keeper) claimKey(ctx context.Context, client, key, method string, hash []byte) (claim, Record, bool, error) {
	now := k.o.Now()
	c := Claim{Client: client, Key: key, Method: method, Hash: hash, Token: newToken(),
		Now: now, LeaseUntil: now.Add(k.o.Lease), Expires: now.Add(k.o.TTL)}
	rec, claimed, err := k.o.Store.ClaimIdempotencyKey(ctx, c)
	if err != nil {
		k.o.Logger.ErrorContext(ctx, "idempotency: claiming a key failed", slog.String("rpc", method), slog.String("error", err.Error()))
		return claim{}, Record{}, false, rpc.ErrorInfo(codes.Unavailable,
			"the idempotency key could not be checked, so the call was not run; retry with the same key",
			ReasonKeyUnavailable, nil)
	}
	return claim{client: client, key: key, token: c.Token}, rec, claimed, nil
}

// reused is the refusal of a key used before with another request.
func reused(rec Record) error {
	return rpc.ErrorInfo(codes.InvalidArgument,
		"the idempotency key was used before with a different request; use a new key for a new request",
		ReasonKeyReused, map[string]string{"rpc": rec.Method})
}

// inFlight is the refusal of a key whose first call has not ended.
func inFlight(rec Record) error {
	st := status.New(codes.Aborted, "a call with this idempotency key is still in progress; retry after it ends")
	return rpc.WithDetails(st, rpc.Info(ReasonKeyInFlight, map[string]string{"rpc": rec.Method}),
		&errdetails.RetryInfo{RetryDelay: durationpb.New(InFlightRetryDelay)})
}

// replay returns the stored outcome of rec, marked as a replay: the
// response (refreshed), or the status.
func (k *Keeper) replay(ctx context.Context, m Method, rec Record, setHeader func(metadata.MD) error) (proto.Message, error) {
	_ = setHeader(metadata.Pairs(ReplayedHeader, "true"))
	if k.o.Replayed != nil {
		k.o.Replayed(m.FullMethod)
	}
	if rec.Outcome.TOPRequestID != "" {
		rpc.CallFrom(ctx).TOPRequestID = rec.Outcome.TOPRequestID
	}
	if rec.Outcome.Code != codes.OK {
		p := &spb.Status{}
		if err := proto.Unmarshal(rec.Outcome.Body, p); err != nil {
			return nil, status.Error(codes.Internal, "the stored outcome of the idempotency key does not decode")
		}
		return nil, status.ErrorProto(p)
	}
	resp := m.Output.New().Interface()
	if err := proto.Unmarshal(rec.Outcome.Body, resp); err != nil {
		return nil, status.Error(codes.Internal, "the stored answer of the idempotency key does not decode")
	}
	if k.o.Refresh != nil {
		return k.o.Refresh(ctx, m.FullMethod, resp)
	}
	return resp, nil
}

// keepLease renews c's lease every third of it until the returned stop is
// called (once or more; the outcome is stored after it, so that no renewal
// comes after the completion).
func (k *Keeper) keepLease(ctx context.Context, c claim) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(k.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.o.Lease/3)
			err := k.o.Store.RenewIdempotencyKey(rctx, c.client, c.key, c.token, k.o.Now().Add(k.o.Lease))
			cancel()
			if errors.Is(err, ErrNotOwner) {
				k.o.Logger.WarnContext(ctx, "idempotency: a call lost its key's claim while running (its lease ran out)")
				return
			}
			if err != nil {
				k.o.Logger.WarnContext(ctx, "idempotency: renewing a key's lease failed", slog.String("error", err.Error()))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-ended
		})
	}
}

// finish stores the outcome of c's call (resp or err), or releases the key
// when the outcome is transient or cannot be stored.
func (k *Keeper) finish(ctx context.Context, c claim, method string, hash []byte, resp any, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	code := status.Code(err)
	var (
		body    []byte
		encErr  error
		release = Transient(code)
	)
	if !release {
		if err == nil {
			msg, ok := resp.(proto.Message)
			if !ok {
				encErr = fmt.Errorf("response %T is not a protobuf message", resp)
			} else {
				body, encErr = proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			}
		} else {
			body, encErr = proto.MarshalOptions{Deterministic: true}.Marshal(status.Convert(err).Proto())
		}
		release = encErr != nil
	}
	if release {
		if encErr != nil {
			k.o.Logger.ErrorContext(ctx, "idempotency: the outcome cannot be stored; the key is released", slog.String("rpc", method), slog.String("error", encErr.Error()))
		}
		if rerr := k.o.Store.ReleaseIdempotencyKey(ctx, c.client, c.key, c.token); rerr != nil && !errors.Is(rerr, ErrNotOwner) {
			k.o.Logger.ErrorContext(ctx, "idempotency: releasing a key failed; it is free again when its lease runs out",
				slog.String("rpc", method), slog.String("error", rerr.Error()))
		}
		return
	}
	o := Outcome{Hash: hash, Code: code, Body: body, TOPRequestID: rpc.CallFrom(ctx).TOPRequestID, Expires: k.o.Now().Add(k.o.TTL)}
	if serr := k.o.Store.CompleteIdempotencyKey(ctx, c.client, c.key, c.token, o); serr != nil {
		k.o.Logger.ErrorContext(ctx, "idempotency: storing an outcome failed; a retry with the key after its lease may run the call again",
			slog.String("rpc", method), slog.String("error", serr.Error()))
	}
}

// UnaryInterceptor runs the keyed unary calls (see the package doc). Chain
// it after authentication (it needs the client) and validation (an
// invalid request is refused before it is stored), as the last
// interceptor: a replay then runs nothing but the checks before it.
func (k *Keeper) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (_ any, err error) {
		m, ok := k.o.Methods[info.FullMethod]
		if !ok || m.ClientStream {
			return handler(ctx, req)
		}
		key, err := keyOf(ctx)
		if err != nil {
			return nil, err
		}
		if key == "" {
			if k.o.Require {
				return nil, keyViolation("required: --require-idempotency-key is on", "idempotency_key.required")
			}
			return handler(ctx, req)
		}
		msg, ok := req.(proto.Message)
		if !ok {
			return nil, status.Errorf(codes.Internal, "request %T is not a protobuf message", req)
		}
		hash, err := Hash(msg)
		if err != nil {
			return nil, status.Error(codes.Internal, "the request could not be hashed")
		}
		c, rec, claimed, err := k.claimKey(ctx, rpc.CallFrom(ctx).Client, key, info.FullMethod, hash)
		if err != nil {
			return nil, err
		}
		if !claimed {
			switch {
			case rec.Method != info.FullMethod || !bytes.Equal(rec.Hash, hash):
				return nil, reused(rec)
			case !rec.Done:
				return nil, inFlight(rec)
			}
			return k.replay(ctx, m, rec, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) })
		}
		stop := k.keepLease(ctx, c)
		defer stop()
		panicked := true
		defer func() {
			if panicked { // recovery (outside) answers INTERNAL: a bug, not an outcome to keep
				stop()
				k.finish(ctx, c, info.FullMethod, hash, nil, status.Error(codes.Unavailable, "panic"))
			}
		}()
		resp, err := handler(ctx, req)
		panicked = false
		stop()
		k.finish(ctx, c, info.FullMethod, hash, resp, err)
		return resp, err
	}
}

// StreamInterceptor runs the keyed client-streaming calls. The request
// hash covers every message of the stream, so a replay reads the whole
// stream before it answers (and answers IDEMPOTENCY_KEY_REUSED when it
// differs); a call in flight is refused at once. --require-idempotency-key
// does not apply to streams.
func (k *Keeper) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		m, ok := k.o.Methods[info.FullMethod]
		if !ok || !m.ClientStream {
			return handler(srv, ss)
		}
		ctx := ss.Context()
		key, err := keyOf(ctx)
		if err != nil || key == "" {
			if err != nil {
				return err
			}
			return handler(srv, ss)
		}
		c, rec, claimed, err := k.claimKey(ctx, rpc.CallFrom(ctx).Client, key, info.FullMethod, nil)
		if err != nil {
			return err
		}
		if !claimed {
			return k.replayStream(ctx, m, rec, ss)
		}
		stop := k.keepLease(ctx, c)
		defer stop()
		hs := &hashingStream{ServerStream: ss, h: newStreamHash()}
		panicked := true
		defer func() {
			if panicked {
				stop()
				k.finish(ctx, c, info.FullMethod, nil, nil, status.Error(codes.Unavailable, "panic"))
			}
		}()
		err = handler(srv, hs)
		panicked = false
		stop()
		if err == nil && (hs.err != nil || hs.sent == nil) {
			// Not stored: a replay could not be answered.
			k.finish(ctx, c, info.FullMethod, nil, nil, status.Error(codes.Unavailable, "unhashable"))
			return nil
		}
		k.finish(ctx, c, info.FullMethod, hs.h.sum(), hs.sent, err)
		return err
	}
}

// replayStream answers a stream whose key was claimed before.
func (k *Keeper) replayStream(ctx context.Context, m Method, rec Record, ss grpc.ServerStream) error {
	if rec.Method != m.FullMethod {
		return reused(rec)
	}
	if !rec.Done {
		return inFlight(rec)
	}
	h := newStreamHash()
	for {
		in := m.Input.New().Interface()
		err := ss.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := h.add(in); err != nil {
			return status.Error(codes.Internal, "the request could not be hashed")
		}
	}
	if !bytes.Equal(h.sum(), rec.Hash) {
		return reused(rec)
	}
	resp, err := k.replay(ctx, m, rec, ss.SetHeader)
	if err != nil {
		return err
	}
	return ss.SendMsg(resp)
}

// hashingStream hashes the messages the handler receives and keeps the
// one it sends (the response of a client stream).
type hashingStream struct {
	grpc.ServerStream
	h    *streamHash
	err  error
	sent proto.Message
}

// RecvMsg implements grpc.ServerStream.
func (s *hashingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	msg, ok := m.(proto.Message)
	if !ok {
		s.err = fmt.Errorf("request %T is not a protobuf message", m)
		return nil
	}
	if err := s.h.add(msg); err != nil {
		s.err = err
	}
	return nil
}

// SendMsg implements grpc.ServerStream.
func (s *hashingStream) SendMsg(m any) error {
	if msg, ok := m.(proto.Message); ok {
		s.sent = msg
	}
	return s.ServerStream.SendMsg(m)
}
