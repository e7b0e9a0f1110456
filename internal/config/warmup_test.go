package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// An IP with only warmup_start gets the built-in schedule; a named one
// fills its unset keys from the defaults and caps override per provider.
func TestWarmupSchedules(t *testing.T) {
	c, err := Parse(`
[[pool.ip]]
address = "127.0.0.2"
[[pool.ip]]
address = "127.0.0.3"
warmup_start = "2026-11-20"
[[pool.ip]]
address = "127.0.0.4"
warmup_start = "2026-11-25"
warmup = "slow"

[pool.warmup.slow]
days = 40
growth = 1.5
providers = ["gmail", "outlook", "gmail.test"]
[pool.warmup.slow.caps.gmail]
start = 20
max = 5000
[pool.warmup.slow.caps.other]
start = 200
`)
	if err != nil {
		t.Fatal(err)
	}
	if ip := c.Pool.IP[0]; ip.WarmupStart != "" || ip.Warmup != "" {
		t.Errorf("warm IP: %+v", ip)
	}
	d, ok := c.Warmup(c.Pool.IP[1].Warmup)
	if !ok || d.Days != 21 || d.Growth != 2 || !slices.Equal(d.Providers, []string{"gmail", "outlook", "yahoo"}) ||
		d.Caps["gmail"] != (WarmupCap{50, 20000}) || d.Caps["other"] != (WarmupCap{50, 20000}) || len(d.Caps) != 4 {
		t.Errorf("built-in default: %+v", d)
	}
	s, ok := c.Warmup("slow")
	if !ok || s.Days != 40 || s.Growth != 1.5 || s.Caps["gmail"] != (WarmupCap{20, 5000}) ||
		s.Caps["outlook"] != (WarmupCap{50, 20000}) || s.Caps["gmail.test"] != (WarmupCap{50, 20000}) ||
		s.Caps["other"] != (WarmupCap{200, 20000}) || len(s.Caps) != 4 {
		t.Errorf("slow: %+v", s)
	}
	start, err := WarmupStart(c.Pool.IP[2].WarmupStart)
	if err != nil || !start.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("start: %v, %v", start, err)
	}
	if _, ok := c.Warmup("nope"); ok {
		t.Error("an unknown schedule resolved")
	}
}

// Every warm-up mistake is reported with its key path.
func TestWarmupValidation(t *testing.T) {
	_, err := Parse(`
[[pool.ip]]
address = "127.0.0.2"
warmup_start = "20/11/2026"
[[pool.ip]]
address = "127.0.0.3"
warmup = "slow"
[[pool.ip]]
address = "127.0.0.4"
warmup_start = "2026-11-20"
warmup = "fast"

[pool.warmup.slow]
days = -1
growth = 0.5
start = 100
max = 10
providers = ["gmail", "Outlook", "gmail", "other"]
[pool.warmup.slow.caps.aol]
start = 5
[pool.warmup.slow.caps.gmail]
start = 50
max = 20
[pool.warmup.slow.bogus]
`)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want config errors, got %v", err)
	}
	for _, key := range []string{
		"pool.ip[0].warmup_start:", "pool.ip[1].warmup:", "pool.ip[2].warmup:",
		"pool.warmup.slow.days:", "pool.warmup.slow.growth:", "pool.warmup.slow.max:",
		"pool.warmup.slow.providers[1]:", "pool.warmup.slow.providers[2]:", "pool.warmup.slow.providers[3]:",
		"pool.warmup.slow.caps.aol:", "pool.warmup.slow.caps.gmail.max:", "pool.warmup.slow.bogus:",
	} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error for %s in:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "providers[0]") {
		t.Errorf("a valid provider refused:\n%v", err)
	}
}
