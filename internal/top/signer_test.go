package top

import (
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
