package metrics

import "testing"

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"", ""},
		{"127.0.0.1:9100", ""},
		{":9100", ""},
		{"metrics.internal:9100", ""},
		{"9100", `--metrics-addr "9100" is not host:port`},
	}
	for _, tt := range tests {
		err := Settings{Addr: tt.addr}.Validate()
		if got := errText(err); got != tt.want {
			t.Errorf("Validate(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
