package dnspub

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"sendpool/internal/dns"
)

// Authoritative is a dns.Resolver that answers TXT questions about names
// inside a configured zone from the zone's authoritative servers, each
// asked directly, and everything else through Fallback. A TXT record
// counts only once every authoritative server has it: a receiver's
// resolver may ask any of them, so a key that one lacks would fail
// signatures there (the switch to a new key waits for all of them). It
// also sees a record as soon as it is published, where a recursive
// resolver would keep serving its cached "not found" (RFC 2308).
type Authoritative struct {
	Publisher *Publisher
	Fallback  dns.Resolver
	// Servers are the recursive servers (host:port) asked for a zone's NS
	// records when the zone lists no nameservers: dns.servers.
	Servers []string
}

var _ dns.Resolver = (*Authoritative)(nil)

// LookupMX goes to the fallback.
func (a *Authoritative) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	return a.Fallback.LookupMX(ctx, name)
}

// LookupIP goes to the fallback.
func (a *Authoritative) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	return a.Fallback.LookupIP(ctx, host)
}

// LookupPTR goes to the fallback, when it has reverse lookups.
func (a *Authoritative) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	p, ok := a.Fallback.(interface {
		LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
	})
	if !ok {
		return nil, &dns.Error{Name: addr.String(), Msg: "no reverse lookup", NotFound: true}
	}
	return p.LookupPTR(ctx, addr)
}

// LookupTXT returns the records at name that every authoritative server of
// its zone answers, or asks the fallback for a name outside the zones.
func (a *Authoritative) LookupTXT(ctx context.Context, name string) ([]string, error) {
	z := a.Publisher.ZoneOf(name)
	if z == nil {
		return a.Fallback.LookupTXT(ctx, name)
	}
	servers, err := a.nameservers(ctx, z)
	if err != nil {
		return nil, &dns.Error{Name: name, Msg: err.Error()}
	}
	var common []string
	for i, s := range servers {
		vals, err := query(ctx, s, name, "TXT")
		if err != nil {
			return nil, &dns.Error{Name: name, Msg: err.Error()}
		}
		if i == 0 {
			common = vals
			continue
		}
		common = slices.DeleteFunc(common, func(v string) bool { return !slices.Contains(vals, v) })
	}
	if len(common) == 0 {
		return nil, &dns.Error{Name: name, Msg: "no TXT record on every authoritative server of " + z.Name, NotFound: true}
	}
	return common, nil
}

// nameservers are the zone's configured servers, or its NS hosts' addresses
// at port 53.
func (a *Authoritative) nameservers(ctx context.Context, z *Zone) ([]string, error) {
	if len(z.Nameservers) > 0 {
		return z.Nameservers, nil
	}
	servers := a.Servers
	if len(servers) == 0 { // the system's resolvers, as dns.New takes them
		conf, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("no resolver to ask for the NS records of %s: %w", z.Name, err)
		}
		for _, s := range conf.Servers {
			servers = append(servers, net.JoinHostPort(s, conf.Port))
		}
	}
	hosts, err := []string(nil), fmt.Errorf("no resolver to ask for the NS records of %s", z.Name)
	for _, s := range servers {
		if hosts, err = queryNS(ctx, s, z.Name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no NS records for %s", z.Name)
	}
	var out []string
	for _, h := range hosts {
		addrs, err := a.Fallback.LookupIP(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("nameserver %s of %s: %w", h, z.Name, err)
		}
		for _, ad := range addrs {
			out = append(out, net.JoinHostPort(ad.String(), "53"))
		}
	}
	return out, nil
}

// queryNS asks a recursive server for zone's NS hosts.
func queryNS(ctx context.Context, server, zone string) ([]string, error) {
	hosts, err := query(ctx, server, zone, "NS")
	for i, h := range hosts {
		hosts[i] = strings.TrimSuffix(h, ".")
	}
	return hosts, err
}
