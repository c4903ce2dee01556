package rpc

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// RequestIDHeader carries servicecenterd's request id in gRPC metadata and
// HTTP headers, both ways.
const RequestIDHeader = "x-request-id"

// TOPRequestIDHeader carries TOP's request_id of the call's upstream TOP
// call back to the caller, as gRPC response metadata and (through the
// gateway) as an HTTP header.
const TOPRequestIDHeader = "x-top-request-id"

// NewRequestID returns a random 128-bit request id in hex. The bits come
// from the runtime's ChaCha8 generator (math/rand/v2, seeded from the
// system's entropy), not from a getrandom system call per id as
// crypto/rand's would: an id names a call in logs and headers, it is no
// secret (a caller may choose its own), and the system call was about
// 1 µs of every call without x-request-id.
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
