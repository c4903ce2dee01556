// Package idempotency makes a retried write act once: a caller sends an
// idempotency key with a call (the idempotency-key gRPC metadata key, the
// Idempotency-Key HTTP header over REST); the first call with the key runs
// and its final outcome is stored, and a later call of the same client
// with the same key and the same request gets that outcome again, marked
// idempotency-replayed: true, without running (so without calling TOP).
// The keys live in the shared store, so replicas answer each other's
// retries.
//
// Which RPCs take a key is declared in the protos (option
// servicecenter.v1.idempotency); Methods reads them. The Keeper's
// interceptors (unary, and the client stream of ImportUserBlacklist) do
// the rest:
//
//   - A key is 1-255 printable ASCII characters (else INVALID_ARGUMENT with
//     a BadRequest field violation). Keys are scoped per client (the
//     rpc.Call's Client): two clients never see each other's answers.
//   - The request hash is the SHA-256 of the request message's
//     deterministic protobuf encoding (of every message of a stream, each
//     preceded by its length).
//   - The first call claims the key with a lease (DefaultLease, renewed
//     while it runs). A call that finds a claim whose lease is alive gets
//     ABORTED, reason IDEMPOTENCY_KEY_IN_FLIGHT, with RetryInfo. A claim
//     whose lease ran out (its replica died) is taken over by the next call
//     with the same request.
//   - The same key with another request (or another RPC): INVALID_ARGUMENT,
//     reason IDEMPOTENCY_KEY_REUSED (HTTP 422 over REST).
//   - Final outcomes (a response, or any status but the transient ones) are
//     stored with the request hash for the key's time to live. Transient
//     outcomes (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
//     CANCELED: see Transient) release the key, so a retry runs again.
//
// The package owns the key rules, the hash, the Store interface (with its
// conformance cases in idempotencytest) and the interceptors; the stores
// in internal/store implement Store. Nothing here is a general-purpose
// library: the ecosystem has no gRPC idempotency middleware with a shared
// store, claim leases and the draft's semantics.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Header names.
const (
	// KeyHeader carries the caller's key: gRPC metadata key, and over REST
	// the Idempotency-Key header (the IETF draft
	// draft-ietf-httpapi-idempotency-key-header's name).
	KeyHeader = "idempotency-key"
	// ReplayedHeader is set to "true" in the response headers of a replay
	// (Idempotency-Replayed over REST).
	ReplayedHeader = "idempotency-replayed"
)

// ErrorInfo reasons (domain rpc.ErrorDomain).
const (
	// ReasonKeyReused: the key was used before with another request or
	// another RPC. INVALID_ARGUMENT; HTTP 422.
	ReasonKeyReused = "IDEMPOTENCY_KEY_REUSED"
	// ReasonKeyInFlight: the first call with the key has not ended yet.
	// ABORTED with RetryInfo; HTTP 409.
	ReasonKeyInFlight = "IDEMPOTENCY_KEY_IN_FLIGHT"
	// ReasonKeyUnavailable: the key store could not be reached, so the
	// call was not run (it could not be made safe). UNAVAILABLE.
	ReasonKeyUnavailable = "IDEMPOTENCY_UNAVAILABLE"
)

// MaxKeyLen is the longest key accepted.
const MaxKeyLen = 255

// ValidKey reports whether k is 1-MaxKeyLen printable ASCII characters
// (0x20-0x7E).
func ValidKey(k string) bool {
	if k == "" || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// Transient reports whether an outcome of code c is not final: the call
// may succeed when run again, so the key is released rather than stored.
// UNAVAILABLE and DEADLINE_EXCEEDED (TOP or the store could not be
// reached in time: whether TOP acted is unknown, and the write is run
// again, which is what the caller's retry asks for), RESOURCE_EXHAUSTED
// (a rate limit or TOP's quota: the call did not run), CANCELED (the
// caller went away). Every other outcome, errors included, is final: it
// says what the request does, and running it again would say the same or
// act twice.
func Transient(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled:
		return true
	}
	return false
}

