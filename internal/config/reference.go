package config

import (
	"fmt"
	"strings"
)

// Reference renders settings as a Markdown table: flag, environment
// variable, YAML key, default and meaning. docs/configuration.md is this
// output, checked by a test so it cannot drift from the code.
func Reference(settings []Setting) string {
	var b strings.Builder
	b.WriteString("| flag | env | YAML key | default | meaning |\n|---|---|---|---|---|\n")
	for _, s := range settings {
		def := s.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		help := s.Help
		if s.Secret {
			help += " Secret: redacted wherever settings are shown."
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | `%s` | %s | %s |\n", s.Flag, s.Env, s.Key, def, strings.ReplaceAll(help, "|", `\|`))
	}
	return b.String()
}
