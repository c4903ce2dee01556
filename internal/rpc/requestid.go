package rpc

import (
	"crypto/rand"
	"encoding/hex"
)

// RequestIDHeader carries servicecenterd's request id in gRPC metadata and
// HTTP headers, both ways.
const RequestIDHeader = "x-request-id"

// TOPRequestIDHeader carries TOP's request_id of the call's upstream TOP
// call back to the caller, as gRPC response metadata and (through the
// gateway) as an HTTP header.
const TOPRequestIDHeader = "x-top-request-id"

// NewRequestID returns a random 128-bit request id in hex.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
