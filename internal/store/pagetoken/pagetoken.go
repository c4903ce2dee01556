// Package pagetoken makes and reads the page tokens of the stores' keyset
// pagination: an opaque string that names the list, its order and the key
// of the last row of a page, so that the next page starts after it. Both
// backends make the same tokens, so a token stays valid when a deployment
// moves from one to the other with its data, and across versions.
package pagetoken

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Make returns the token of the page after key, in a list named list
// read newest first (or oldest first).
func Make(list string, oldestFirst bool, key int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + ":" + dir(oldestFirst) + ":" + strconv.FormatInt(key, 10)))
}

// Parse returns the key of a token Make made for the same list and order;
// ok is false for any other string.
func Parse(tok, list string, oldestFirst bool) (key int64, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	rest, found := strings.CutPrefix(string(raw), list+":"+dir(oldestFirst)+":")
	if !found {
		return 0, false
	}
	key, err = strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, false
	}
	return key, true
}

func dir(oldestFirst bool) string {
	if oldestFirst {
		return "o"
	}
	return "n"
}
