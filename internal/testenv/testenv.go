// Package testenv finds the services that tests need, started by
// scripts/test (scripts/services/*) and named in environment variables. A
// test without its service is skipped on a developer's machine and fails
// in CI (CI=true), where a skip would hide a missing install step.
package testenv

import (
	"os"
	"testing"
)

// Environment variables that scripts/test exports.
const (
	MongoDBVar = "SENDPOOL_TEST_MONGODB" // mongodb://127.0.0.1:PORT/ (FerretDB)
	RedisVar   = "SENDPOOL_TEST_REDIS"   // redis://127.0.0.1:PORT/0
)

// MongoDB returns the test MongoDB URI.
func MongoDB(t testing.TB) string { return need(t, MongoDBVar, "scripts/services/ferretdb") }

// Redis returns the test Redis URL.
func Redis(t testing.TB) string { return need(t, RedisVar, "scripts/services/redis") }

func need(t testing.TB, name, script string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: scripts/test starts it with %s", name, script)
	}
	t.Skipf("%s is not set (run %s, or ./scripts/test)", name, script)
	return ""
}
