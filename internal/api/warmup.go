package api

import "time"

// IPWarmup is an IP's warm-up as GET /api/v1/ips shows it (an extension of
// SPEC §5): absent for a warm IP.
type IPWarmup struct {
	Schedule string `json:"schedule"`
	Start    string `json:"start"` // its first day, "2026-11-20"
	Day      int    `json:"day"`   // 1 is the first day
	Days     int    `json:"days"`  // warm after this day
	// Providers are today's use of each provider's cap: deliveries
	// attempted over the last 24 hours, every node's; "other" counts every
	// provider the schedule does not name.
	Providers []WarmupUsage `json:"providers"`
}

// WarmupUsage is an IP's use of one provider's daily cap.
type WarmupUsage struct {
	Provider string `json:"provider"`
	Used     int    `json:"used"`
	Cap      int    `json:"cap"`
	// Day is the IP's day there: the calendar's less the time its ramp
	// stood still because the provider deferred too much of its mail;
	// Stalled says it stands still now.
	Day     int  `json:"day"`
	Stalled bool `json:"stalled,omitempty"`
}

// IPPace is how fast an IP may send to a provider that asked it to slow
// down (a rate-limit reply): the pool paces it there rather than
// suspending it.
type IPPace struct {
	Provider string    `json:"provider"`
	Rate     int       `json:"rate"`   // messages per window
	Window   string    `json:"window"` // e.g. "1m0s"
	Conns    int       `json:"conns"`  // connections at once
	Since    time.Time `json:"since"`  // the first complaint
	Last     time.Time `json:"last"`   // the latest complaint
	Reply    string    `json:"reply"`  // the latest complaint
}
