package config

import (
	"strings"
	"testing"
	"time"
)

// TestLookupCacheTTL: server.lookup_cache_ttl defaults to 5s, "0s" turns
// the cache off, and a negative value is refused with its key path.
func TestLookupCacheTTL(t *testing.T) {
	if got := Default().Server.LookupCacheTTL.D(); got != 5*time.Second {
		t.Errorf("default lookup_cache_ttl %v, want 5s", got)
	}
	c, err := Parse("[server]\nlookup_cache_ttl = \"0s\"\n")
	if err != nil || c.Server.LookupCacheTTL != 0 {
		t.Errorf("lookup_cache_ttl = \"0s\": %v, %v; want 0", c, err)
	}
	c, err = Parse("[server]\nlookup_cache_ttl = \"30s\"\n")
	if err != nil || c.Server.LookupCacheTTL.D() != 30*time.Second {
		t.Errorf("lookup_cache_ttl = \"30s\": %v, %v", c, err)
	}
	_, err = Parse("[server]\nlookup_cache_ttl = \"-1s\"\n")
	if err == nil || !strings.Contains(err.Error(), "server.lookup_cache_ttl:") {
		t.Errorf("lookup_cache_ttl = \"-1s\": err %v, want one naming server.lookup_cache_ttl", err)
	}
}