// Hash is the SHA-256 of m's deterministic protobuf encoding.
func Hash(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// streamHash hashes the messages of a stream: each one's deterministic
// encoding preceded by its length (so that no two streams collide by
// splitting the same bytes differently).
type streamHash struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
}

func newStreamHash() *streamHash { return &streamHash{h: sha256.New()} }

func (s *streamHash) add(m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	var n [binary.MaxVarintLen64]byte
	_, _ = s.h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	_, _ = s.h.Write(b)
	return nil
}

func (s *streamHash) sum() []byte { return s.h.Sum(nil) }

// ErrNotOwner is the refusal of a renewal, completion or release by a
// claimant that no longer holds the key (its lease ran out and another
// call took it over, or the key is already complete).
var ErrNotOwner = errors.New("idempotency key is not held by this claim")

// Claim asks for a key.
type Claim struct {
	// Client is the caller (rpc.Call.Client); Key is its key.
	Client, Key string
	// Method is the full gRPC method.
	Method string
	// Hash is the request hash; empty for a stream, whose hash is known at
	// its end (Outcome.Hash).
	Hash []byte
	// Token identifies this claim in later calls.
	Token string
	// Now is the time of the claim; LeaseUntil when the claim may be taken
	// over unless renewed; Expires when the record may be pruned.
	Now, LeaseUntil, Expires time.Time
}

// Outcome is a call's final outcome.
type Outcome struct {
	// Hash is the request hash (of the whole stream for a stream).
	Hash []byte
	// Code is the status code; OK for a response.
	Code codes.Code
	// Body is the response's deterministic encoding when Code is OK, else
	// the google.rpc.Status (with its details) encoded.
	Body []byte
	// TOPRequestID is TOP's request_id of the call, "" when none.
	TOPRequestID string
	// Expires is when the record may be pruned.
	Expires time.Time
}

// Record is a key as stored.
type Record struct {
	// Client, Key and Method are the claim's.
	Client, Key, Method string
	// Hash is the request hash (empty for a stream in flight).
	Hash []byte
	// Done is set once the outcome is stored.
	Done bool
	// Outcome is the stored outcome when Done (Hash and Expires aside,
	// which are the record's).
	Outcome Outcome
	// Created is when the key was (last) claimed; LeaseUntil the end of
	// the claim's lease; Expires when it may be pruned.
	Created, LeaseUntil, Expires time.Time
}

// Store keeps idempotency keys. Every method is safe for concurrent use,
// by this process and by other replicas on the same database: a claim is
// atomic. Times are stored to the nanosecond.
type Store interface {
	// ClaimIdempotencyKey claims (c.Client, c.Key) for c.Token, atomically:
	// when there is no record, or its Expires is not after c.Now, or it is
	// not Done and its lease ran out (LeaseUntil not after c.Now) with the
	// same Method and Hash, the record becomes c's (claimed: true).
	// Otherwise it returns the record as it is (claimed: false).
	ClaimIdempotencyKey(ctx context.Context, c Claim) (rec Record, claimed bool, err error)
	// RenewIdempotencyKey moves the lease of token's claim to leaseUntil;
	// ErrNotOwner when token no longer holds an open claim on the key.
	RenewIdempotencyKey(ctx context.Context, client, key, token string, leaseUntil time.Time) error
	// CompleteIdempotencyKey stores the outcome of token's claim and makes
	// the record Done; ErrNotOwner when token no longer holds an open claim.
	CompleteIdempotencyKey(ctx context.Context, client, key, token string, o Outcome) error
	// ReleaseIdempotencyKey deletes token's open claim (a transient
	// outcome); ErrNotOwner when token no longer holds one.
	ReleaseIdempotencyKey(ctx context.Context, client, key, token string) error
	// PruneIdempotencyKeys deletes at most limit records whose Expires is
	// not after before, and returns how many it deleted.
	PruneIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error)
}
