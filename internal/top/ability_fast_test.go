package top

import (
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
