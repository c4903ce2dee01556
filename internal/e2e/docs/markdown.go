package docs

import (
	"regexp"
	"strings"
)

// example is a ```sh block of a page and the output block after it.
type example struct {
	line   int    // the line of the opening fence, from 1
	script string // the block's content
	// outLang is the output block's language ("json", "text", ""), and
	// out its content; hasOut says whether there is one.
	outLang string
	out     string
	hasOut  bool
	// skip is why the block is not run ("" when it is).
	skip string
}

var (
	fenceRe  = regexp.MustCompile("^```([A-Za-z0-9_-]*)\\s*$")
	skipRe   = regexp.MustCompile(`^<!-- example: not run \((.+)\) -->$`)
	serverRe = regexp.MustCompile(`^<!-- example server: (.*) -->$`)
)

// parsePage lists a page's examples and the extra serve flags it asks for.
func parsePage(md string) ([]example, []string) {
	lines := strings.Split(md, "\n")
	var (
		out      []example
		flags    []string
		lastText string // the last non-empty line outside a block
	)
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			if t := strings.TrimSpace(lines[i]); t != "" {
				lastText = t
				if sm := serverRe.FindStringSubmatch(t); sm != nil {
					flags = append(flags, strings.Fields(sm[1])...)
				}
			}
			continue
		}
		lang, start := m[1], i
		body, end := block(lines, i)
		i = end
		if lang != "sh" {
			lastText = ""
			continue
		}
		ex := example{line: start + 1, script: body}
		if sm := skipRe.FindStringSubmatch(lastText); sm != nil {
			ex.skip = sm[1]
		}
		if i+1 < len(lines) {
			if om := fenceRe.FindStringSubmatch(lines[i+1]); om != nil && (om[1] == "json" || om[1] == "text" || om[1] == "") {
				ex.outLang, ex.hasOut = om[1], true
				ex.out, i = block(lines, i+1)
			}
		}
		lastText = ""
		out = append(out, ex)
	}
	return out, flags
}

// block returns the content of the fenced block opening at line i and the
// line of its closing fence.
func block(lines []string, i int) (string, int) {
	var b []string
	for j := i + 1; j < len(lines); j++ {
		if strings.TrimSpace(lines[j]) == "```" {
			return strings.Join(b, "\n"), j
		}
		b = append(b, lines[j])
	}
	return strings.Join(b, "\n"), len(lines) - 1
}

// commands splits a script into commands: lines joined at a trailing
// backslash, blank and comment-only lines dropped.
func commands(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		cmd := strings.TrimSpace(cur.String())
		cur.Reset()
		if cmd != "" && !strings.HasPrefix(cmd, "#") {
			out = append(out, cmd)
		}
	}
	return out
}

// splitWords splits a command line as the shell would for the simple
// forms the docs use: single and double quotes, backslash escapes outside
// single quotes, and a comment from an unquoted " #".
func splitWords(cmd string) []string {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(cmd)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case r == '#' && !in:
			return words
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
