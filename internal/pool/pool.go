// Package pool is the set of sending IPs: which one an attempt goes out
// from, and what the receivers' replies do to them. Each message asks the
// pool once (Choose), which picks at random, by weight, among the IPs that
// may send to the destination now (not suspended, within their warm-up cap
// and their pace), preferring one not yet tried for that recipient, so a
// retry after a failure comes from another address; each reply is told to
// it once (Report): a block suspends the IP, a rate limit paces it.
package pool

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// IP is one sending address.
type IP struct {
	// Addr is the address to bind to; the zero Addr lets the system pick.
	Addr   netip.Addr
	EHLO   string
	Weight int
}

// String is the address as recorded in attempts ("" for the system's choice).
func (ip IP) String() string {
	if !ip.Addr.IsValid() {
		return ""
	}
	return ip.Addr.String()
}

// Health says whether an IP may send to a destination now. The pool asks it
// on every pick, so it must be cheap: Tracker answers from a local snapshot
// of the shared suspensions. A destination is a provider's name, as
// classify.Classifier.Provider gives for the MX host being tried.
type Health interface {
	Usable(ip netip.Addr, destination string) bool
}

// untilHealth is a Health that also knows when an IP returns.
type untilHealth interface {
	// UsableAt returns when ip may send to destination again: the zero
	// time when it may now.
	UsableAt(ip netip.Addr, destination string) time.Time
}

// Config is what a Pool is made of; nil parts are left out.
type Config struct {
	IPs     []IP
	Tracker *Tracker // suspensions (a receiver's block, a DNSBL, an admin)
	Warmup  *Warmup  // daily caps of IPs in warm-up
	Pacer   *Pacer   // paces after rate-limit replies
	// Health is any further check (tests); nil: none.
	Health Health
	Rand   *rand.Rand       // nil: randomly seeded
	Now    func() time.Time // nil: time.Now
}

// Pool chooses source IPs. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	ips    []IP
	health []Health

	mu  sync.Mutex
	rnd *rand.Rand
}

// New returns the pool of cfg.
func New(cfg Config) *Pool {
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	p := &Pool{cfg: cfg, ips: slices.Clone(cfg.IPs), rnd: cfg.Rand}
	// Non-nil interfaces only: a nil *Tracker in a Health is not nil.
	if cfg.Tracker != nil {
		p.health = append(p.health, cfg.Tracker)
	}
	if cfg.Warmup != nil {
		p.health = append(p.health, cfg.Warmup)
	}
	if cfg.Pacer != nil {
		p.health = append(p.health, cfg.Pacer)
	}
	if cfg.Health != nil {
		p.health = append(p.health, cfg.Health)
	}
	return p
}

// IPs returns the configured addresses.
func (p *Pool) IPs() []IP { return slices.Clone(p.ips) }

// Get returns the configured IP with address addr.
func (p *Pool) Get(addr string) (IP, bool) {
	for _, c := range p.ips {
		if c.String() == addr {
			return c, true
		}
	}
	return IP{}, false
}

// Request asks for the source IP of one message to one destination.
type Request struct {
	// Destination is the MX host's provider (classify's Provider).
	Destination string
	// Tried are the IPs the recipient was tried from, oldest first: an
	// untried one is preferred.
	Tried []string
	// Prefer is an IP to keep when it may send: the one a greylisting
	// receiver expects back ("": none).
	Prefer string
	// Only, when set, is the one IP acceptable: the open connection's, for
	// the next message over it. No other IP is chosen (nor counted).
	Only string
	// Rcpts is how many recipients the message has there: an IP in
	// warm-up counts each against its cap.
	Rcpts int
}

// Choice is the pool's answer.
type Choice struct {
	IP IP
	OK bool
	// Conns is how many connections IP may hold to the destination now
	// (its pace); 0: the courier's own cap.
	Conns int
	// Until, without an IP, is when the first IP may send again; zero
	// when unknown (the retry schedule decides).
	Until time.Time
}

// Choose picks the source IP of one message and counts the message
// against that IP's warm-up cap and pace. It is the courier's one call per
// message into the pool.
func (p *Pool) Choose(ctx context.Context, req Request) Choice {
	var excluded []string
	for range len(p.ips) + 1 {
		ip, ok := p.pick(req, excluded)
		if !ok {
			break
		}
		if p.admit(ctx, ip, req) {
			c := Choice{IP: ip, OK: true}
			if p.cfg.Pacer != nil && ip.Addr.IsValid() {
				c.Conns = p.cfg.Pacer.conns(ip.Addr, req.Destination)
			}
			return c
		}
		// Its cap or pace said no: it is unusable until that frees, and
		// the next IP is asked.
		excluded = append(excluded, ip.String())
	}
	return Choice{Until: p.returnsAt(req)}
}

// pick chooses among the usable IPs not excluded, as Request says.
func (p *Pool) pick(req Request, excluded []string) (IP, bool) {
	var usable []IP
	for _, c := range p.ips {
		if p.usable(c, req.Destination) && !slices.Contains(excluded, c.String()) {
			usable = append(usable, c)
		}
	}
	if req.Only != "" || req.Prefer != "" {
		for _, c := range usable {
			if c.String() == req.Only || req.Only == "" && c.String() == req.Prefer {
				return c, true
			}
		}
		if req.Only != "" {
			return IP{}, false
		}
	}
	if len(usable) == 0 {
		return IP{}, false
	}
	var fresh []IP
	for _, c := range usable {
		if !slices.Contains(req.Tried, c.String()) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		// Every usable IP was tried: start a new cycle, avoiding only the
		// last one used so consecutive attempts still differ.
		last := req.Tried[len(req.Tried)-1]
		for _, c := range usable {
			if c.String() != last {
				fresh = append(fresh, c)
			}
		}
		if len(fresh) == 0 {
			fresh = usable
		}
	}
	return p.weighted(fresh), true
}

