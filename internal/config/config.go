// Package config resolves servicecenterd's settings from command-line flags,
// SERVICECENTERD_* environment variables, an optional YAML file and
// defaults, in that order of precedence (flag > env > file > default).
//
// Every setting is one field of a settings struct with a struct tag
// naming its flag; the environment variable and the YAML key derive from
// the flag name (--top-url, SERVICECENTERD_TOP_URL, top_url). The same
// table drives parsing, `config check`, the redacted start-up log and the
// generated reference in docs/configuration.md, so they cannot drift
// apart.
//
// # Sections
//
// Each component owns its settings: a Settings struct in its own package
// (topclient.Settings, syncjob.Settings, auth.Settings...) with the tagged
// fields and a Validate method, which checks them and names the flag in
// its errors. A command composes the sections as fields of its own struct
// with a `section:"name"` tag; their settings appear in place, in field
// order, as if they were the command's own:
//
//	type Config struct {
//		TOP  topclient.Settings `section:"top"`
//		Sync syncjob.Settings   `section:"sync"`
//	}
//
// The defaults are the tags' (there is no SetDefaults); Defaults fills a
// struct with them, for programs and tests that build settings in code.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// EnvPrefix starts every environment variable servicecenterd reads.
const EnvPrefix = "SERVICECENTERD_"

// Setting describes one configuration setting.
type Setting struct {
	// Flag is the command-line flag name without dashes, e.g. top-url.
	Flag string
	// Env is the environment variable, e.g. SERVICECENTERD_TOP_URL.
	Env string
	// Key is the YAML key, e.g. top_url.
	Key string
	// Default is the default value as text.
	Default string
	// Help says what the setting does.
	Help string
	// Secret settings are redacted wherever settings are shown.
	Secret bool
	// Type names the value's type: string, int, float, bool, duration, list.
	Type string
	// Section is the name of the section the setting belongs to (its
	// field's `section` tag, sections inside sections joined with "."), ""
	// for a field of the struct itself.
	Section string

	index []int
}

// Source says where a resolved value came from.
type Source string

// Sources of a value, from weakest to strongest.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// Value is one resolved setting, as shown by `config check` and logged at
// start; secrets are already redacted.
type Value struct {
	Setting
	// Shown is the value as text, "[REDACTED]" for a secret that is set.
	Shown string
	// From is where the value came from.
	From Source
}

// Settings lists the settings of a config struct type (a pointer to a
// struct whose fields carry `flag` tags), in field order, with
// environment variables under EnvPrefix. The settings of a struct field
// with a `section` tag (see Sections), and those of an embedded struct
// without a flag tag, are listed in its place.
func Settings(target any) ([]Setting, error) {
	return SettingsWithPrefix(target, EnvPrefix)
}

// SettingsWithPrefix is Settings with environment variables under prefix.
func SettingsWithPrefix(target any, prefix string) ([]Setting, error) {
	t := reflect.TypeOf(target)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config target must be a pointer to a struct, got %T", target)
	}
	out, err := structSettings(t.Elem(), nil, "", prefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range out {
		if seen[s.Flag] {
			return nil, fmt.Errorf("setting %s: defined twice", s.Flag)
		}
		seen[s.Flag] = true
	}
	return out, nil
}

// structSettings lists the tagged fields of struct type t, whose index
// path starts with at, in section, with environment variables under
// envPrefix; section fields and embedded structs without a flag tag
// contribute their own settings in place.
func structSettings(t reflect.Type, at []int, section, envPrefix string) ([]Setting, error) {
	var out []Setting
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(slices.Clone(at), f.Index...)
		name := f.Tag.Get("flag")
		if sec, ok := f.Tag.Lookup("section"); ok {
			if name != "" || f.Type.Kind() != reflect.Struct || sec == "" || !f.IsExported() {
				return nil, fmt.Errorf("field %s: a section is an exported struct field with a section name and no flag tag", f.Name)
			}
			if section != "" {
				sec = section + "." + sec
			}
			inner, err := structSettings(f.Type, index, sec, envPrefix)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if name == "" {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				inner, err := structSettings(f.Type, index, section, envPrefix)
				if err != nil {
					return nil, err
				}
				out = append(out, inner...)
			}
			continue
		}
		typ, err := typeName(f.Type)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
		out = append(out, Setting{
			Flag:    name,
			Env:     envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
			Key:     strings.ReplaceAll(name, "-", "_"),
			Default: f.Tag.Get("default"),
			Help:    f.Tag.Get("help"),
			Secret:  f.Tag.Get("secret") == "true",
			Type:    typ,
			Section: section,
			index:   index,
		})
	}
	return out, nil
}

