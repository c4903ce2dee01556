// Package codec is servicecenterd's gRPC server codec: protobuf, as
// grpc-go's default codec, with two differences that bound what a hostile
// request costs and make a request that does not decode an ordinary
// refused call.
//
// Decoding is bounded in depth: messages may nest MaxDepth (100) levels,
// not protobuf-go's 10,000, so that a request nesting
// google.protobuf.Struct values thousands deep is refused after a few
// hundred bytes of work. Its size is bounded before decoding by grpc-go
// (--grpc-max-recv-msg-size).
//
// A request that does not decode (invalid UTF-8 in a string, truncated or
// garbage wire data, nesting too deep) is answered INVALID_ARGUMENT with a
// google.rpc.ErrorInfo (reason INVALID_UTF8, MALFORMED_MESSAGE or
// NESTING_TOO_DEEP) and, when the field is known, a google.rpc.BadRequest
// naming it, and it passes through the interceptors like any other refused
// call: logged, counted in the metrics, audited. grpc-go cannot do that
// itself: it turns a codec error into INTERNAL ("grpc: failed to unmarshal
// the received message") and, for a unary RPC, answers it before any
// interceptor runs, since the generated handler decodes the request before
// it calls the chain.
//
// So Unmarshal never fails on bad input. It leaves the message empty
// (reset, so no partial data reaches anything) and records the failure
// under the message; the message is the only thing the codec and the
// interceptors both see (the codec gets no context). UnaryInterceptor,
// first in the chain, takes the record into the call's context and
// UnaryRefuse, after authentication (an unauthenticated caller learns
// nothing, as with validation), answers it; for streams,
// StreamInterceptor answers it from RecvMsg. The records live in a table
// owned by the Codec (one per server), keyed by weak pointers (package
// weak) so that a record never keeps its message alive, and
// runtime.AddCleanup drops the record of a message that is collected
// without being claimed: grpc-go fails a unary call between decoding its
// request and running the interceptors when the client sends a second
// request message or resets the stream instead of half-closing it. The
// table therefore holds at most the failed requests in flight.
package codec

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Name is the codec's name, that of grpc-go's protobuf codec: clients
// see no difference.
const Name = "proto"

// MaxDepth is how deeply a request's messages may nest, counted as
// protobuf-go counts for proto.UnmarshalOptions.RecursionLimit: the
// request is level 1, and each nested message and each map entry adds a
// level. A google.protobuf.Struct costs three levels per JSON object
// (Struct, map entry, Value) and two per list (ListValue, Value), so
// AssignWorkerRequest.ext_json's documented limit of 32 levels
// (validation.MaxJSONDepth) fits with room to spare. The REST gateway
// decodes JSON with the same limit (protojson counts one level per JSON
// object or list).
const MaxDepth = 100

// ErrorInfo reasons of a request that does not decode.
const (
	// ReasonInvalidUTF8: a string field holds bytes that are not UTF-8.
	ReasonInvalidUTF8 = "INVALID_UTF8"
	// ReasonMalformed: the bytes are not protobuf wire data (truncated,
	// a broken tag or length, garbage).
	ReasonMalformed = "MALFORMED_MESSAGE"
	// ReasonTooDeep: messages nest deeper than MaxDepth.
	ReasonTooDeep = "NESTING_TOO_DEEP"
)

// Codec is the server codec (grpc.ForceServerCodecV2). Use one per
// server, with its interceptors on the same server.
type Codec struct {
	opts proto.UnmarshalOptions
	// pending counts the records in failures, so that the interceptors
	// of the (usual) calls that decoded take no lock.
	pending atomic.Int64
	mu      sync.Mutex
	// failures holds each failed message's answer until an interceptor
	// claims it or the message is collected.
	failures map[weak.Pointer[byte]]*record
	// fast records, by message type (reflect.Type), whether Marshal may
	// use the type's generated code (fastEncodes).
	fast sync.Map
}

type record struct {
	err     error
	cleanup runtime.Cleanup
}

var _ encoding.CodecV2 = (*Codec)(nil)

// New returns a codec decoding with MaxDepth.
func New() *Codec {
	return &Codec{
		opts:     proto.UnmarshalOptions{RecursionLimit: MaxDepth},
		failures: map[weak.Pointer[byte]]*record{},
	}
}

// Name implements encoding.CodecV2.
func (*Codec) Name() string { return Name }

// Marshal implements encoding.CodecV2 as grpc-go's protobuf codec does.
// The API's messages are encoded by their generated code (vtprotobuf's
// SizeVT and MarshalToSizedBufferVT, see fastMessage), others by
// protobuf-go.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(fastMessage); ok && c.encodesFast(m) {
		return marshalFast(m)
	}
	m := messageOf(v)
	if m == nil {
		return nil, fmt.Errorf("codec: cannot marshal %T: not a protobuf message", v)
	}
	size := proto.Size(m)
	// UseCachedSize reuses the size just computed; the message is not
	// mutated concurrently.
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Size is the length of Marshal's encoding of m, without encoding it.
func (c *Codec) Size(m proto.Message) int {
	if f, ok := m.(fastMessage); ok && c.encodesFast(f) {
		return f.SizeVT()
	}
	return proto.Size(m)
}

// fastMessage is a message with vtprotobuf's generated size and marshal
// code (buf.gen.yaml: features=marshal+size): the API's own messages.
// It writes what protobuf-go writes (fields in number order, unknown
// fields last) without reflection, but for the order of a map's entries,
// which protobuf leaves open, and a float or double holding -0, which
// encodesFast keeps on protobuf-go. Unlike protobuf-go it does not refuse
// a string field holding invalid UTF-8 (grpc-go then answered INTERNAL
// instead of the answer): the answers' strings come from JSON decoding
// (which replaces invalid UTF-8), from requests the codec decoded and
// from the store, which holds what those gave it.
type fastMessage interface {
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
}

