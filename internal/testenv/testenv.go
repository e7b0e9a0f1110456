// Package testenv finds the services that tests need, started by
// scripts/test (scripts/services/*) and named in environment variables. A
// test without its service is skipped on a developer's machine and fails
// in CI (CI=true), where a skip would hide a missing install step.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Environment variables that scripts/test exports.
const (
	MongoDBVar = "SENDPOOL_TEST_MONGODB" // mongodb://127.0.0.1:PORT/ (FerretDB)
	RedisVar   = "SENDPOOL_TEST_REDIS"   // redis://127.0.0.1:PORT/0
	// BindVar is "ADDRESS ZONE KEYNAME SECRET": named with a zone taking
	// TSIG-signed updates (hmac-sha256).
	BindVar = "SENDPOOL_TEST_BIND"
	// PDNSVar is "API-URL API-KEY DNS-ADDRESS ZONE": PowerDNS with its API.
	PDNSVar = "SENDPOOL_TEST_PDNS"
	// ChromiumVar is the headless browser's path.
	ChromiumVar = "SENDPOOL_TEST_CHROMIUM"
)

// Bind is the test named (scripts/services/bind9).
type Bind struct{ Addr, Zone, KeyName, Secret string }

// BindServer returns the test named.
func BindServer(t testing.TB) Bind {
	f := fields(t, need(t, BindVar, "scripts/services/bind9"), BindVar, 4)
	return Bind{Addr: f[0], Zone: f[1], KeyName: f[2], Secret: f[3]}
}

// PDNS is the test PowerDNS (scripts/services/pdns).
type PDNS struct{ URL, APIKey, Addr, Zone string }

// PDNSServer returns the test PowerDNS.
func PDNSServer(t testing.TB) PDNS {
	f := fields(t, need(t, PDNSVar, "scripts/services/pdns"), PDNSVar, 4)
	return PDNS{URL: f[0], APIKey: f[1], Addr: f[2], Zone: f[3]}
}

// Chromium returns the path of the test browser.
func Chromium(t testing.TB) string { return need(t, ChromiumVar, "scripts/services/chromium") }

func fields(t testing.TB, v, name string, n int) []string {
	t.Helper()
	f := strings.Fields(v)
	if len(f) != n {
		t.Fatalf("%s=%q: want %d fields", name, v, n)
	}
	return f
}

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
