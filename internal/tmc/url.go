package tmc

import (
	"errors"
	"net/url"
)

// The channel's published endpoints.
const (
	URLProduction = "ws://mc.api.taobao.com/"
	URLSandbox    = "ws://mc.api.tbsandbox.com/"
)

// ResolveURL turns a preset ("production", "sandbox") into its URL, or
// checks that s is a ws(s) URL with a host and without user info (the URL
// is logged) or fragment. A --tmc-url setting goes through it.
func ResolveURL(s string) (string, error) {
	switch s {
	case "production":
		return URLProduction, nil
	case "sandbox":
		return URLSandbox, nil
	case "":
		return "", errors.New(`TMC URL is required: "production", "sandbox" or a ws(s) URL`)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the input, which may hold credentials; say less.
		return "", errors.New("TMC URL is not a valid URL")
	}
	switch {
	case u.User != nil:
		return "", errors.New("TMC URL must not contain user info")
	case u.Scheme != "ws" && u.Scheme != "wss":
		return "", errors.New(`TMC URL must be "production", "sandbox" or a ws(s) URL`)
	case u.Host == "":
		return "", errors.New("TMC URL has no host")
	case u.Fragment != "":
		return "", errors.New("TMC URL must not contain a fragment")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}
