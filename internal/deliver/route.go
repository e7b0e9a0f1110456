package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"sendpool/internal/addrpolicy"
	"sendpool/internal/dns"
	"sendpool/internal/queue"
)

// target is one address of one MX host, in the order to try.
type target struct {
	mx   string
	addr netip.Addr
	port int // 0: Config.Port
}

// route resolves domain's MX hosts, in preference order (RFC 5321 §5.1),
// and their addresses, refusing those the policy does not allow. A domain
// with a fixed route (Config.Routes) goes there instead.
func (c *Courier) route(ctx context.Context, domain string) ([]target, *outcome) {
	if c.cfg.Routes != nil {
		host, ok, err := c.cfg.Routes(ctx, domain)
		if err != nil {
			return nil, &outcome{reply: "route: " + err.Error(), class: dnsClass(false)}
		}
		if ok {
			return c.fixedRoute(ctx, host)
		}
	}
	mxs, err := c.cfg.Resolver.LookupMX(ctx, domain)
	if err != nil {
		return nil, dnsError(err)
	}
	if len(mxs) == 0 {
		return nil, dnsError(&dns.Error{Name: domain, Msg: "no mail exchanger"})
	}
	var (
		targets []target
		refused []string
		errs    []error
	)
	for _, mx := range mxs {
		addrs, err := c.cfg.Resolver.LookupIP(ctx, mx.Host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, a := range addrs {
			a = a.Unmap()
			if !c.allowed(a) {
				refused = append(refused, a.String()+" ("+mx.Host+")")
				continue
			}
			targets = append(targets, target{mx: mx.Host, addr: a})
		}
	}
	if len(targets) > 0 {
		return targets, nil
	}
	if len(errs) == 0 && len(refused) > 0 {
		return nil, &outcome{
			reply: "destination address not allowed: " + strings.Join(refused, ", "),
			class: queue.Classification{Verdict: queue.VerdictPermanent, Category: "policy", Rule: "destination-not-allowed"},
		}
	}
	if len(errs) == 0 {
		return nil, dnsError(&dns.Error{Name: domain, Msg: "mail exchangers have no address"})
	}
	// Only when every lookup failed for good does the mail bounce.
	err = errors.Join(errs...)
	for _, e := range errs {
		if !dns.IsPermanent(e) {
			return nil, &outcome{reply: err.Error(), class: dnsClass(false)}
		}
	}
	return nil, &outcome{reply: err.Error(), class: dnsClass(true)}
}

// fixedRoute resolves a fixed route's host[:port] (an account's
// inbound_host: SPEC §7). The admin named it, so a private address is
// allowed: the hosting server holding the mailboxes is often on one.
func (c *Courier) fixedRoute(ctx context.Context, hostport string) ([]target, *outcome) {
	host, port := hostport, 0
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		return []target{{mx: hostport, addr: a.Unmap(), port: port}}, nil
	}
	addrs, err := c.cfg.Resolver.LookupIP(ctx, host)
	if err != nil {
		return nil, dnsError(err)
	}
	var out []target
	for _, a := range addrs {
		out = append(out, target{mx: hostport, addr: a.Unmap(), port: port})
	}
	if len(out) == 0 {
		return nil, dnsError(&dns.Error{Name: host, Msg: "no address"})
	}
	return out, nil
}

func dnsError(err error) *outcome {
	return &outcome{reply: err.Error(), class: dnsClass(dns.IsPermanent(err))}
}

func dnsClass(permanent bool) queue.Classification {
	if permanent {
		return queue.Classification{Verdict: queue.VerdictPermanent, Category: "dns", Rule: "dns-permanent"}
	}
	return queue.Classification{Verdict: queue.VerdictDeferred, Category: "dns", Rule: "dns-temporary"}
}

// allowed reports whether mail may go to a: public unicast addresses, and
// any inside the configured allowed networks (the sandbox, a smarthost on
// a private network). The rule is addrpolicy's, shared with webhooks.
func (c *Courier) allowed(a netip.Addr) bool {
	return addrpolicy.Policy{Allowed: c.cfg.AllowedNetworks}.Allows(a)
}

// mxHost is one MX host and its targets, in preference order.
type mxHost struct {
	mx      string
	targets []target
}

// byHost groups targets (in order) by MX host.
func byHost(targets []target) []mxHost {
	var out []mxHost
	for _, t := range targets {
		if n := len(out); n > 0 && out[n-1].mx == t.mx {
			out[n-1].targets = append(out[n-1].targets, t)
			continue
		}
		out = append(out, mxHost{mx: t.mx, targets: []target{t}})
	}
	return out
}

// forSource keeps the targets a source address can reach: the same family.
func forSource(targets []target, src netip.Addr) ([]target, error) {
	if !src.IsValid() {
		return targets, nil
	}
	var out []target
	for _, t := range targets {
		if t.addr.Is4() == src.Is4() {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no destination address of the family of source %s", src)
	}
	return out, nil
}
