// Package account holds the customers that relay through sendpool: their
// credentials (argon2id), the domains they may send from and the networks
// of the hosting servers allowed to relay for them without AUTH.
package account

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Status of an account.
type Status string

// Account statuses.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended" // by an admin
	StatusHeld      Status = "held"      // automatically, until an admin releases it
)

// Errors of the store.
var (
	ErrNotFound = errors.New("account: not found")
	ErrExists   = errors.New("account: already exists")
	// ErrDomainTaken: a domain of the account is another account's, or a
	// parent or subdomain of one (Taken says which).
	ErrDomainTaken = errors.New("account: domain belongs to another account")
)

// Limits are the volume limits of an account; zero means no limit.
// Messages and recipients are counted per account; the sender limits count
// the messages of each envelope sender address on their own, for a hosting
// account whose many mailboxes share one account.
type Limits struct {
	PerMinute int `json:"per_minute"`
	PerHour   int `json:"per_hour"`
	PerDay    int `json:"per_day"`

	RcptPerMinute int `json:"rcpt_per_minute,omitempty"`
	RcptPerHour   int `json:"rcpt_per_hour,omitempty"`
	RcptPerDay    int `json:"rcpt_per_day,omitempty"`

	SenderPerHour int `json:"sender_per_hour,omitempty"`
	SenderPerDay  int `json:"sender_per_day,omitempty"`
}

// Negative reports whether any limit is below zero.
func (l Limits) Negative() bool {
	return min(l.PerMinute, l.PerHour, l.PerDay, l.RcptPerMinute, l.RcptPerHour, l.RcptPerDay,
		l.SenderPerHour, l.SenderPerDay) < 0
}

// Account is one customer.
type Account struct {
	Name         string         `json:"name"`
	PasswordHash string         `json:"-"` // argon2id, PHC string format
	Domains      []string       `json:"domains"`
	Networks     []netip.Prefix `json:"networks"`
	// ForeignFrom are domains, not the account's own, that its messages may
	// still name in From: (and their subdomains), set by an admin who knows
	// why: say, a customer's shop sending order mail as its marketplace.
	// Mail from them is not DKIM-signed by sendpool.
	ForeignFrom []string `json:"foreign_from,omitempty"`
	// InboundHost is where mail the MX accepts for the account's domains
	// goes (host or host:port: the hosting server holding the mailboxes);
	// empty: the MX takes no mail for them (SPEC §7).
	InboundHost string `json:"inbound_host,omitempty"`
	// Forwarding: the account forwards mail it received, so a foreign
	// envelope sender is allowed and rewritten to an SRS address
	// (internal/srs) rather than refused.
	Forwarding bool      `json:"forwarding,omitempty"`
	Limits     Limits    `json:"limits"`
	Status     Status    `json:"status"`
	Reason     string    `json:"reason,omitempty"` // why suspended or held
	Created    time.Time `json:"created"`
}

// Store keeps accounts durably.
type Store interface {
	CreateAccount(ctx context.Context, a *Account) error // ErrExists
	GetAccount(ctx context.Context, name string) (*Account, error)
	ListAccounts(ctx context.Context) ([]*Account, error)
	UpdateAccount(ctx context.Context, a *Account) error // ErrNotFound
	DeleteAccount(ctx context.Context, name string) error
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@+-]{0,127}$`)

// Validate checks an account's fields and normalises its domains.
func (a *Account) Validate() error {
	if !nameRE.MatchString(a.Name) {
		return fmt.Errorf("name %q: letters, digits and . _ @ + - only, at most 128", a.Name)
	}
	for _, list := range []struct {
		what  string
		names []string
	}{{"domain", a.Domains}, {"foreign_from domain", a.ForeignFrom}} {
		for i, d := range list.names {
			d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
			if !ValidDomain(d) {
				return fmt.Errorf("%s %q is not a domain name", list.what, list.names[i])
			}
			list.names[i] = d
		}
	}
	if a.InboundHost != "" {
		h, err := ValidHostPort(a.InboundHost)
		if err != nil {
			return fmt.Errorf("inbound_host %q: %v", a.InboundHost, err)
		}
		a.InboundHost = h
	}
	if a.Limits.Negative() {
		return errors.New("limits must not be negative")
	}
	if a.Status == "" {
		a.Status = StatusActive
	}
	switch a.Status {
	case StatusActive, StatusSuspended, StatusHeld:
	default:
		return fmt.Errorf("status %q: want active, suspended or held", a.Status)
	}
	return nil
}

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidDomain reports whether d is a lower-case domain name of two or more labels.
func ValidDomain(d string) bool { return len(d) <= 253 && domainRE.MatchString(d) }

// ValidHostPort checks a host or host:port (a name, an IPv4 address or a
// bracketed IPv6 address; a port from 1 to 65535) and returns it in lower
// case.
func ValidHostPort(hp string) (string, error) {
	hp = strings.ToLower(strings.TrimSpace(hp))
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
		host = hp[1 : len(hp)-1]
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not 1-65535", port)
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return hp, nil
	}
	if !ValidDomain(strings.TrimSuffix(host, ".")) {
		return "", errors.New("want host or host:port")
	}
	return hp, nil
}

// OwnsDomain reports whether the account may send from domain (or a subdomain of one of its domains).
func (a *Account) OwnsDomain(domain string) bool { return under(domain, a.Domains) }

// MayUseFrom reports whether the account's messages may name domain in
// their From: field on their own authority: one of its domains, or one an
// admin listed in ForeignFrom (or a subdomain of either).
func (a *Account) MayUseFrom(domain string) bool {
	return under(domain, a.Domains) || under(domain, a.ForeignFrom)
}

// under reports whether domain is one of list or a subdomain of one.
func under(domain string, list []string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, d := range list {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// Taken checks a's domains against the other accounts': one that is
// another's, or a parent or a subdomain of another's, is refused with
// ErrDomainTaken, since the account owning the parent may send as every
// subdomain (OwnsDomain) and one tenant must never send as another. The
// stores call it before they write a.
func Taken(a *Account, others []*Account) error {
	for _, o := range others {
		if o.Name == a.Name {
			continue
		}
		for _, d := range a.Domains {
			for _, od := range o.Domains {
				if under(d, []string{od}) || under(od, []string{d}) {
					return fmt.Errorf("%w: %s overlaps %s of account %s", ErrDomainTaken, d, od, o.Name)
				}
			}
		}
	}
	return nil
}

// Trusts reports whether addr is inside one of the account's networks.
func (a *Account) Trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.Networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseNetworks parses CIDRs (or single addresses) into prefixes.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("network %q: %v", s, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("network %q: %v", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
