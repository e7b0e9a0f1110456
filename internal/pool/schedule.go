package pool

import (
	"math"
	"slices"
	"time"
)

// OtherProvider is the warm-up bucket every provider a schedule does not
// name shares: a new IP's reputation with small receivers is built on the
// sum of their traffic, not per domain.
const OtherProvider = "other"

// Cap is one provider's daily cap on an IP in warm-up: Start deliveries on
// day 1, growing by the schedule's Growth each day, never more than Max.
type Cap struct {
	Start int
	Max   int
}

// Schedule is how an IP in warm-up may send: a daily cap per provider
// (counted over a rolling day) that grows day by day, until the IP is warm
// after Days days. Gmail, Outlook and Yahoo throttle or block an address
// they have never seen sending much; a schedule keeps its volume to each
// of them believable.
type Schedule struct {
	Days   int     // the IP is warm from day Days+1
	Growth float64 // each day's cap is the day before's times Growth
	// Caps per provider name (classify's Provider), and OtherProvider for
	// every provider not named.
	Caps map[string]Cap
}

// Bucket is the name destination's deliveries are counted under.
func (s Schedule) Bucket(destination string) string {
	if _, ok := s.Caps[destination]; ok && destination != "" {
		return destination
	}
	return OtherProvider
}

// Buckets are the schedule's provider names, sorted, OtherProvider last.
func (s Schedule) Buckets() []string {
	var out []string
	for b := range s.Caps {
		if b != OtherProvider {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return append(out, OtherProvider)
}

// Limit is the cap for bucket on day (1 is the first day): Start ×
// Growth^(day-1), at most Max, and at least 1 so that mail always moves.
func (s Schedule) Limit(bucket string, day int) int {
	c, ok := s.Caps[bucket]
	if !ok {
		c = s.Caps[OtherProvider]
	}
	day = max(day, 1)
	v := float64(c.Start) * math.Pow(max(s.Growth, 1), float64(day-1))
	if v > float64(c.Max) || math.IsInf(v, 0) || math.IsNaN(v) {
		v = float64(c.Max)
	}
	return max(int(v), 1)
}

// Day is the warm-up day of an IP that started at start (midnight UTC of
// its warmup_start date) at now: 1 on the start date, and 1 too before it
// (an IP listed ahead of its date is no warmer for that).
func Day(start, now time.Time) int {
	if now.Before(start) {
		return 1
	}
	return int(now.Sub(start)/(24*time.Hour)) + 1
}

// dayEnd is when day ends.
func dayEnd(start time.Time, day int) time.Time {
	return start.Add(time.Duration(max(day, 1)) * 24 * time.Hour)
}
