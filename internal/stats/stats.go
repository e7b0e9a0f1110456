// Package stats keeps the counts behind the control panel's pictures:
// delivery attempts per sending IP × provider per hour (delivered,
// deferred, blocked), the queue's depth per hour, and each account's
// delivered and bounced recipients per day. The hot path is one increment
// under a mutex (Attempt, Final); a goroutine writes what gathered to the
// shared state once a minute, one bounded list per hour or day
// (state.Record), so every node's counts add up and old buckets expire by
// themselves. A state that cannot be written costs that minute's counts,
// never a delivery.
package stats

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"sendpool/internal/state"
)

// Hours and Days are how far the series go back.
const (
	Hours = 48
	Days  = 30
)

// flushEvery is how often gathered counts are written: each write is one
// entry per bucket list, so a list holds at most 60 an hour per node.
const flushEvery = time.Minute

// keep bounds each bucket list: a day's list gets 1,440 writes per node.
const keep = 20000

// Attempt verdicts counted per IP × provider (queue.Verdict's words).
const (
	Delivered = "delivered"
	Deferred  = "deferred"
	Blocked   = "blocked-ip"
	Permanent = "permanent"
)

// Config is what a Recorder needs.
type Config struct {
	State state.State
	// Depth samples the queue's depth (queued, deferred and held
	// recipients) at each write; nil: no queue series.
	Depth  func(ctx context.Context) (int, error)
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Recorder gathers counts and writes them in the background.
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	attempts map[int64]map[string]int // hour → "ip|provider|verdict" → n
	finals   map[int64]map[string]int // day → "account|delivered" or "account|bounced" → n
}

// New returns a Recorder; Run writes its counts.
func New(cfg Config) *Recorder {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{cfg: cfg, log: cfg.Logger, attempts: map[int64]map[string]int{}, finals: map[int64]map[string]int{}}
}

func hour(t time.Time) int64 { return t.UTC().Truncate(time.Hour).Unix() }
func day(t time.Time) int64  { return t.UTC().Truncate(24 * time.Hour).Unix() }

func ipKey(h int64) string    { return "stats:ip:" + strconv.FormatInt(h, 10) }
func queueKey(h int64) string { return "stats:queue:" + strconv.FormatInt(h, 10) }
func accountKey(name string, d int64) string {
	return "stats:acct:" + name + ":" + strconv.FormatInt(d, 10)
}

func bump(m map[int64]map[string]int, b int64, k string) {
	c := m[b]
	if c == nil {
		c = map[string]int{}
		m[b] = c
	}
	c[k]++
}

// Attempt counts one delivery attempt from ip to provider with verdict.
func (r *Recorder) Attempt(ip, provider, verdict string) {
	if ip == "" {
		return // no attempt was made (no route, every IP out)
	}
	now := r.cfg.Now()
	r.mu.Lock()
	bump(r.attempts, hour(now), ip+"|"+provider+"|"+verdict)
	r.mu.Unlock()
}

// Final counts one recipient of account delivered, or bounced.
func (r *Recorder) Final(account string, bounced bool) {
	k := account + "|delivered"
	if bounced {
		k = account + "|bounced"
	}
	now := r.cfg.Now()
	r.mu.Lock()
	bump(r.finals, day(now), k)
	r.mu.Unlock()
}

// Run writes the gathered counts every minute until ctx ends, then once
// more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.Flush(fctx)
			cancel()
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

// Flush writes what gathered since the last write, and a sample of the
// queue's depth.
func (r *Recorder) Flush(ctx context.Context) {
	r.mu.Lock()
	attempts, finals := r.attempts, r.finals
	r.attempts, r.finals = map[int64]map[string]int{}, map[int64]map[string]int{}
	r.mu.Unlock()
	write := func(key string, ttl time.Duration, v any) {
		b, _ := json.Marshal(v)
		if err := r.cfg.State.Record(ctx, key, keep, ttl, b); err != nil {
			r.log.WarnContext(ctx, "stats: write", "key", key, "err", err)
		}
	}
	for h, c := range attempts {
		write(ipKey(h), (Hours+1)*time.Hour, c)
	}
	byAccount := map[int64]map[string]map[string]int{}
	for d, c := range finals {
		for k, n := range c {
			for i := len(k) - 1; i >= 0; i-- {
				if k[i] == '|' {
					if byAccount[d] == nil {
						byAccount[d] = map[string]map[string]int{}
					}
					if byAccount[d][k[:i]] == nil {
						byAccount[d][k[:i]] = map[string]int{}
					}
					byAccount[d][k[:i]][k[i+1:]] += n
					break
				}
			}
		}
	}
	for d, accts := range byAccount {
		for name, c := range accts {
			write(accountKey(name, d), (Days+1)*24*time.Hour, c)
		}
	}
	if r.cfg.Depth != nil {
		n, err := r.cfg.Depth(ctx)
		if err != nil {
			r.log.WarnContext(ctx, "stats: queue depth", "err", err)
			return
		}
		write(queueKey(hour(r.cfg.Now())), (Hours+1)*time.Hour, n)
	}
}
