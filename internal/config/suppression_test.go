package config

import (
	"strings"
	"testing"
	"time"
)

// TestSuppressionTTL: suppression.ttl defaults to 30 days, "0s" turns it
// off, and a negative value is refused with its key path.
func TestSuppressionTTL(t *testing.T) {
	if got := Default().Suppression.TTL.D(); got != 720*time.Hour {
		t.Errorf("default suppression.ttl %v, want 720h", got)
	}
	c, err := Parse("[suppression]\nttl = \"0s\"\n")
	if err != nil || c.Suppression.TTL != 0 {
		t.Errorf("ttl = \"0s\": %v, %v; want 0", c, err)
	}
	c, err = Parse("[suppression]\nttl = \"48h\"\n")
	if err != nil || c.Suppression.TTL.D() != 48*time.Hour {
		t.Errorf("ttl = \"48h\": %v, %v", c, err)
	}
	_, err = Parse("[suppression]\nttl = \"-1h\"\n")
	if err == nil || !strings.Contains(err.Error(), "suppression.ttl:") {
		t.Errorf("ttl = \"-1h\": err %v, want one naming suppression.ttl", err)
	}
	_, err = Parse("[suppression]\nlist = true\n")
	if err == nil || !strings.Contains(err.Error(), "suppression.list: unknown key") {
		t.Errorf("unknown key: err %v", err)
	}
}
