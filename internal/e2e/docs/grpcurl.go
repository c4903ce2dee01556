package docs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The API's types, for the in-process grpcurl.
	_ "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// grpcurl runs a documented `bin/grpcurl` command (-plaintext, -d JSON,
// -H "name: value", then the address, ignored in favour of conn, and
// service/method) in-process: the request from JSON, the answer printed as
// grpcurl prints it (JSON names, defaults left out), an error as grpcurl's
// "ERROR: Code / Message / Details" text.
func grpcurl(ctx context.Context, conn *grpc.ClientConn, args []string) (string, error) {
	var (
		data string
		md   = metadata.MD{}
		pos  []string
	)
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-plaintext":
		case "-d", "-H":
			if i+1 >= len(args) {
				return "", fmt.Errorf("grpcurl: %s needs a value", a)
			}
			i++
			if a == "-d" {
				data = args[i]
				continue
			}
			k, v, ok := strings.Cut(args[i], ":")
			if !ok {
				return "", fmt.Errorf("grpcurl: -H %q is not name: value", args[i])
			}
			md.Append(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
		default:
			if strings.HasPrefix(a, "-") {
				return "", fmt.Errorf("grpcurl: flag %s is not supported here", a)
			}
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return "", fmt.Errorf("grpcurl: want ADDRESS SERVICE/METHOD, got %q", pos)
	}
	svc, method, ok := strings.Cut(pos[1], "/")
	if !ok {
		return "", fmt.Errorf("grpcurl: %q is not service/method", pos[1])
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return "", fmt.Errorf("grpcurl: %w", err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return "", fmt.Errorf("grpcurl: %s is not a service", svc)
	}
	m := sd.Methods().ByName(protoreflect.Name(method))
	if m == nil || m.IsStreamingClient() || m.IsStreamingServer() {
		return "", fmt.Errorf("grpcurl: %s has no unary method %s", svc, method)
	}
	newMsg := func(name protoreflect.FullName) (protoreflect.ProtoMessage, error) {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			return nil, err
		}
		return mt.New().Interface(), nil
	}
	req, err := newMsg(m.Input().FullName())
	if err != nil {
		return "", err
	}
	resp, err := newMsg(m.Output().FullName())
	if err != nil {
		return "", err
	}
	if data != "" {
		if err := protojson.Unmarshal([]byte(data), req); err != nil {
			return "", fmt.Errorf("grpcurl: -d: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), 30*time.Second)
	defer cancel()
	err = conn.Invoke(ctx, "/"+svc+"/"+method, req, resp)
	if err == nil {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(resp)
		return string(b) + "\n", err
	}
	st, ok := status.FromError(err)
	if !ok {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ERROR:\n  Code: %s\n  Message: %s\n", st.Code(), st.Message())
	if details := st.Proto().GetDetails(); len(details) > 0 {
		b.WriteString("  Details:\n")
		for i, a := range details {
			j, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(a)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "  %d)\t%s\n", i+1, strings.ReplaceAll(string(j), "\n", "\n    \t"))
		}
	}
	return b.String(), errGRPCFailed
}

// errGRPCFailed says the call failed (grpcurl exits non-zero); the output
// holds the error.
var errGRPCFailed = errors.New("the call failed")
