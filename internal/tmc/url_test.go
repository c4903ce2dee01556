package tmc_test

import (
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/tmc"
)

func TestResolveURL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"production", "ws://mc.api.taobao.com/", ""},
		{"sandbox", "ws://mc.api.tbsandbox.com/", ""},
		{"ws://127.0.0.1:8800", "ws://127.0.0.1:8800/", ""},
		{"wss://mc.example.com/tmc", "wss://mc.example.com/tmc", ""},
		{"", "", "required"},
		{"http://127.0.0.1:8800/", "", "ws(s) URL"},
		{"ws://user:secret@host/", "", "user info"},
		{"ws:///", "", "no host"},
		{"ws://host/#x", "", "fragment"},
		{"ws://[::1", "", "not a valid URL"},
	}
	for _, tt := range tests {
		got, err := tmc.ResolveURL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "secret") {
				t.Errorf("ResolveURL(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
