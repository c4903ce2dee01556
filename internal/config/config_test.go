package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Addr    string        `flag:"addr" default:"127.0.0.1:9090" help:"listen address"`
	Secret  string        `flag:"secret" secret:"true" help:"a secret"`
	Retries int           `flag:"retries" default:"3" help:"attempts"`
	Rate    float64       `flag:"rate" default:"0" help:"rate"`
	Verbose bool          `flag:"verbose" default:"false" help:"verbose"`
	Timeout time.Duration `flag:"timeout" default:"15s" help:"timeout"`
	Clients []string      `flag:"clients" help:"client names"`
	ignored string
}

func loader(env map[string]string, files map[string]string) Loader {
	return Loader{
		Name: "test",
		Getenv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		ReadFile: func(name string) ([]byte, error) {
			data, ok := files[name]
			if !ok {
				return nil, os.ErrNotExist
			}
			return []byte(data), nil
		},
	}
}

func TestPrecedence(t *testing.T) {
	files := map[string]string{"c.yaml": "addr: file:1\nretries: 5\nrate: 2.5\nsecret: from-file\nclients: [a, b]\n"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    testConfig
		sources map[string]Source
	}{
		{
			name:    "defaults",
			want:    testConfig{Addr: "127.0.0.1:9090", Retries: 3, Timeout: 15 * time.Second},
			sources: map[string]Source{"addr": SourceDefault, "retries": SourceDefault},
		},
		{
			name:    "file over default",
			args:    []string{"--config", "c.yaml"},
			want:    testConfig{Addr: "file:1", Secret: "from-file", Retries: 5, Rate: 2.5, Timeout: 15 * time.Second, Clients: []string{"a", "b"}},
			sources: map[string]Source{"addr": SourceFile, "timeout": SourceDefault},
		},
		{
			name:    "env over file, file named by env",
			env:     map[string]string{"SERVICECENTERD_CONFIG": "c.yaml", "SERVICECENTERD_ADDR": "env:1", "SERVICECENTERD_VERBOSE": "true"},
			want:    testConfig{Addr: "env:1", Secret: "from-file", Retries: 5, Rate: 2.5, Verbose: true, Timeout: 15 * time.Second, Clients: []string{"a", "b"}},
			sources: map[string]Source{"addr": SourceEnv, "retries": SourceFile, "verbose": SourceEnv},
		},
		{
			name:    "flag over env",
			env:     map[string]string{"SERVICECENTERD_ADDR": "env:1", "SERVICECENTERD_TIMEOUT": "1s"},
			args:    []string{"--config=c.yaml", "--addr", "flag:1", "--clients", "x, y", "rest"},
			want:    testConfig{Addr: "flag:1", Secret: "from-file", Retries: 5, Rate: 2.5, Timeout: time.Second, Clients: []string{"x", "y"}},
			sources: map[string]Source{"addr": SourceFlag, "timeout": SourceEnv, "clients": SourceFlag},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testConfig
			res, err := loader(tt.env, files).Load(&got, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			for _, v := range res.Values {
				if want, ok := tt.sources[v.Flag]; ok && v.From != want {
					t.Errorf("%s from %s, want %s", v.Flag, v.From, want)
				}
				if v.Flag == "secret" && got.Secret != "" && v.Shown != "[REDACTED]" {
					t.Errorf("secret shown as %q", v.Shown)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	files := map[string]string{
		"typo.yaml":   "adr: x\n",
		"typos.yaml":  "verbos: true\naddr: x\nzzz: 1\nretry: 2\n",
		"bad.yaml":    "addr: [\n",
		"nested.yaml": "addr:\n  a: 1\n",
		"badint.yaml": "retries: many\n",
		"secret.yaml": "secret: [a]\n",
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown key", nil, []string{"--config", "typo.yaml"}, `unknown setting "adr" (did you mean addr?)`},
		{"every unknown key, sorted, with the nearest setting when there is one", nil, []string{"--config", "typos.yaml"},
			`unknown settings "retry" (did you mean retries?), "verbos" (did you mean verbose?), "zzz"`},
		{"bad yaml", nil, []string{"--config", "bad.yaml"}, "not valid YAML"},
		{"nested", nil, []string{"--config", "nested.yaml"}, "want a single value"},
		{"bad int in file", nil, []string{"--config", "badint.yaml"}, `retries: "many" is not a whole number`},
		{"missing file", nil, []string{"--config", "nope.yaml"}, "read config file"},
		{"bad env", map[string]string{"SERVICECENTERD_TIMEOUT": "soon"}, nil, `SERVICECENTERD_TIMEOUT: "soon" is not a duration`},
		{"bad flag", nil, []string{"--retries", "x"}, `invalid value "x" for flag -retries`},
		{"unknown flag", nil, []string{"--nope"}, "flag provided but not defined: -nope"},
		{"bad float", map[string]string{"SERVICECENTERD_RATE": "fast"}, nil, `"fast" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConfig
			_, err := loader(tt.env, files).Load(&c, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	var c testConfig
	if _, err := loader(nil, nil).Load(&c, []string{"-h"}); !errors.Is(err, ErrHelp) {
		t.Fatalf("help: %v", err)
	}
}

func TestSecretValueNeverInErrors(t *testing.T) {
	type sc struct {
		N int `flag:"n" secret:"true"`
	}
	var c sc
	_, err := loader(map[string]string{"SERVICECENTERD_N": "s3cr3t"}, nil).Load(&c, nil)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("env: err = %v", err)
	}
	_, err = loader(nil, nil).Load(&c, []string{"--n", "s3cr3t"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("flag: err = %v", err)
	}
}

func TestRealFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("retries: 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c testConfig
	if _, err := (Loader{Name: "t", Getenv: func(string) (string, bool) { return "", false }}).Load(&c, []string{"--config", path}); err != nil || c.Retries != 9 {
		t.Fatalf("c = %+v, err = %v", c, err)
	}
}

func TestReference(t *testing.T) {
	settings, err := Settings(&testConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ref := Reference(settings)
	for _, want := range []string{"| `--addr` | `SERVICECENTERD_ADDR` | `addr` | `127.0.0.1:9090` | listen address |", "a secret Secret: redacted"} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q:\n%s", want, ref)
		}
	}
	if _, err := Settings(testConfig{}); err == nil {
		t.Error("non-pointer accepted")
	}
}

type innerConfig struct {
	Port  int    `flag:"port" default:"80" help:"port"`
	Token string `flag:"token" secret:"true" help:"token"`
}

type outerConfig struct {
	Name string `flag:"name" help:"name"`
	innerConfig
	Tail bool `flag:"tail" default:"false" help:"tail"`
}

func TestEmbeddedSettings(t *testing.T) {
	settings, err := Settings(&outerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, s := range settings {
		flags = append(flags, s.Flag)
	}
	if strings.Join(flags, ",") != "name,port,token,tail" {
		t.Fatalf("flags %v", flags)
	}
	var c outerConfig
	res, err := loader(map[string]string{"SERVICECENTERD_TOKEN": "t0k"}, nil).Load(&c, []string{"--port", "8080"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Token != "t0k" {
		t.Fatalf("c = %+v", c)
	}
	for _, v := range res.Values {
		if v.Flag == "token" && (v.Shown != "[REDACTED]" || v.From != SourceEnv) {
			t.Fatalf("token shown %q from %s", v.Shown, v.From)
		}
	}
	type dup struct {
		Port int `flag:"port"`
		innerConfig
	}
	if _, err := Settings(&dup{}); err == nil || !strings.Contains(err.Error(), "port: defined twice") {
		t.Fatalf("duplicate flag: %v", err)
	}
}

type listenSection struct {
	Addr string `flag:"addr" default:"127.0.0.1:80" help:"address"`
}

type limitsSection struct {
	Max   int           `flag:"max" default:"10" help:"most"`
	Inner innerConfig   `section:"inner"`
	Wait  time.Duration `flag:"wait" default:"1s" help:"wait"`
}

type sectionedConfig struct {
	Name   string        `flag:"name" help:"name"`
	Listen listenSection `section:"listen"`
	Limits limitsSection `section:"limits"`
	Tail   bool          `flag:"tail" default:"false" help:"tail"`
}

func TestSectionSettings(t *testing.T) {
	settings, err := Settings(&sectionedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range settings {
		got = append(got, s.Flag+"@"+s.Section)
	}
	want := "name@,addr@listen,max@limits,port@limits.inner,token@limits.inner,wait@limits,tail@"
	if strings.Join(got, ",") != want {
		t.Fatalf("settings %v, want %s", got, want)
	}
	var c sectionedConfig
	files := map[string]string{"c.yaml": "addr: file:1\nport: 81\n"}
	res, err := loader(map[string]string{"SERVICECENTERD_TOKEN": "t0k", "SERVICECENTERD_WAIT": "2s"}, files).Load(&c, []string{"--config", "c.yaml", "--max", "5"})
	if err != nil {
		t.Fatal(err)
	}
	wantC := sectionedConfig{Listen: listenSection{Addr: "file:1"}, Limits: limitsSection{Max: 5, Inner: innerConfig{Port: 81, Token: "t0k"}, Wait: 2 * time.Second}}
	if !reflect.DeepEqual(c, wantC) {
		t.Fatalf("c = %+v, want %+v", c, wantC)
	}
	from := map[string]Source{}
	for _, v := range res.Values {
		from[v.Flag] = v.From
		if v.Flag == "token" && v.Shown != "[REDACTED]" {
			t.Errorf("token shown %q", v.Shown)
		}
	}
	if from["addr"] != SourceFile || from["max"] != SourceFlag || from["wait"] != SourceEnv || from["tail"] != SourceDefault {
		t.Errorf("sources %v", from)
	}

	bad := []struct {
		name   string
		target any
	}{
		{"flag and section", &struct {
			S listenSection `section:"s" flag:"s"`
		}{}},
		{"not a struct", &struct {
			S int `section:"s"`
		}{}},
		{"no name", &struct {
			S listenSection `section:""`
		}{}},
		{"unexported", &struct {
			s listenSection `section:"s"`
		}{}},
		{"a flag in two sections", &struct {
			A listenSection `section:"a"`
			B listenSection `section:"b"`
		}{}},
	}
	for _, b := range bad {
		if _, err := Settings(b.target); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("SERVICECENTERD_MAX", "99")        // ignored
	c := sectionedConfig{Name: "x", Tail: true} // both back to their defaults: "" and false
	if err := Defaults(&c); err != nil {
		t.Fatal(err)
	}
	want := sectionedConfig{Listen: listenSection{Addr: "127.0.0.1:80"}, Limits: limitsSection{Max: 10, Inner: innerConfig{Port: 80}, Wait: time.Second}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults %+v, want %+v", c, want)
	}
	if err := Defaults(sectionedConfig{}); err == nil {
		t.Error("non-pointer accepted")
	}
	type badDefault struct {
		N int `flag:"n" default:"many"`
	}
	if err := Defaults(&badDefault{}); err == nil || !strings.Contains(err.Error(), "--n") {
		t.Errorf("bad default: %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, blank := write("good", "s3cr3t\r\n\n"), write("blank", "\n")
	tests := []struct {
		name, value, file string
		want, wantErr     string
	}{
		{"no file keeps the value", "inline", "", "inline", ""},
		{"no file, no value", "", "", "", ""},
		{"file, newlines dropped", "", good, "s3cr3t", ""},
		{"both set", "inline", good, "inline", "--app-secret and --app-secret-file are both set; use one"},
		{"missing file", "", filepath.Join(dir, "missing"), "", "--app-secret-file: open "},
		{"empty file", "", blank, "", "--app-secret-file " + blank + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.value
			err := SecretFile(&v, tt.file, "app-secret")
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error shows the secret: %v", err)
			}
			if tt.wantErr == "" && v != tt.want {
				t.Fatalf("value %q, want %q", v, tt.want)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"grpc_addr", "http_addr", "top_app_key", "top_url", "data_dir", "log_level"}
	for _, tt := range []struct{ key, want string }{
		{"grpc_adr", "grpc_addr"},
		{"htpp_addr", "http_addr"},
		{"app_key", "top_app_key"},
		{"datadir", "data_dir"},
		{"loglevel", "log_level"},
		{"colour", ""},
		{"url", ""},
	} {
		if got := nearest(tt.key, keys); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
