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
		if p.Usable(c, destination) {
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

// Usable reports whether ip may send to destination now.
func (p *Pool) Usable(ip IP, destination string) bool {
	return p.health == nil || !ip.Addr.IsValid() || p.health.Usable(ip.Addr, destination)
}

// Reuse returns the configured IP addr when it may send to destination now:
// a greylisted recipient is retried from the IP that met the greylisting,
// since another one would start it over.
func (p *Pool) Reuse(destination, addr string) (IP, bool) {
	ip, ok := p.Get(addr)
	if !ok || !p.Usable(ip, destination) {
		return IP{}, false
	}
	return ip, true
}

// ReturnsAt is when the first IP suspended for destination may send to it
// again; the zero time when one may now or the health cannot tell.
func (p *Pool) ReturnsAt(destination string) time.Time {
	h, ok := p.health.(untilHealth)
	if !ok {
		return time.Time{}
	}
	var first time.Time
	for _, c := range p.ips {
		if !c.Addr.IsValid() {
			return time.Time{}
		}
		at := h.UsableAt(c.Addr, destination)
		if at.IsZero() {
			return time.Time{}
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
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
