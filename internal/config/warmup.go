package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultWarmup is the name of the built-in warm-up schedule, used by a
// [[pool.ip]] with warmup_start and no warmup; [pool.warmup.default]
// overrides it.
const DefaultWarmup = "default"

// WarmupOther is the provider bucket every provider a schedule does not
// name shares.
const WarmupOther = "other"

// WarmupSchedule is a warm-up schedule, named by the IPs that follow it:
// a daily cap per provider that grows day by day (day d's cap is
// start × growth^(d-1), at most max). "default" is built in; a file may
// redefine it. Zero values take the defaults noted.
type WarmupSchedule struct {
	Days   int     `toml:"days"`   // the IP is warm from day Days+1; default 21
	Growth float64 `toml:"growth"` // each day's cap is the day before's times this (1: flat); default 2
	Start  int     `toml:"start"`  // day-1 cap per provider; default 50
	Max    int     `toml:"max"`    // no day's cap is higher; default 20000
	// Providers are counted apart (classify's provider names); every other
	// provider shares "other". Default ["gmail", "outlook", "yahoo"].
	Providers []string `toml:"providers"`
	// Caps override Start and Max for one provider (or "other").
	Caps map[string]WarmupCap `toml:"caps"`
}

// WarmupCap is one provider's own day-1 cap and ceiling in a schedule
// (or "other"'s, every provider not listed).
type WarmupCap struct {
	Start int `toml:"start"` // the provider's day-1 cap; 0: the schedule's start
	Max   int `toml:"max"`   // the provider's highest cap; 0: the schedule's max
}

// Warmup returns the schedule called name with its defaults filled in:
// the built-in one for "default" unless the file defines it. ok is false
// for an unknown name.
func (c *Config) Warmup(name string) (s WarmupSchedule, ok bool) {
	if name == "" {
		name = DefaultWarmup
	}
	s, ok = c.Pool.Warmup[name]
	if !ok && name != DefaultWarmup {
		return WarmupSchedule{}, false
	}
	if s.Days == 0 {
		s.Days = 21
	}
	if s.Growth == 0 {
		s.Growth = 2
	}
	if s.Start == 0 {
		s.Start = 50
	}
	if s.Max == 0 {
		s.Max = 20000
	}
	if s.Providers == nil {
		s.Providers = []string{"gmail", "outlook", "yahoo"}
	}
	caps := map[string]WarmupCap{}
	for _, p := range append(slices.Clone(s.Providers), WarmupOther) {
		cp := s.Caps[p]
		if cp.Start == 0 {
			cp.Start = s.Start
		}
		if cp.Max == 0 {
			cp.Max = max(s.Max, cp.Start)
		}
		caps[p] = cp
	}
	s.Caps = caps
	return s, true
}

// WarmupStart parses a pool.ip.warmup_start: midnight UTC of that date.
func WarmupStart(date string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(date))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date like \"2026-11-20\"", date)
	}
	return t, nil
}

// validateWarmup checks [pool.warmup.*] and the pool IPs' warm-up keys.
func (c *Config) validateWarmup(bad func(key, format string, args ...any)) {
	names := make([]string, 0, len(c.Pool.Warmup))
	for n := range c.Pool.Warmup {
		names = append(names, n)
	}
	slices.Sort(names) // errors in a stable order
	for _, n := range names {
		s, key := c.Pool.Warmup[n], "pool.warmup."+n
		if s.Days < 0 {
			bad(key+".days", "must be positive")
		}
		if s.Growth != 0 && s.Growth < 1 {
			bad(key+".growth", "%g: want 1 (flat) or more", s.Growth)
		}
		if s.Start < 0 {
			bad(key+".start", "must be positive")
		}
		if s.Max < 0 {
			bad(key+".max", "must be positive")
		}
		if s.Start > 0 && s.Max > 0 && s.Max < s.Start {
			bad(key+".max", "%d is below start (%d)", s.Max, s.Start)
		}
		seen := map[string]bool{}
		for i, p := range s.Providers {
			switch {
			case p == "" || p != strings.ToLower(strings.TrimSpace(p)):
				bad(fmt.Sprintf("%s.providers[%d]", key, i), "%q: want a provider's name in lower case, such as \"gmail\"", p)
			case p == WarmupOther:
				bad(fmt.Sprintf("%s.providers[%d]", key, i), "\"other\" is every provider not listed; set its cap under caps.other")
			case seen[p]:
				bad(fmt.Sprintf("%s.providers[%d]", key, i), "%q is listed twice", p)
			}
			seen[p] = true
		}
		full, _ := c.Warmup(n)
		for p, cp := range s.Caps {
			ck := key + ".caps." + p
			if p != WarmupOther && !slices.Contains(full.Providers, p) {
				bad(ck, "%q is not in %s.providers (%s) nor \"other\"", p, key, strings.Join(full.Providers, ", "))
			}
			if cp.Start < 0 {
				bad(ck+".start", "must be positive")
			}
			if cp.Max < 0 {
				bad(ck+".max", "must be positive")
			}
			if cp.Start > 0 && cp.Max > 0 && cp.Max < cp.Start {
				bad(ck+".max", "%d is below start (%d)", cp.Max, cp.Start)
			}
		}
	}
	for i, ip := range c.Pool.IP {
		key := fmt.Sprintf("pool.ip[%d]", i)
		if ip.WarmupStart != "" {
			if _, err := WarmupStart(ip.WarmupStart); err != nil {
				bad(key+".warmup_start", "%v", err)
			}
		}
		if ip.Warmup == "" {
			continue
		}
		if ip.WarmupStart == "" {
			bad(key+".warmup", "names a schedule, but warmup_start is not set (without it the IP is warm)")
		}
		if _, ok := c.Warmup(ip.Warmup); !ok {
			bad(key+".warmup", "%q: no [pool.warmup.%s] (and it is not \"default\")", ip.Warmup, ip.Warmup)
		}
	}
}
