package middleware

import (
	"context"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// UnaryValidate checks every request against its buf.validate rules before
// the handler runs; a violation is INVALID_ARGUMENT with a
// google.rpc.BadRequest listing each field path and what is wrong.
func UnaryValidate(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if msg, ok := req.(proto.Message); ok {
			if err := v.Validate(msg); err != nil {
				return nil, rpc.ValidationStatus(err)
			}
		}
		return handler(ctx, req)
	}
}

// StreamValidate validates every message a client streams in.
func StreamValidate(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

// RecvMsg implements grpc.ServerStream.
func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		if err := s.v.Validate(msg); err != nil {
			return rpc.ValidationStatus(err)
		}
	}
	return nil
}
