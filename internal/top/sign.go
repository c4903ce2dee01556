package top

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
)

// SignMethod names one of TOP's three signature algorithms.
type SignMethod string

// The signature algorithms TOP accepts, as sent in sign_method.
const (
	// SignMD5 is MD5(secret + concat + secret).
	SignMD5 SignMethod = "md5"
	// SignHMAC is HMAC-MD5 keyed with the secret over concat.
	SignHMAC SignMethod = "hmac"
	// SignHMACSHA256 is HMAC-SHA256 keyed with the secret over concat.
	// It is the official Java SDK's default and ours.
	SignHMACSHA256 SignMethod = "hmac-sha256"
)

// ParseSignMethod checks that s names a supported signature algorithm.
func ParseSignMethod(s string) (SignMethod, error) {
	switch m := SignMethod(s); m {
	case SignMD5, SignHMAC, SignHMACSHA256:
		return m, nil
	}
	return "", fmt.Errorf("unsupported sign method %q (want md5, hmac or hmac-sha256)", s)
}

// SortParams sorts params by key in byte order, the order TOP signs them in.
// Up to a dozen parameters (a call's) are sorted by insertion comparing
// keys directly, as slices.SortFunc sorts so few but without its
// comparison function (2% of a GetWorkerTags call's CPU); more go to
// slices.SortFunc. The order is slices.SortFunc's in both cases.
func SortParams(params []Param) {
	if len(params) > maxInsertionSort {
		slices.SortFunc(params, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
		return
	}
	for i := 1; i < len(params); i++ {
		for j := i; j > 0 && params[j].Key < params[j-1].Key; j-- {
			params[j], params[j-1] = params[j-1], params[j]
		}
	}
}

// maxInsertionSort is the most parameters SortParams sorts by insertion:
// the most slices.SortFunc sorts by insertion (pdqsort's maxInsertion),
// so that the order of equal keys is the same.
const maxInsertionSort = 12

// AppendSign appends the uppercase hex signature of params to dst and returns
// the extended slice. params must be sorted by key (see SortParams). The
// parameter named sign and parameters with an empty key or value are left
// out, as the official SDKs leave them out. The key-value concatenation is
// built in dst's spare capacity and then overwritten, so a caller that reuses
// dst signs with md5 without allocating (see Signer for the hmac methods).
func AppendSign(dst []byte, m SignMethod, secret string, params []Param) ([]byte, error) {
	switch m {
	case SignMD5:
		return appendSign(dst, m, secret, params, nil), nil
	case SignHMAC, SignHMACSHA256:
		return appendSign(dst, m, secret, params, newMACState(m, secret)), nil
	}
	return dst, fmt.Errorf("unsupported sign method %q", string(m))
}

// appendSign implements AppendSign; mac is a freshly keyed HMAC for the
// hmac methods and nil for md5.
func appendSign(dst []byte, m SignMethod, secret string, params []Param, mac *macState) []byte {
	start := len(dst)
	buf := dst
	if m == SignMD5 {
		buf = append(buf, secret...)
	}
	for _, p := range params {
		if p.Key == ParamSign || p.Key == "" || p.Value == "" {
			continue
		}
		buf = append(buf, p.Key...)
		buf = append(buf, p.Value...)
	}
	out := buf[:start]
	if m == SignMD5 {
		buf = append(buf, secret...)
		sum := md5.Sum(buf[start:])
		return appendUpperHex(out, sum[:])
	}
	mac.h.Write(buf[start:])
	mac.sum = mac.h.Sum(mac.sum[:0])
	return appendUpperHex(out, mac.sum)
}

func appendUpperHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, upperHex[c>>4], upperHex[c&0x0f])
	}
	return dst
}

// macState is a keyed HMAC and room for its sum.
type macState struct {
	h   hash.Hash
	sum []byte
}

func newMACState(m SignMethod, secret string) *macState {
	newHash := md5.New
	if m == SignHMACSHA256 {
		newHash = sha256.New
	}
	return &macState{h: hmac.New(newHash, []byte(secret)), sum: make([]byte, 0, sha256.Size)}
}

// Signer signs with one method and secret. It keeps keyed HMAC states for
// reuse, so that signing into a reused buffer allocates nothing once warm,
// whatever the method. It is safe for concurrent use.
type Signer struct {
	method SignMethod
	secret string
	macs   sync.Pool // *macState keyed with secret
}

// NewSigner returns a Signer for m and secret.
func NewSigner(m SignMethod, secret string) (*Signer, error) {
	if _, err := ParseSignMethod(string(m)); err != nil {
		return nil, err
	}
	s := &Signer{method: m, secret: secret}
	s.macs.New = func() any { return newMACState(m, secret) }
	return s, nil
}

// Method returns the Signer's sign method.
func (s *Signer) Method() SignMethod { return s.method }

// AppendSign appends the signature of params, as the package-level
// AppendSign does with the Signer's method and secret.
func (s *Signer) AppendSign(dst []byte, params []Param) []byte {
	if s.method == SignMD5 {
		return appendSign(dst, s.method, s.secret, params, nil)
	}
	mac := s.macs.Get().(*macState)
	mac.h.Reset()
	dst = appendSign(dst, s.method, s.secret, params, mac)
	s.macs.Put(mac)
	return dst
}

// Sign returns the uppercase hex signature of params; see AppendSign.
func Sign(m SignMethod, secret string, params []Param) (string, error) {
	out, err := AppendSign(make([]byte, 0, 256), m, secret, params)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// VerifySign reports whether got is the signature of params under m and
// secret. The comparison takes constant time and ignores hex letter case.
func VerifySign(m SignMethod, secret string, params []Param, got string) bool {
	want, err := AppendSign(make([]byte, 0, 256), m, secret, params)
	if err != nil || len(got) != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToUpper(got)), want) == 1
}

const upperHex = "0123456789ABCDEF"
