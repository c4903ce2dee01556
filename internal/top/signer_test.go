package top

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestSignerMatchesAppendSign checks the Signer against the documented
// algorithm for each method, from many goroutines at once (run with -race)
// so that pooled HMAC states are shared.
func TestSignerMatchesAppendSign(t *testing.T) {
	kv := map[string]string{
		"method": MethodWorkerTagList, "app_key": "emulator", "timestamp": "2026-11-23 09:00:00",
		"mobile": "13812345678", "target_worker_name": "张师傅", "empty": "",
	}
	for _, m := range []SignMethod{SignMD5, SignHMAC, SignHMACSHA256} {
		t.Run(string(m), func(t *testing.T) {
			kv["sign_method"] = string(m)
			params := make([]Param, 0, len(kv))
			for k, v := range kv {
				params = append(params, Param{k, v})
			}
			SortParams(params)
			want := independentSign(m, "emulator-secret", kv)
			s, err := NewSigner(m, "emulator-secret")
			if err != nil {
				t.Fatal(err)
			}
			if s.Method() != m {
				t.Fatalf("Method() = %s", s.Method())
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					buf := make([]byte, 0, 256)
					for range 50 {
						buf = append(buf[:0], "sign="...)
						buf = s.AppendSign(buf, params)
						if got := string(buf[len("sign="):]); got != want {
							t.Errorf("sign = %s, want %s", got, want)
							return
						}
					}
				})
			}
			wg.Wait()
			buf := make([]byte, 0, 256)
			allocs := testing.AllocsPerRun(100, func() { buf = s.AppendSign(buf[:0], params) })
			if allocs != 0 && !raceEnabled {
				t.Errorf("%v allocations per signature, want 0", allocs)
			}
		})
	}
	if _, err := NewSigner("sha1", "x"); err == nil {
		t.Fatal("NewSigner accepted sha1")
	}
}

// TestSortParams wants SortParams' order to be slices.SortFunc's by key,
// for short lists (insertion) and long ones, duplicates included (their
// order too), on lists drawn from a fixed seed.
func TestSortParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	keys := []string{"a", "ab", "b", "app_key", "method", "sign_method", "timestamp", "v", "format", "中", "A", ""}
	for _, n := range []int{0, 1, 2, 11, maxInsertionSort, maxInsertionSort + 1, 60} {
		for round := range 20 {
			params := make([]Param, n)
			for i := range params {
				params[i] = Param{Key: keys[rng.IntN(len(keys))], Value: strconv.Itoa(i)}
			}
			want := slices.Clone(params)
			slices.SortFunc(want, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
			SortParams(params)
			if !slices.Equal(params, want) {
				t.Fatalf("n=%d round %d: got %v, want %v", n, round, params, want)
			}
		}
	}
}

// BenchmarkSortParams sorts a GetWorkerTags call's parameters.
func BenchmarkSortParams(b *testing.B) {
	keys := []string{"id_number", "mobile", "method", "app_key", "timestamp", "format", "v", "sign_method", "partner_id", "simplify"}
	src := make([]Param, len(keys))
	for i, k := range keys {
		src[i] = Param{Key: k, Value: "x"}
	}
	params := make([]Param, len(src))
	b.ReportAllocs()
	for b.Loop() {
		copy(params, src)
		SortParams(params)
	}
}
