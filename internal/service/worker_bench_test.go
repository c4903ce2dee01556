package service

import (
	"fmt"
	"testing"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// benchAbilityMap is the benchmark upstream's ability_map (two abilities).
const benchAbilityMap = `"ac_install":{"effective":false,"serviceCode":"ac_install","abilityLevel":2},"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4}`

// BenchmarkAbilitiesFromTOP is the API's ability map from TOP's text:
// "two maps" parses into top.Ability's map and converts it (as before),
// "one map" is abilitiesFromTOP.
func BenchmarkAbilitiesFromTOP(b *testing.B) {
	twoMaps := func(text string) (map[string]*scv1.Ability, error) {
		parsed, err := top.ParseAbilityMap(text)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*scv1.Ability, len(parsed))
		for name, a := range parsed {
			if out[name], err = abilityFromTOP(name, a); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, bc := range []struct {
		name  string
		parse func(string) (map[string]*scv1.Ability, error)
	}{{"two maps", twoMaps}, {"one map", abilitiesFromTOP}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := bc.parse(benchAbilityMap)
				if err != nil || len(m) != 2 {
					b.Fatal(fmt.Sprint(m, err))
				}
			}
		})
	}
}
