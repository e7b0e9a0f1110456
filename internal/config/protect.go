package config

import (
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Protect holds an account automatically when it looks compromised
// (internal/protect): its spam and virus refusals, its hard-bounce rate or
// its volume against its own baseline past a threshold. A zero count turns
// its rule off.
type Protect struct {
	// VirusRejections is how many of the account's messages refused as
	// viruses within VirusWindow hold it; 0: never.
	VirusRejections int `toml:"virus_rejections"`
	// VirusWindow is the span VirusRejections are counted over.
	VirusWindow Duration `toml:"virus_window"`
	// SpamRejections is how many of the account's messages refused as spam
	// within SpamWindow hold it; 0: never.
	SpamRejections int `toml:"spam_rejections"`
	// SpamWindow is the span SpamRejections are counted over.
	SpamWindow Duration `toml:"spam_window"`
	// BounceRate is the share of hard bounces among the account's final
	// recipients within BounceWindow over which it is held.
	BounceRate float64 `toml:"bounce_rate"`
	// BounceMinRecipients is how many final recipients BounceRate needs
	// before it judges; 0: the bounce rule is off.
	BounceMinRecipients int `toml:"bounce_min_recipients"`
	// BounceWindow is the span BounceRate is measured over.
	BounceWindow Duration `toml:"bounce_window"`
	// VolumeFactor holds an account whose recipients in the last hour are
	// over this many times its average hour of the day before (once at
	// least VolumeMin); 0: never.
	VolumeFactor float64 `toml:"volume_factor"`
	// VolumeMin is how many recipients in the last hour VolumeFactor needs
	// before it judges; 0: the volume rule is off.
	VolumeMin int `toml:"volume_min"`
}

func defaultProtect() Protect {
	return Protect{
		VirusRejections: 5, VirusWindow: Duration(10 * time.Minute),
		SpamRejections: 20, SpamWindow: Duration(10 * time.Minute),
		BounceRate: 0.2, BounceMinRecipients: 50, BounceWindow: Duration(time.Hour),
		VolumeFactor: 10, VolumeMin: 500,
	}
}

// validateScanProtect checks the scanner addresses and [protect].
func (c *Config) validateScanProtect(bad func(key, format string, args ...any)) {
	if a := c.Scan.Clamd; a != "" && !strings.HasPrefix(a, "/") {
		if _, err := netip.ParseAddrPort(a); err != nil {
			bad("scan.clamd", "%q: want ip:port or the path of a Unix socket", a)
		}
	}
	if u := c.Scan.Rspamd; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("scan.rspamd", "%q: want an http:// URL", u)
		}
	}
	if c.Scan.Timeout <= 0 {
		bad("scan.timeout", "must be positive")
	}
	p := c.Protect
	for _, v := range []struct {
		key string
		n   int
	}{{"protect.virus_rejections", p.VirusRejections}, {"protect.spam_rejections", p.SpamRejections},
		{"protect.bounce_min_recipients", p.BounceMinRecipients}, {"protect.volume_min", p.VolumeMin}} {
		if v.n < 0 {
			bad(v.key, "must not be negative")
		}
	}
	if p.VirusRejections > 0 && p.VirusWindow <= 0 {
		bad("protect.virus_window", "must be positive")
	}
	if p.SpamRejections > 0 && p.SpamWindow <= 0 {
		bad("protect.spam_window", "must be positive")
	}
	if p.BounceMinRecipients > 0 && (p.BounceRate <= 0 || p.BounceRate > 1) {
		bad("protect.bounce_rate", "%g: want a share above 0 and at most 1", p.BounceRate)
	}
	if p.BounceMinRecipients > 0 && p.BounceWindow <= 0 {
		bad("protect.bounce_window", "must be positive")
	}
	if p.VolumeFactor < 0 {
		bad("protect.volume_factor", "must not be negative")
	}
}
