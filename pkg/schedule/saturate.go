package schedule

import (
	"math"
	"time"
)

// sat is a+b for durations that are never negative, stopping at the
// largest duration instead of wrapping round to a negative one: a plan of
// thousands of VMs with week-long step estimates must estimate "very
// long", never "0s", so that a window warning still fires.
func sat(a, b time.Duration) time.Duration {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// satMul is d*n for a duration and a count that are never negative,
// stopping at the largest duration.
func satMul(d time.Duration, n int) time.Duration {
	if n <= 0 || d <= 0 {
		return 0
	}
	if d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}
