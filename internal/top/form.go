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
// same result as url.QueryEscape, without allocating.
func AppendQueryEscape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0x0f])
		}
	}
	return dst
}
