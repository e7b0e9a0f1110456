package config

import (
	"strings"
	"testing"
	"time"
)

// TestRetention: store.retention defaults to 30 days, "0" and "0s" keep
// messages for good, and a negative or malformed value is refused with its
// key path (or its line, when not a duration at all).
func TestRetention(t *testing.T) {
	if got := Default().Store.Retention.D(); got != 720*time.Hour {
		t.Errorf("default retention %v, want 720h", got)
	}
	for _, v := range []string{"0", "0s"} {
		c, err := Parse("[store]\nretention = \"" + v + "\"\n")
		if err != nil || c.Store.Retention != 0 {
			t.Errorf("retention = %q: %v, %v; want 0", v, c, err)
		}
	}
	c, err := Parse("[store]\nretention = \"168h\"\n")
	if err != nil || c.Store.Retention.D() != 168*time.Hour {
		t.Errorf("retention = \"168h\": %v, %v", c, err)
	}
	_, err = Parse("[store]\nretention = \"-1h\"\n")
	if err == nil || !strings.Contains(err.Error(), "store.retention:") {
		t.Errorf("retention = \"-1h\": err %v, want one naming store.retention", err)
	}
	// Not a duration: the TOML decoder's error, which shows the line.
	_, err = Parse("[store]\nretention = \"forever\"\n")
	if err == nil || !strings.Contains(err.Error(), `retention = "forever"`) {
		t.Errorf("retention = \"forever\": err %v, want one showing the line", err)
	}
}