func typeName(t reflect.Type) (string, error) {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration", nil
	case t.Kind() == reflect.String:
		return "string", nil
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "int", nil
	case t.Kind() == reflect.Float64:
		return "float", nil
	case t.Kind() == reflect.Bool:
		return "bool", nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list", nil
	}
	return "", fmt.Errorf("unsupported type %s", t)
}

// Loader resolves settings into a config struct.
type Loader struct {
	// Name is the command name used in usage and errors, e.g. "servicecenterd serve".
	Name string
	// EnvPrefix starts the environment variables; "" means EnvPrefix
	// (SERVICECENTERD_). A subcommand with settings of its own uses a
	// longer one, e.g. SERVICECENTERD_EMULATOR_.
	EnvPrefix string
	// Getenv reads the environment; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// ReadFile reads the YAML file; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Output receives usage text; nil means io.Discard.
	Output io.Writer
}

// Result is what Load resolved.
type Result struct {
	// File is the YAML file that was read, if any.
	File string
	// Values lists every setting with its shown value and source.
	Values []Value
	// Args are the positional arguments left after the flags.
	Args []string
}

// ErrHelp is returned when -h or --help was asked for; usage was printed.
var ErrHelp = flag.ErrHelp

// Load fills target (a pointer to a struct with `flag` tags) from defaults,
// the YAML file named by --config or SERVICECENTERD_CONFIG, the environment
// and args, with later sources winning. It does not validate values beyond
// their types; the caller's Validate does that.
func (l Loader) Load(target any, args []string) (*Result, error) {
	prefix := l.EnvPrefix
	if prefix == "" {
		prefix = EnvPrefix
	}
	settings, err := SettingsWithPrefix(target, prefix)
	if err != nil {
		return nil, err
	}
	getenv := l.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	readFile := l.ReadFile
	if readFile == nil {
		readFile = os.ReadFile
	}
	out := l.Output
	if out == nil {
		out = io.Discard
	}
	v := reflect.ValueOf(target).Elem()
	sources := make(map[string]Source, len(settings))

	// Flags are parsed first to learn --config and which flags were set,
	// but applied last.
	fs := flag.NewFlagSet(l.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	configFile := fs.String("config", "", "YAML configuration file (env "+prefix+"CONFIG)")
	raw := make(map[string]*string, len(settings))
	for _, s := range settings {
		p := new(string)
		raw[s.Flag] = p
		fs.Func(s.Flag, usageLine(s), func(text string) error {
			// The flag package quotes a rejected value in its error, so
			// secrets are checked later, by set, which does not.
			if _, err := parseValue(s, text); err != nil && !s.Secret {
				return err
			}
			*p = text
			return nil
		})
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage of %s:\n", l.Name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}

	for _, s := range settings {
		if err := set(v, s, s.Default); err != nil {
			return nil, fmt.Errorf("default of --%s: %w", s.Flag, err)
		}
		sources[s.Flag] = SourceDefault
	}

	file := *configFile
	if file == "" {
		file, _ = getenv(prefix + "CONFIG")
	}
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		values, err := parseYAML(data, settings)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		for _, s := range settings {
			text, ok := values[s.Key]
			if !ok {
				continue
			}
			if err := set(v, s, text); err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", file, s.Key, err)
			}
			sources[s.Flag] = SourceFile
		}
	}

	for _, s := range settings {
		text, ok := getenv(s.Env)
		if !ok {
			continue
		}
		if err := set(v, s, text); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Env, err)
		}
		sources[s.Flag] = SourceEnv
	}

	var setErr error
	fs.Visit(func(f *flag.Flag) {
		p, ok := raw[f.Name]
		if !ok || setErr != nil {
			return
		}
		s := settings[slices.IndexFunc(settings, func(s Setting) bool { return s.Flag == f.Name })]
		if err := set(v, s, *p); err != nil {
			setErr = fmt.Errorf("--%s: %w", s.Flag, err)
		}
		sources[s.Flag] = SourceFlag
	})
	if setErr != nil {
		return nil, setErr
	}

	res := &Result{File: file, Args: fs.Args()}
	for _, s := range settings {
		res.Values = append(res.Values, Value{Setting: s, Shown: show(v, s), From: sources[s.Flag]})
	}
	return res, nil
}

// Defaults sets every setting of target (a pointer to a struct with
// `flag` tags, as for Load) to its default, ignoring the environment and
// any file: the settings a program or test starts from before changing
// some and calling Validate.
func Defaults(target any) error {
	settings, err := Settings(target)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(target).Elem()
	for _, s := range settings {
		if err := set(v, s, s.Default); err != nil {
			return fmt.Errorf("default of --%s: %w", s.Flag, err)
		}
	}
	return nil
}

