package top

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// abilitySeeds are ability_map texts of every shape, good and bad.
var abilitySeeds = []string{
	`"ac_install":{"effective":false,"serviceCode":"ac_install","abilityLevel":2},"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4}`,
	`{"tv_install":{"effective":"true","serviceCode":"tv_install","abilityLevel":"4"}}`,
	` { "a" : { "effective" : true , "abilityLevel" : 1 , "note" : {"x":[1,"]}",{"y":null}]} , "s":"q\"}" } } `,
	`"a":{"effective":true},"a":{"abilityLevel":3}`,
	`"a":{"abilityLevel":1,"abilityLevel":2}`,
	`"a":{"abilityLevel":"x","abilityLevel":2}`,
	`"a\u0062":{"effective":true}`,
	`"a":{"eff\u0065ctive":true}`,
	`"a":{"effective":null,"serviceCode":null,"abilityLevel":null}`,
	`"a":{"abilityLevel":4.5}`,
	`"a":{"effective":1}`,
	`"a":{"serviceCode":5}`,
	`"a":[]`,
	`"a":"b"`,
	`"a":{}`,
	`{}`,
	`"a":{"effective":true`,
	`"a":{"extra":[1,2,{"b":"}"}],"more":-1.5e3}`,
	"\"\xff\":{\"effective\":true}",
	"\"a\":{\"\xfe\":1}",
	`"中文":{"serviceCode":"安装","effective":true}`,
}

// FuzzParseAbilityMap holds the one-pass parser to the encoding/json one:
// whenever it answers, it answers the same.
func FuzzParseAbilityMap(f *testing.F) {
	for _, s := range abilitySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		text := strings.TrimSpace(s)
		if text == "" {
			return
		}
		if !strings.HasPrefix(text, "{") {
			text = "{" + text + "}"
		}
		fast, ok := parseAbilitiesFast([]byte(text))
		if !ok {
			return
		}
		slow, err := parseAbilitiesSlow(text)
		if err != nil {
			t.Fatalf("fast parsed %q, slow failed: %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %#v\nslow %#v", s, fast, slow)
		}
	})
}

// TestParseAbilityMapFastPath checks that the usual shapes take the fast
// path, so that the fuzz target compares something.
func TestParseAbilityMapFastPath(t *testing.T) {
	for _, s := range abilitySeeds[:5] {
		text := strings.TrimSpace(s)
		if !strings.HasPrefix(text, "{") {
			text = "{" + text + "}"
		}
		if _, ok := parseAbilitiesFast([]byte(text)); !ok {
			t.Errorf("fast path refused %q", s)
		}
	}
}

func BenchmarkParseAbilityMap(b *testing.B) {
	text := abilitySeeds[0]
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseAbilityMap(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("slow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseAbilitiesSlow("{" + text + "}"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestParseAbilities checks the conversion: every ability converted
// under its name, a conversion's error returned, and a text that does
// not parse refused with the parse error whatever the conversion says,
// on the fast path and the slow one (an escaped key takes the slow one).
func TestParseAbilities(t *testing.T) {
	code := func(name string, a Ability) (string, error) {
		if name == "bad" {
			return "", errors.New("bad ability")
		}
		return name + "=" + a.ServiceCode, nil
	}
	for _, tc := range []struct {
		name, text string
		want       map[string]string
		err        string
	}{
		{"empty", " ", map[string]string{}, ""},
		{"fast", `"a":{"serviceCode":"x"},"b":{"serviceCode":"y"}`, map[string]string{"a": "a=x", "b": "b=y"}, ""},
		{"slow", `{"\u0061":{"serviceCode":"x"},"b":{"serviceCode":"y"}}`, map[string]string{"a": "a=x", "b": "b=y"}, ""},
		{"duplicate, last wins", `"a":{"serviceCode":"x"},"a":{"serviceCode":"z"}`, map[string]string{"a": "a=z"}, ""},
		{"conversion fails, fast", `"a":{"serviceCode":"x"},"bad":{}`, nil, "bad ability"},
		{"conversion fails, slow", `{"\u0061":{},"bad":{}}`, nil, "bad ability"},
		{"parse error first", `"bad":{},"c":[1]`, nil, `ability_map["c"] is not a JSON object`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAbilities(tc.text, code)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
