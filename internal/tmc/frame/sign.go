package frame

import (
	"crypto/md5" //nolint:gosec // TMC's handshake sign is MD5 by protocol (docs/tmc.md).
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Sign is the CONNECT sign (docs/tmc.md): MD5 over the app
// secret, then app_key, group_name and timestamp as key+value (empty values
// skipped), then the secret again, as uppercase hex.
func Sign(appSecret, appKey, group, timestamp string) string {
	var s strings.Builder
	s.WriteString(appSecret)
	for _, kv := range [...][2]string{{HeaderAppKey, appKey}, {HeaderGroupName, group}, {HeaderTimestamp, timestamp}} {
		if kv[1] != "" {
			s.WriteString(kv[0])
			s.WriteString(kv[1])
		}
	}
	s.WriteString(appSecret)
	sum := md5.Sum([]byte(s.String())) //nolint:gosec // see the import.
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// VerifySign reports whether sign is the CONNECT sign of the other
// arguments, comparing in constant time and ignoring the hex case.
func VerifySign(sign, appSecret, appKey, group, timestamp string) bool {
	want := Sign(appSecret, appKey, group, timestamp)
	return subtle.ConstantTimeCompare([]byte(strings.ToUpper(sign)), []byte(want)) == 1
}
