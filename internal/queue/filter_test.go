package queue

import "testing"

func TestFilterPageSize(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{
		{-1, 100}, {0, 100}, {1, 1}, {100, 100}, {999, 999}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000},
	} {
		if got := (Filter{Limit: tc.limit}).PageSize(); got != tc.want {
			t.Errorf("Filter{Limit: %d}.PageSize() = %d, want %d", tc.limit, got, tc.want)
		}
	}
}
