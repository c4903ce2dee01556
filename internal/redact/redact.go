// Package redact masks personal data and secrets before they reach logs,
// errors, metrics or recordings. It is the one masking helper servicecenterd
// uses everywhere: phone numbers keep their first 3 and last 4 digits
// (138****5678), identity numbers their first 6 and last 4 characters
// (110105********123X), and secrets nothing.
package redact

import "strings"

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// Phone masks a phone number, keeping the first 3 and the last 4 characters:
// 13812345678 becomes 138****5678. Values of 7 characters or fewer become
// all stars of the same length, so nothing of a short value leaks.
func Phone(s string) string {
	return keepEnds(s, 3, 4)
}

// ID masks an identity (ID card) number, keeping the first 6 characters (the
// region) and the last 4: 11010519491231002X becomes 110105********002X.
// Values of 10 characters or fewer become all stars of the same length.
func ID(s string) string {
	return keepEnds(s, 6, 4)
}

// Secret hides a secret entirely; an empty secret stays empty so that
// "not set" remains visible.
func Secret(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

func keepEnds(s string, head, tail int) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) <= head+tail {
		return strings.Repeat("*", len(r))
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(string(r[:head]))
	b.WriteString(strings.Repeat("*", len(r)-head-tail))
	b.WriteString(string(r[len(r)-tail:]))
	return b.String()
}

// Text masks every phone number and identity number found in free text,
// such as a message that echoes a request. A phone number is a run of 11
// digits starting with 1, optionally after +86 or 86; an identity number is
// a run of 17 digits followed by a digit or X, or a run of 15 digits. Digit
// runs of other lengths are left alone (ids, timestamps, amounts), and so
// are runs with an ASCII letter on both sides, which sit inside tokens such
// as hex request ids ("scd-801e11430836630b9"), not numbers of their own.
func Text(s string) string {
	if !hasLongDigitRun(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j < len(s) && j-i == 17 && (s[j] == 'X' || s[j] == 'x') {
			j++
		}
		run := s[i:j]
		if i > 0 && isLetter(s[i-1]) && j < len(s) && isLetter(s[j]) {
			b.WriteString(run)
			i = j
			continue
		}
		switch {
		case len(run) == 18 || len(run) == 15:
			b.WriteString(ID(run))
		case len(run) == 11 && run[0] == '1':
			b.WriteString(Phone(run))
		case len(run) == 13 && strings.HasPrefix(run, "861"):
			b.WriteString("86" + Phone(run[2:]))
		default:
			b.WriteString(run)
		}
		i = j
	}
	return b.String()
}

// hasLongDigitRun reports whether s has a run of at least 11 digits, the
// shortest value Text masks; most texts have none and are returned as is.
func hasLongDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= 11 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
