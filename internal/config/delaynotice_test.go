package config

import (
	"strings"
	"testing"
	"time"
)

// TestDelayNotice: delivery.delay_notice defaults to 4h, "0" disables it and
// a negative value is refused with its key path.
func TestDelayNotice(t *testing.T) {
	if got := Default().Delivery.DelayNotice.D(); got != 4*time.Hour {
		t.Errorf("default delay_notice %v, want 4h", got)
	}
	c, err := Parse("[delivery]\ndelay_notice = \"0\"\n")
	if err != nil {
		t.Fatalf("delay_notice = \"0\": %v", err)
	}
	if c.Delivery.DelayNotice != 0 {
		t.Errorf("delay_notice = \"0\" gave %v", c.Delivery.DelayNotice.D())
	}
	_, err = Parse("[delivery]\ndelay_notice = \"-1h\"\n")
	if err == nil || !strings.Contains(err.Error(), "delivery.delay_notice:") {
		t.Errorf("delay_notice = \"-1h\": err %v, want one naming delivery.delay_notice", err)
	}
}
