package top

// AppendForm appends params to dst as an application/x-www-form-urlencoded
// body ("k=v&k=v", values escaped like url.QueryEscape) and returns the
// extended slice. Parameters with an empty value are not sent.
func AppendForm(dst []byte, params []Param) []byte {
	first := len(dst) == 0
	for _, p := range params {
		if p.Value == "" {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = AppendQueryEscape(dst, p.Key)
		dst = append(dst, '=')
		dst = AppendQueryEscape(dst, p.Value)
	}
	return dst
}

// AppendQueryEscape appends s escaped for a URL query or form body, with the
// same result as url.QueryEscape, without allocating. Runs of bytes that
// need no escaping (most of a call's keys and values) are copied at once.
func AppendQueryEscape(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if formSafe[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		if c == ' ' {
			dst = append(dst, '+')
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0x0f])
		}
	}
	return append(dst, s[start:]...)
}

// formSafe are the bytes url.QueryEscape leaves as they are: letters,
// digits and "-_.~".
var formSafe = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~'
	}
	return t
}()
