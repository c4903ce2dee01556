package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"scd_abc\n", "scd_abc", false},
		{"scd_abc", "scd_abc", false},
		{"scd_abc\r\nignored", "scd_abc", false},
		{"", "", true},
		{"\n", "", true},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := runToken([]string{"hash"}, strings.NewReader(tt.in), &out, &errOut)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%q: err %v", tt.in, err)
		}
		if tt.wantErr {
			continue
		}
		sum := sha256.Sum256([]byte(tt.want))
		if got := strings.TrimSpace(out.String()); got != hex.EncodeToString(sum[:]) {
			t.Errorf("%q: got %s", tt.in, got)
		}
	}
}

func TestGenerate(t *testing.T) {
	var out bytes.Buffer
	if err := runToken([]string{"generate"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	var token, hash string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "token:"); ok {
			token = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "token_sha256:"); ok {
			hash = strings.TrimSpace(v)
		}
	}
	sum := sha256.Sum256([]byte(token))
	if !strings.HasPrefix(token, tokenPrefix) || len(token) != len(tokenPrefix)+43 || hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("token %q hash %q", token, hash)
	}
	if generateToken() == generateToken() {
		t.Fatal("two tokens alike")
	}
}
