package top

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	return ParseAbilities(s, keepAbility)
}

// ParseAbilities is ParseAbilityMap with each ability converted by
// convert (which gets its name too) into the caller's own map, without a
// map of Ability between. A conversion's error is returned after the
// text has parsed, as when ParseAbilityMap's result is converted: a
// text that does not parse is that error, whatever convert says.
func ParseAbilities[T any](s string, convert func(name string, a Ability) (T, error)) (map[string]T, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return map[string]T{}, nil
	}
	var b []byte
	if strings.HasPrefix(text, "{") {
		b = []byte(text)
	} else {
		// The braces and the text in one allocation.
		b = make([]byte, 0, len(text)+2)
		b = append(append(append(b, '{'), text...), '}')
	}
	if out, ok := parseAbilitiesInto(b, convert); ok {
		return out, nil
	}
	parsed, err := parseAbilitiesSlow(string(b))
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(parsed))
	for name, a := range parsed {
		v, err := convert(name, a)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// keepAbility is ParseAbilityMap's conversion: none.
func keepAbility(_ string, a Ability) (Ability, error) { return a, nil }

// parseAbilitiesSlow is ParseAbilityMap through encoding/json, one
// json.Unmarshal per ability and attribute; it words every error.
func parseAbilitiesSlow(text string) (map[string]Ability, error) {
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
				var b Bool
				err = json.Unmarshal(v, &b)
				a.Effective = bool(b)
			case "serviceCode":
				var s String
				err = json.Unmarshal(v, &s)
				a.ServiceCode = string(s)
			case "abilityLevel":
				var n Int64
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

// parseAbilitiesFast parses the abilities of the JSON object text in one
// pass over it (checking it is valid JSON on the way), without
// reflection. It gives up (false) on anything unusual, an escaped or
// non-UTF-8 key, a value that is not an object, an attribute that does
// not decode, invalid JSON, so that parseAbilitiesSlow answers (and words
// the error); when it succeeds, its result is parseAbilitiesSlow's
// (duplicate names and attributes: the last wins, as in a map).
// FuzzParseAbilityMap holds it to that.
func parseAbilitiesFast(text []byte) (map[string]Ability, bool) {
	return parseAbilitiesInto(text, keepAbility)
}

// parseAbilitiesInto is parseAbilitiesFast converting each ability as it
// is parsed; it also gives up when a conversion fails, so that the slow
// path converts (and words the error) exactly as it would have, duplicate
// names included.
func parseAbilitiesInto[T any](text []byte, convert func(name string, a Ability) (T, error)) (map[string]T, bool) {
	out := make(map[string]T, 4)
	c := cursor{b: text, i: skipSpace(text, 0)}
	if c.i >= len(text) || text[c.i] != '{' {
		return nil, false
	}
	ok := c.object(func(name []byte) bool {
		var a Ability
		if c.i >= len(text) || text[c.i] != '{' && text[c.i] != 'n' {
			return false
		}
		if !c.object(func(k []byte) bool {
			switch string(k) {
			case "effective":
				var b Bool
				ok := c.field(&b)
				a.Effective = bool(b)
				return ok
			case "serviceCode":
				var s String
				ok := c.field(&s)
				a.ServiceCode = string(s)
				return ok
			case "abilityLevel":
				var n Int64
				ok := c.field(&n)
				a.AbilityLevel = int64(n)
				return ok
			}
			v, ok := c.value()
			if !ok {
				return false
			}
			if a.Extra == nil {
				a.Extra = map[string]json.RawMessage{}
			}
			a.Extra[string(k)] = bytes.Clone(v)
			return true
		}) {
			return false
		}
		key := string(name)
		v, err := convert(key, a)
		if err != nil {
			return false
		}
		out[key] = v
		return true
	})
	if !ok || skipSpace(text, c.i) != len(text) {
		return nil, false
	}
	return out, true
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
