package load

// RoundOrder returns the order in which round r (from 0) runs n targets,
// as indexes 0 to n-1: the rows of a Williams design, a Latin square
// balanced for carry-over. Each round runs every target once; over n
// rounds (2n when n is odd) every target runs right after every other
// target equally often (once; twice when n is odd), and each target is
// first once. So no target always follows the same one, and what one
// point leaves behind (a warm cache, a busy upstream, a GC cycle) falls on
// every target alike. Rounds beyond the period repeat it.
func RoundOrder(n, r int) []int {
	if n <= 0 {
		return nil
	}
	if r < 0 {
		r = -r
	}
	// The first row: 0, 1, n-1, 2, n-2, 3, ...
	base := make([]int, n)
	lo, hi := 1, n-1
	for i := 1; i < n; i++ {
		if i%2 == 1 {
			base[i], lo = lo, lo+1
		} else {
			base[i], hi = hi, hi-1
		}
	}
	period := n
	if n%2 == 1 {
		period = 2 * n
	}
	r %= period
	out := make([]int, n)
	for i := range base {
		j := i
		if r >= n { // the second half of an odd design runs the rows backwards
			j = n - 1 - i
		}
		out[i] = (base[j] + r) % n
	}
	return out
}
