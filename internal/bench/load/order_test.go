package load

import (
	"slices"
	"testing"
)

func TestRoundOrderRows(t *testing.T) {
	tests := []struct {
		n, r int
		want []int
	}{
		{1, 0, []int{0}},
		{1, 3, []int{0}},
		{2, 0, []int{0, 1}},
		{2, 1, []int{1, 0}},
		{4, 0, []int{0, 1, 3, 2}},
		{4, 1, []int{1, 2, 0, 3}},
		{6, 0, []int{0, 1, 5, 2, 4, 3}},
		{6, 2, []int{2, 3, 1, 4, 0, 5}},
		{6, 6, []int{0, 1, 5, 2, 4, 3}}, // the period repeats
		{3, 0, []int{0, 1, 2}},
		{3, 3, []int{2, 1, 0}}, // odd: the second half runs backwards
		{0, 0, nil},
	}
	for _, tt := range tests {
		if got := RoundOrder(tt.n, tt.r); !slices.Equal(got, tt.want) {
			t.Errorf("RoundOrder(%d, %d) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
}

// TestRoundOrderBalanced checks the design's promises for 1 to 8 targets:
// every round is a permutation, over a period each target is first equally
// often and follows every other target equally often (once for even n,
// twice for odd n), so no target always runs right after the same one.
func TestRoundOrderBalanced(t *testing.T) {
	for n := 1; n <= 8; n++ {
		period, times := n, 1
		if n%2 == 1 {
			period, times = 2*n, 2
		}
		follows := map[[2]int]int{}
		first := map[int]int{}
		for r := range period {
			row := RoundOrder(n, r)
			sorted := slices.Sorted(slices.Values(row))
			for i := range n {
				if sorted[i] != i {
					t.Fatalf("n=%d round %d: %v is not a permutation", n, r, row)
				}
			}
			first[row[0]]++
			for i := 1; i < n; i++ {
				follows[[2]int{row[i-1], row[i]}]++
			}
		}
		for a := range n {
			if first[a] != times {
				t.Errorf("n=%d: target %d first %d times in %d rounds, want %d", n, a, first[a], period, times)
			}
			for b := range n {
				if a == b {
					continue
				}
				if got := follows[[2]int{a, b}]; got != times {
					t.Errorf("n=%d: %d runs right after %d %d times in %d rounds, want %d", n, b, a, got, period, times)
				}
			}
		}
	}
}