// encodesFast reports whether m's type is encoded by its generated code
// (fastEncodes), computed once per type.
func (c *Codec) encodesFast(m fastMessage) bool {
	t := reflect.TypeOf(m)
	if ok, found := c.fast.Load(t); found {
		return ok.(bool)
	}
	pm, isProto := m.(proto.Message)
	ok := isProto && fastEncodes(pm.ProtoReflect().Descriptor(), map[protoreflect.FullName]bool{})
	c.fast.Store(t, ok)
	return ok
}

// fastEncodes reports whether vtprotobuf's code writes md's messages as
// protobuf-go does: it skips a float or double field without presence
// holding -0 as it skips 0, where protobuf (and protobuf-go) writes -0,
// so a type that holds one, at any depth, is left to protobuf-go. seen
// holds the messages being looked at (types nest themselves).
func fastEncodes(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return true
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if v := fd.MapValue(); v.Message() != nil && !fastEncodes(v.Message(), seen) {
				return false
			}
		case fd.Message() != nil:
			if !fastEncodes(fd.Message(), seen) {
				return false
			}
		case (fd.Kind() == protoreflect.FloatKind || fd.Kind() == protoreflect.DoubleKind) &&
			!fd.IsList() && !fd.HasPresence():
			return false
		}
	}
	return true
}

// marshalFast encodes m with its generated code, into a pooled buffer
// from the pooling threshold on, as Marshal does.
func marshalFast(m fastMessage) (mem.BufferSlice, error) {
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		b := make([]byte, size)
		if err := marshalSized(m, b); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := marshalSized(m, (*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalSized encodes m into b, of m's size: the generated code writes
// from the end of b backwards.
func marshalSized(m fastMessage, b []byte) error {
	n, err := m.MarshalToSizedBufferVT(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("codec: %T changed while it was encoded (%d bytes, not %d)", m, n, len(b))
	}
	return nil
}

// Unmarshal implements encoding.CodecV2. Bad input does not fail: the
// message is reset and its failure recorded for the interceptors (see
// the package comment). Only a v that is not a protobuf message fails.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("codec: cannot unmarshal into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	err := c.opts.Unmarshal(b, m)
	if err == nil {
		if c.pending.Load() > 0 {
			_ = c.take(v) // a record of an earlier decode into the same message is void
		}
		return nil
	}
	answer := diagnose(b, m.ProtoReflect().Descriptor(), err).status()
	proto.Reset(m)
	if !c.put(v, answer) {
		return answer // not a pointer: grpc-go answers INTERNAL, as before
	}
	return nil
}

// addressOf is the address of the message v points to, as a *byte: the
// weak pointer and the cleanup need a typed pointer, and v's type is only
// known at run time. It is the start of v's allocation.
func addressOf(v any) (*byte, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, false
	}
	return (*byte)(rv.UnsafePointer()), true
}

// put records err as the answer to the message v; false when v cannot
// be keyed.
func (c *Codec) put(v any, err error) bool {
	p, ok := addressOf(v)
	if !ok {
		return false
	}
	key := weak.Make(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.failures[key]; ok {
		r.err = err // the same message failed again before it was claimed
		return true
	}
	c.failures[key] = &record{err: err, cleanup: runtime.AddCleanup(p, c.forget, key)}
	c.pending.Add(1)
	return true
}

// take removes and returns the answer recorded for the message v, or nil.
func (c *Codec) take(v any) error {
	if c.pending.Load() == 0 {
		return nil
	}
	p, ok := addressOf(v)
	if !ok {
		return nil
	}
	key := weak.Make(p)
	c.mu.Lock()
	r, ok := c.failures[key]
	if ok {
		delete(c.failures, key)
		c.pending.Add(-1)
	}
	c.mu.Unlock()
	runtime.KeepAlive(p)
	if !ok {
		return nil
	}
	r.cleanup.Stop()
	return r.err
}

// forget drops the record of a message that was collected unclaimed.
func (c *Codec) forget(key weak.Pointer[byte]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.failures[key]; ok {
		delete(c.failures, key)
		c.pending.Add(-1)
	}
}

// Pending is how many failed requests await their interceptor (for
// tests and diagnostics).
func (c *Codec) Pending() int { return int(c.pending.Load()) }

func messageOf(v any) proto.Message {
	switch m := v.(type) {
	case protoadapt.MessageV2:
		return m
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(m)
	}
	return nil
}

type failureKey struct{}

// UnaryInterceptor takes the decode failure of each unary request into
// the call's context, where UnaryRefuse answers it. Chain it first, so
// that every decoded request meets it.
func (c *Codec) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := c.take(req); err != nil {
			ctx = context.WithValue(ctx, failureKey{}, err)
		}
		return handler(ctx, req)
	}
}

// UnaryRefuse answers a unary request that did not decode with its
// INVALID_ARGUMENT (see UnaryInterceptor). Chain it after authentication
// and before validation.
func UnaryRefuse() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err, ok := ctx.Value(failureKey{}).(error); ok {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor makes a stream's RecvMsg answer a message that did
// not decode with its INVALID_ARGUMENT. Handlers only receive after the
// interceptors before them (authentication) let the stream through.
func (c *Codec) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &stream{ServerStream: ss, c: c})
	}
}

type stream struct {
	grpc.ServerStream
	c *Codec
}

// RecvMsg implements grpc.ServerStream. The record is taken whatever
// RecvMsg returns, so none is left behind.
func (s *stream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if ferr := s.c.take(m); ferr != nil {
		return ferr
	}
	return err
}
