// Package middleware holds servicecenterd's gRPC server interceptors:
// request id, logging, panic recovery, the per-client rate limit, the
// default deadline and validation. The server chains them with metrics,
// audit, authentication and the codec's decode claim and refusal
// (internal/server/grpc.go): decode claim -> metrics -> request id ->
// logging -> audit -> recovery -> authentication -> rate limit -> default
// deadline -> decode refusal -> validation (recovery sits inside logging
// so a panicking call is still logged, with its request id, as
// INTERNAL). Each RPC carries a *Call in its context that authentication
// (the client's name) and handlers (TOP's request id) annotate and the
// logging and audit interceptors report.
//
// Where github.com/grpc-ecosystem/go-grpc-middleware/v2 has the same
// thing, the interceptor is the library's:
//
//   - stream logging is its logging interceptor, with our slog adapter
//     (callLogger) writing the line callers and log pipelines know
//     (message "rpc"; method, code, duration, request_id, client,
//     top_request_id, a masked and bounded error) instead of the
//     library's fields, one of which ("grpc.error") is the unmasked error;
//     unary logging writes the same line from our own interceptor, since
//     the library builds fields we drop on every call (see UnaryLogging);
//   - recovery is its recovery interceptor, with our handler (masked
//     panic value, stack, INTERNAL without internals);
//   - the open endpoints' exemption from the rate limit is its selector
//     for streams (internal/server; unary calls ask the method's name
//     directly, without the selector's formatting on every call);
//   - the gRPC server metrics are its Prometheus provider
//     (internal/metrics).
//
// Ours remain where the library lacks the thing or would change what
// callers see:
//
//   - request id: the library has no request id (x-request-id in, out as
//     a header with TOP's request id, the *Call every part annotates);
//   - rate limit: the library's ratelimit interceptor rewrites every
//     refusal into its own RESOURCE_EXHAUSTED text ("... is rejected by
//     grpc_ratelimit middleware"), dropping the ErrorInfo and RetryInfo
//     callers back off by; ours keeps a bucket per client of the clients
//     file (moving to internal/quota with the scale-out work);
//   - default deadline: the library's timeout package is for clients;
//     ours gives a server call without a deadline one, except the long
//     bulk streams;
//   - validation: the library's protovalidate interceptor answers a
//     violation with the error text as message and a
//     buf.validate.Violations detail; callers rely on ours, a
//     google.rpc.BadRequest naming each field (at most
//     rpc.MaxFieldViolations) and a message naming the first. It runs our
//     validator (internal/rpc/validation), whose native fast paths are
//     measured faster than protovalidate alone (BenchmarkValidate there);
//   - the codec's decode refusal, authentication and audit live in their
//     own packages (internal/rpc/codec, internal/auth, internal/audit):
//     the library has nothing like them.
package middleware
