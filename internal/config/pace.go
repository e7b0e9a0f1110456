package config

import "time"

// Pace is how the pool slows a source IP down for a provider that answers
// "too fast" (a rate-limit reply: Gmail's 421 4.7.28, Yahoo's TS01, QQ's
// frequency limits), rather than suspending it: the IP's rate there
// halves at each complaint and grows a quarter each clean step (pool's
// Pacer). Its keys sit in [pool].
type Pace struct {
	// PaceWindow is the span a paced rate counts messages over: a pace
	// starts at half of what the IP sent the provider in the last window.
	PaceWindow Duration `toml:"pace_window"`
	// PaceStep is how often a pace without complaints speeds up (a quarter,
	// and a connection).
	PaceStep Duration `toml:"pace_step"`
	// PaceHold is how long after the last complaint a pace stays under the
	// rate that complaint came at, and how long a pace back at its starting
	// rate (and holding no mail back) lasts after it before it ends.
	PaceHold Duration `toml:"pace_hold"`
	// PaceMinRate is the slowest a pace goes: messages per pace_window.
	PaceMinRate int `toml:"pace_min_rate"`
	// WarmupStall is the share of an IP in warm-up's attempts at a
	// provider, deferred over the last hour, above which its ramp there
	// stands still (its day stops advancing); 0: never.
	WarmupStall float64 `toml:"warmup_stall"`
}

// QueuePoll is how often a node looks at its queue for due mail when
// nothing wakes it; a pace spaces its messages no finer than this.
const QueuePoll = time.Second

func defaultPace() Pace {
	return Pace{PaceWindow: Duration(time.Minute), PaceStep: Duration(time.Minute), PaceHold: Duration(30 * time.Minute),
		PaceMinRate: 2, WarmupStall: 0.2}
}

// validate reports the problems of p under [pool].
func (p Pace) validate(bad func(key, format string, args ...any)) {
	for _, d := range []struct {
		key string
		v   Duration
	}{{"pool.pace_window", p.PaceWindow}, {"pool.pace_step", p.PaceStep}, {"pool.pace_hold", p.PaceHold}} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	if p.PaceMinRate < 1 {
		bad("pool.pace_min_rate", "must be at least 1")
	}
	if p.WarmupStall < 0 || p.WarmupStall >= 1 {
		bad("pool.warmup_stall", "must be at least 0 and below 1 (0: never)")
	}
}
