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
package middleware
