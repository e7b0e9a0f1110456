// Package pool is the set of sending IPs: which one an attempt goes out
// from. Each attempt picks at random, by weight, among the healthy IPs, and
// prefers one not yet tried for that recipient, so a retry after a failure
// comes from another address.
package pool

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
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
// on every pick, so suspensions (shared state) take effect at once.
type Health interface {
	Usable(ip netip.Addr, destination string) bool
}

// Pool picks source IPs.
type Pool struct {
	ips    []IP
	health Health

	mu  sync.Mutex
	rnd *rand.Rand
}

// New returns a pool of ips. health may be nil: every IP is usable.
// rnd may be nil: a randomly seeded source.
func New(ips []IP, health Health, rnd *rand.Rand) *Pool {
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Pool{ips: slices.Clone(ips), health: health, rnd: rnd}
}

// IPs returns the configured addresses.
func (p *Pool) IPs() []IP { return slices.Clone(p.ips) }

// Pick chooses a source IP for destination. tried lists the IPs already used
// for this recipient, oldest first: an untried usable IP is preferred; when
// every usable IP was tried, the one least recently tried is avoided last,
// so the choice cycles. ok is false when no IP is usable for destination.
func (p *Pool) Pick(destination string, tried []string) (ip IP, ok bool) {
	var usable []IP
	for _, c := range p.ips {
		if p.health == nil || !c.Addr.IsValid() || p.health.Usable(c.Addr, destination) {
			usable = append(usable, c)
		}
	}
	if len(usable) == 0 {
		return IP{}, false
	}
	var fresh []IP
	for _, c := range usable {
		if !slices.Contains(tried, c.String()) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		// Every usable IP was tried: start a new cycle, avoiding only the
		// last one used so consecutive attempts still differ.
		last := tried[len(tried)-1]
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

// Get returns the configured IP with address addr.
func (p *Pool) Get(addr string) (IP, bool) {
	for _, c := range p.ips {
		if c.String() == addr {
			return c, true
		}
	}
	return IP{}, false
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
