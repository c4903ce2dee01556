package idempotency

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// Method is an RPC that takes an idempotency key.
type Method struct {
	// FullMethod is the full gRPC method, e.g.
	// /servicecenter.v1.WorkcardService/AssignWorker.
	FullMethod string
	// Input is the request message's type (to read a replayed stream);
	// Output the response's (to decode a stored answer).
	Input, Output protoreflect.MessageType
	// ClientStream is set for a client-streaming RPC (ImportUserBlacklist).
	ClientStream bool
}

// Methods returns the RPCs of files whose option
// servicecenter.v1.idempotency is true, by full method. Their response
// types must be in protoregistry.GlobalTypes (generated code is).
func Methods(files *protoregistry.Files) (map[string]Method, error) {
	out := map[string]Method{}
	var err error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				m := svc.Methods().Get(j)
				if !Keyed(m) {
					continue
				}
				full := "/" + string(svc.FullName()) + "/" + string(m.Name())
				if m.IsStreamingServer() {
					err = fmt.Errorf("idempotency option of %s: server-streaming RPCs cannot replay an answer", m.FullName())
					return false
				}
				mt, ferr := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
				if ferr != nil {
					err = fmt.Errorf("idempotency option of %s: response type: %w", m.FullName(), ferr)
					return false
				}
				in, ferr := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
				if ferr != nil {
					err = fmt.Errorf("idempotency option of %s: request type: %w", m.FullName(), ferr)
					return false
				}
				out[full] = Method{FullMethod: full, Input: in, Output: mt, ClientStream: m.IsStreamingClient()}
			}
		}
		return true
	})
	return out, err
}

// Keyed reports whether an RPC's option servicecenter.v1.idempotency is
// true.
func Keyed(m protoreflect.MethodDescriptor) bool {
	opts := m.Options()
	if opts == nil {
		return false
	}
	// Round-trip the options so that the extension is typed whether the
	// descriptor comes from generated code or from a compiler (dynamic).
	raw, err := proto.Marshal(opts)
	if err != nil {
		return false
	}
	typed := &descriptorpb.MethodOptions{}
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(raw, typed); err != nil {
		return false
	}
	on, _ := proto.GetExtension(typed, scv1.E_Idempotency).(bool)
	return on
}

// Names returns the full methods of ms, sorted.
func Names(ms map[string]Method) []string {
	out := make([]string, 0, len(ms))
	for m := range ms {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}
