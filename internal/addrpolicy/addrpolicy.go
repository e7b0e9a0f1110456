// Package addrpolicy is the one rule for where sendpool may connect on a
// customer's or a receiver's say-so: mail to an MX (internal/deliver) and
// webhooks to an endpoint URL (internal/webhook). Only public unicast
// addresses, and any inside delivery.allowed_networks (SPEC §2): otherwise
// a DNS name pointed at 127.0.0.1, 10.x or 169.254.169.254 would let a
// tenant reach the node's own services or the cloud's metadata.
package addrpolicy

import "net/netip"

// Policy allows public unicast addresses and those inside Allowed.
type Policy struct {
	Allowed []netip.Prefix
}

// Allows reports whether a may be connected to. An IPv4-mapped IPv6
// address is judged as the IPv4 address it carries.
func (p Policy) Allows(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.Allowed {
		if n.Contains(a) {
			return true
		}
	}
	return a.IsValid() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalMulticast() && !a.IsInterfaceLocalMulticast()
}