// usable reports whether ip may send to destination now.
func (p *Pool) usable(ip IP, destination string) bool {
	if !ip.Addr.IsValid() {
		return true
	}
	for _, h := range p.health {
		if !h.Usable(ip.Addr, destination) {
			return false
		}
	}
	return true
}

// admit counts the message against ip's warm-up cap and pace.
func (p *Pool) admit(ctx context.Context, ip IP, req Request) bool {
	if !ip.Addr.IsValid() {
		return true
	}
	if p.cfg.Warmup != nil && !p.cfg.Warmup.Admit(ctx, ip.Addr, req.Destination, req.Rcpts) {
		return false
	}
	return p.cfg.Pacer == nil || p.cfg.Pacer.admit(ctx, ip.Addr, req.Destination)
}

// returnsAt is when the first IP acceptable for req may send again; the
// zero time when one may now or a part cannot tell.
func (p *Pool) returnsAt(req Request) time.Time {
	var first time.Time
	for _, c := range p.ips {
		if req.Only != "" && c.String() != req.Only {
			continue
		}
		if !c.Addr.IsValid() {
			return time.Time{}
		}
		var at time.Time
		for _, h := range p.health {
			u, ok := h.(untilHealth)
			if !ok {
				if !h.Usable(c.Addr, req.Destination) {
					return time.Time{}
				}
				continue
			}
			if t := u.UsableAt(c.Addr, req.Destination); t.After(at) {
				at = t
			}
		}
		if at.IsZero() {
			return time.Time{}
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

// Reply is what a receiver said to one attempt from an IP, as the
// classifier read it.
type Reply struct {
	IP          string
	Destination string   // the MX host's provider
	Tried       []string // the IPs the recipients were tried from before
	Verdict     string   // queue.Verdict: "delivered", "deferred", "blocked-ip", "permanent"
	Category    string   // the classifier's, e.g. "rate-limit"
	Scope       string   // of a block: "pool" or a provider's name
	Text        string   // the reply (for the suspension's reason, the pace's log)
}

// RateLimit is the classifier's category of "slow down" replies.
const RateLimit = "rate-limit"

// Report tells the pool what a receiver replied to an attempt from an IP:
// a block suspends the IP (for the whole pool or that provider only), a
// rate limit paces it there, an acceptance lets a pace relax; an IP in
// warm-up counts the deferral or the success toward its ramp's
// stand-still. For a block or a rate limit it answers when the recipients
// may be tried again: now when another IP, untried for them, may send to
// the destination; for a rate limit otherwise, when the paced IP may. The
// zero time leaves it to the retry schedule.
func (p *Pool) Report(ctx context.Context, r Reply) (retry time.Time) {
	addr, err := netip.ParseAddr(r.IP)
	if err != nil {
		return time.Time{}
	}
	// What a receiver said is recorded even when the caller's time is up:
	// the next attempt would otherwise use the IP as before.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	limited := r.Verdict == "deferred" && r.Category == RateLimit
	switch {
	case r.Verdict == "blocked-ip" && p.cfg.Tracker != nil:
		if err := p.cfg.Tracker.Block(ctx, r.IP, r.Scope, r.Text); err != nil {
			p.cfg.Tracker.log.Error("suspending blocked source IP", "source_ip", r.IP, "scope", r.Scope, "err", err)
		}
	case limited && p.cfg.Pacer != nil:
		p.cfg.Pacer.Limited(ctx, addr, r.Destination, r.Text)
	case r.Verdict == "delivered" && p.cfg.Pacer != nil:
		p.cfg.Pacer.Delivered(ctx, addr, r.Destination)
	}
	if p.cfg.Warmup != nil && r.Verdict != "permanent" {
		p.cfg.Warmup.Observe(ctx, addr, r.Destination, r.Verdict != "delivered")
	}
	if r.Verdict != "blocked-ip" && !limited {
		return time.Time{}
	}
	tried := append(slices.Clone(r.Tried), r.IP)
	for _, c := range p.ips {
		if !slices.Contains(tried, c.String()) && p.usable(c, r.Destination) {
			return p.now()
		}
	}
	if limited && p.cfg.Pacer != nil {
		return p.cfg.Pacer.nextSlot(addr, r.Destination)
	}
	return time.Time{}
}

func (p *Pool) now() time.Time {
	if p.cfg.Now != nil {
		return p.cfg.Now()
	}
	return time.Now()
}

func (p *Pool) weighted(c []IP) IP {
	total := 0
	for _, ip := range c {
		total += max(ip.Weight, 1)
	}
	p.mu.Lock()
	n := p.rnd.IntN(total)
	p.mu.Unlock()
	for _, ip := range c {
		n -= max(ip.Weight, 1)
		if n < 0 {
			return ip
		}
	}
	return c[len(c)-1]
}
