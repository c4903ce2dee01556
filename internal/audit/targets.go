package audit

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// MaxTargetID bounds a target's id, in characters. Valid ids are at most
// 64; a longer one (of a call that validation refuses) is cut and ends
// in "…", so that a hostile request cannot inflate the trail or the log.
const MaxTargetID = 64

// targets builds a call's target list (see Plan.Targets).
type targets []Target

// has reports whether a target of kind is listed.
func (t targets) has(kind string) bool {
	for _, x := range t {
		if x.Kind == kind {
			return true
		}
	}
	return false
}

// add appends a target whose id is already masked, bounding it.
func (t *targets) add(kind, id string) {
	*t = append(*t, Target{Kind: kind, ID: cut(printable(id), MaxTargetID)})
}

// id appends a number: at most 20 ASCII characters, which add would
// leave as they are.
func (t *targets) id(kind string, id int64) {
	if id != 0 {
		*t = append(*t, Target{Kind: kind, ID: strconv.FormatInt(id, 10)})
	}
}

func (t *targets) mobile(kind, phone string) {
	if phone != "" {
		t.add(kind, redact.Phone(cut(phone, MaxTargetID)))
	}
}

func (t *targets) plain(kind, s string) {
	if s != "" {
		t.add(kind, cut(s, MaxTargetID))
	}
}

// text masks free text. It is cut before masking to a length from which
// the kept MaxTargetID characters are masked as in the whole text (a
// phone or ID number is at most 21 characters), so that masking a
// hostile megabyte costs nothing.
func (t *targets) text(kind, s string) {
	if s != "" {
		t.add(kind, redact.Text(cut(s, 2*MaxTargetID)))
	}
}

// cut keeps the first n characters of s, replacing the rest with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if _, size := utf8.DecodeRuneInString(s[i:]); i+size >= len(s) {
		return s // n characters or fewer
	}
	return s[:i] + "…"
}

// printable replaces control characters and invalid UTF-8, which have
// no place in an id, with U+FFFD.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}