// SecretFile fills *value from file when file is set, for a secret that
// can be given inline (--name) or in a file (--name-file); trailing
// newlines are dropped. Setting both is an error, so that it is clear
// which one is used; so is an empty file. Errors name the flags and the
// file, never the secret.
func SecretFile(value *string, file, name string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return fmt.Errorf("--%s and --%s-file are both set; use one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--%s-file: %w", name, err)
	}
	*value = strings.TrimRight(string(b), "\r\n")
	if *value == "" {
		return fmt.Errorf("--%s-file %s is empty", name, file)
	}
	return nil
}

func usageLine(s Setting) string {
	line := s.Help + " (env " + s.Env
	if s.Default != "" {
		line += ", default " + s.Default
	}
	return line + ")"
}

// parseYAML reads a flat YAML mapping of setting keys to scalars (or, for
// list settings, sequences of scalars); unknown keys are errors so that a
// typo does not pass silently, all of them at once, each with the nearest
// setting.
func parseYAML(data []byte, settings []Setting) (map[string]string, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	out := make(map[string]string, len(doc))
	var unknown []string
	for key := range doc {
		if !slices.ContainsFunc(settings, func(s Setting) bool { return s.Key == key }) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		keys := make([]string, len(settings))
		for i, s := range settings {
			keys[i] = s.Key
		}
		msgs := make([]string, len(unknown))
		for i, key := range unknown {
			msgs[i] = fmt.Sprintf("%q", key)
			if near := nearest(key, keys); near != "" {
				msgs[i] += fmt.Sprintf(" (did you mean %s?)", near)
			}
		}
		noun := "setting"
		if len(unknown) > 1 {
			noun = "settings"
		}
		return nil, fmt.Errorf("unknown %s %s", noun, strings.Join(msgs, ", "))
	}
	for key, node := range doc {
		i := slices.IndexFunc(settings, func(s Setting) bool { return s.Key == key })
		switch {
		case node.Kind == yaml.ScalarNode:
			out[key] = node.Value
		case node.Kind == yaml.SequenceNode && settings[i].Type == "list":
			items := make([]string, 0, len(node.Content))
			for _, item := range node.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s: list items must be scalars", key)
				}
				items = append(items, item.Value)
			}
			out[key] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%s: want a single value", key)
		}
	}
	return out, nil
}

// nearest is the key closest to an unknown one, for a "did you mean":
// one at most 2 edits away (or a third of its length, for long keys), or
// else one that ends or starts with it ("app_key" for "top_app_key") or
// with all of it but its last letter ("retry" for "retries"); "" when none
// is close.
func nearest(key string, keys []string) string {
	best, bestDist := "", max(2, len(key)/3)+1
	for _, k := range keys {
		d := editDistance(key, k)
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	bestDist = -1
	for _, k := range keys {
		related := len(key) >= 4 && (strings.HasSuffix(k, "_"+key) || strings.HasPrefix(k, key+"_")) ||
			len(key) >= 5 && strings.HasPrefix(k, key[:len(key)-1])
		if d := editDistance(key, k); related && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes; keys are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func parseValue(s Setting, text string) (any, error) {
	switch s.Type {
	case "string":
		return text, nil
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return b, nil
	case "duration":
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 500ms or 15s", text)
		}
		return d, nil
	case "list":
		var items []string
		for item := range strings.SplitSeq(text, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unsupported type %s", s.Type)
}

func set(v reflect.Value, s Setting, text string) error {
	parsed, err := parseValue(s, text)
	if err != nil {
		if s.Secret {
			return errors.New("invalid value")
		}
		return err
	}
	f := v.FieldByIndex(s.index)
	switch x := parsed.(type) {
	case string:
		f.SetString(x)
	case int64:
		f.SetInt(x)
	case float64:
		f.SetFloat(x)
	case bool:
		f.SetBool(x)
	case time.Duration:
		f.SetInt(int64(x))
	case []string:
		f.Set(reflect.ValueOf(x))
	}
	return nil
}

func show(v reflect.Value, s Setting) string {
	f := v.FieldByIndex(s.index)
	var text string
	switch s.Type {
	case "list":
		text = strings.Join(f.Interface().([]string), ",")
	case "duration":
		text = time.Duration(f.Int()).String()
	default:
		text = fmt.Sprint(f.Interface())
	}
	if s.Secret {
		return redact.Secret(text)
	}
	return text
}
