package api

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
}
