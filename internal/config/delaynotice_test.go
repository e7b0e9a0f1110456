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

// TestDelayNoticeGather: delivery.delay_notice_gather defaults to 1s and
// must be positive and under half of delivery.lease_for.
func TestDelayNoticeGather(t *testing.T) {
	if got := Default().Delivery.DelayNoticeGather.D(); got != time.Second {
		t.Errorf("default delay_notice_gather %v, want 1s", got)
	}
	if _, err := Parse("[delivery]\nlease_for = \"2h\"\ndelay_notice_gather = \"59m\"\n"); err != nil {
		t.Errorf("59m under a 2h lease: %v", err)
	}
	for _, bad := range []string{`"0"`, `"-1s"`, `"5m"`} {
		_, err := Parse("[delivery]\ndelay_notice_gather = " + bad + "\n")
		if err == nil || !strings.Contains(err.Error(), "delivery.delay_notice_gather:") {
			t.Errorf("delay_notice_gather = %s: err %v, want one naming delivery.delay_notice_gather", bad, err)
		}
	}
}
