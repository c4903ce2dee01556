package topapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/servicecenterd/servicecenterd/internal/topwire"
)

// Ability is one entry of taglist.get's ability_map, e.g.
// "tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4}.
type Ability struct {
	// Effective says whether the ability is active.
	Effective bool
	// ServiceCode is the service the worker can perform.
	ServiceCode string
	// AbilityLevel is 0 none, 1 junior, 2 intermediate, 3 senior, 4 expert.
	AbilityLevel int64
	// Extra holds attributes beyond the documented three, as raw JSON.
	Extra map[string]json.RawMessage
}

// ParseAbilityMap parses ability_map. TOP sends a JSON object's members,
// sometimes without the outer braces (as in the API document's example);
// both forms parse. Unknown abilities and attributes are kept. An empty
// text is an empty map.
func ParseAbilityMap(s string) (map[string]Ability, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return map[string]Ability{}, nil
	}
	if !strings.HasPrefix(text, "{") {
		text = "{" + text + "}"
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("ability_map is not a JSON object: %s", jsonReason(err))
	}
	out := make(map[string]Ability, len(raw))
	for name, value := range raw {
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(value, &attrs); err != nil {
			return nil, fmt.Errorf("ability_map[%q] is not a JSON object", name)
		}
		var a Ability
		for k, v := range attrs {
			var err error
			switch k {
			case "effective":
				var b topwire.Bool
				err = json.Unmarshal(v, &b)
				a.Effective = bool(b)
			case "serviceCode":
				var s topwire.String
				err = json.Unmarshal(v, &s)
				a.ServiceCode = string(s)
			case "abilityLevel":
				var n topwire.Int64
				err = json.Unmarshal(v, &n)
				a.AbilityLevel = int64(n)
			default:
				if a.Extra == nil {
					a.Extra = map[string]json.RawMessage{}
				}
				a.Extra[k] = v
			}
			if err != nil {
				return nil, fmt.Errorf("ability_map[%q].%s: %w", name, k, err)
			}
		}
		out[name] = a
	}
	return out, nil
}

// FormatAbilityMap renders abilities as TOP does: the members of a JSON
// object without the outer braces, keys in sorted order.
func FormatAbilityMap(abilities map[string]Ability) string {
	names := make([]string, 0, len(abilities))
	for name := range abilities {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for i, name := range names {
		a := abilities[name]
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, name)
		b.WriteString(`:{"effective":`)
		b.WriteString(strconv.FormatBool(a.Effective))
		b.WriteString(`,"serviceCode":`)
		writeJSONString(&b, a.ServiceCode)
		b.WriteString(`,"abilityLevel":`)
		b.WriteString(strconv.FormatInt(a.AbilityLevel, 10))
		extras := make([]string, 0, len(a.Extra))
		for k := range a.Extra {
			extras = append(extras, k)
		}
		slices.Sort(extras)
		for _, k := range extras {
			b.WriteByte(',')
			writeJSONString(&b, k)
			b.WriteByte(':')
			b.Write(a.Extra[k])
		}
		b.WriteByte('}')
	}
	return b.String()
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // marshalling a string cannot fail
	b.Write(q)
}
