package redact

import "testing"

func TestPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"", ""},
		{"1234567", "*******"},
		{"12345678", "123*5678"},
	}
	for _, tt := range tests {
		if got := Phone(tt.in); got != tt.want {
			t.Errorf("Phone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"11010519491231002X", "110105********002X"},
		{"", ""},
		{"1234567890", "**********"},
	}
	for _, tt := range tests {
		if got := ID(tt.in); got != tt.want {
			t.Errorf("ID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecret(t *testing.T) {
	if got := Secret("s3cr3t"); got != Redacted {
		t.Errorf("Secret = %q", got)
	}
	if got := Secret(""); got != "" {
		t.Errorf("Secret(empty) = %q", got)
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"no digits here", "no digits here"},
		{"手机号13812345678格式错误", "手机号138****5678格式错误"},
		{"id 11010519491231002X and 110105194912310021.", "id 110105********002X and 110105********0021."},
		{"workcard 2345678 request 1656674541001", "workcard 2345678 request 1656674541001"},
		{"+8613812345678", "+86138****5678"},
		{"23812345678", "23812345678"},
		{"a:13812345678,b:13912345678", "a:138****5678,b:139****5678"},
		{"scd-801e11430836630b906346ed2b43a762", "scd-801e11430836630b906346ed2b43a762"},
		{"tel:13812345678x", "tel:138****5678x"},
		{"tel13812345678", "tel138****5678"},
		{"ID 11010519491231002X.", "ID 110105********002X."},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
