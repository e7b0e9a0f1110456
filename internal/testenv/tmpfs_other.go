//go:build !linux

package testenv

import "testing"

// Tmpfs is Linux's; elsewhere the test is skipped.
func Tmpfs(t testing.TB, size int64) string {
	t.Skip("a tmpfs for the test needs Linux")
	return ""
}
