package topwire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"slices"
	"strings"
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
func SortParams(params []Param) {
	slices.SortFunc(params, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
}

// AppendSign appends the uppercase hex signature of params to dst and returns
// the extended slice. params must be sorted by key (see SortParams). The
// parameter named sign and parameters with an empty key or value are left
// out, as the official SDKs leave them out. The key-value concatenation is
// built in dst's spare capacity and then overwritten, so a caller that reuses
// dst signs with md5 without allocating.
func AppendSign(dst []byte, m SignMethod, secret string, params []Param) ([]byte, error) {
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
	var sum []byte
	var digest [sha256.Size]byte
	switch m {
	case SignMD5:
		buf = append(buf, secret...)
		d := md5.Sum(buf[start:])
		sum = append(digest[:0], d[:]...)
	case SignHMAC:
		sum = macSum(md5.New, secret, buf[start:], digest[:0])
	case SignHMACSHA256:
		sum = macSum(sha256.New, secret, buf[start:], digest[:0])
	default:
		return dst, fmt.Errorf("unsupported sign method %q", string(m))
	}
	out := buf[:start]
	for _, b := range sum {
		out = append(out, upperHex[b>>4], upperHex[b&0x0f])
	}
	return out, nil
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

func macSum(newHash func() hash.Hash, secret string, data, dst []byte) []byte {
	h := hmac.New(newHash, []byte(secret))
	h.Write(data)
	return h.Sum(dst)
}

const upperHex = "0123456789ABCDEF"
