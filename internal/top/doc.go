// Package top is servicecenterd's knowledge of the Taobao Open Platform
// (TOP) REST protocol, written once for both sides of a call: system
// parameters, signing, form encoding, the UTC+8 time format, envelopes
// (DecodeEnvelope), and the typed requests and responses of the TOP
// methods servicecenterd calls, with the field names of their API
// documents. Requests turn themselves into TOP's form parameters and back;
// responses decode TOP's normal and simplified JSON and encode as TOP does
// (JSON and XML).
//
// It owns two tables every other layer follows:
//   - the methods (methods.go): one API descriptor per method with its
//     types, session and idempotency, called through Do and an Invoker;
//   - the failure taxonomy: what a failed call means (Kind: who must act;
//     Repeat: whether to send it again), from the platform codes
//     (errors.go) and the business codes (codes.go). FailureOf reads it
//     from any TOP error.
//
// The TOP client (internal/topclient) and the TOP emulator
// (internal/topemu) both build on this package, so the two sides cannot
// drift apart. docs/top-protocol.md states every rule in prose, with its
// source (API document, platform table, SDKs, or our emulator's choice).
package top
