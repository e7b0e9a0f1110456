package dnsrec

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"

	"sendpool/internal/dns"
)

// PTRResolver is the reverse lookup some resolvers have (dns.Client does).
// The checker and SPF's ptr mechanism use it when the Resolver has it.
type PTRResolver interface {
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
}

// SPFResult is an SPF verdict (RFC 7208 §2.6).
type SPFResult = spf.Result

// SPF results.
const (
	SPFNone      = spf.None
	SPFNeutral   = spf.Neutral
	SPFPass      = spf.Pass
	SPFFail      = spf.Fail
	SPFSoftFail  = spf.SoftFail
	SPFTempError = spf.TempError
	SPFPermError = spf.PermError
)

// CheckSPF evaluates SPF (RFC 7208 §4) for mail from ip that said helo
// and gave sender as MAIL FROM ("" for the null sender: the HELO identity
// is checked, §2.4), looking up through r and following includes within
// the ten-lookup limit. The error says why, for logs.
func CheckSPF(ctx context.Context, r dns.Resolver, ip netip.Addr, helo, sender string) (SPFResult, error) {
	if sender == "" {
		sender = "postmaster@" + helo
	}
	return spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, sender,
		spf.WithResolver(spfResolver{r}), spf.WithContext(ctx))
}

// spfResolver adapts a dns.Resolver to the net.Resolver-like interface of
// blitiri.com.ar/go/spf: its errors become *net.DNSError, which is how the
// library tells "not found" (a void lookup) from a temporary failure.
type spfResolver struct{ r dns.Resolver }

func (s spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := s.r.LookupTXT(ctx, name)
	return txts, dns.NetError(err)
}

// LookupMX returns the exchangers of name. A null MX is no exchanger. The
// implicit MX of our resolver (RFC 5321 §5.1) is not quite SPF's mx
// mechanism, which has none (RFC 7208 §5.4), but it only ever adds the
// domain's own address, which an mx term of the domain rarely lacks.
func (s spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := s.r.LookupMX(ctx, name)
	if errors.Is(err, dns.ErrNullMX) {
		return nil, nil
	}
	if err != nil {
		return nil, dns.NetError(err)
	}
	out := make([]*net.MX, len(mxs))
	for i, mx := range mxs {
		out[i] = &net.MX{Host: mx.Host + ".", Pref: mx.Pref}
	}
	return out, nil
}

func (s spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	addrs, err := s.r.LookupIP(ctx, strings.TrimSuffix(host, "."))
	if err != nil {
		return nil, dns.NetError(err)
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.IP(a.AsSlice())}
	}
	return out, nil
}

func (s spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	p, ok := s.r.(PTRResolver)
	a, err := netip.ParseAddr(addr)
	if !ok || err != nil {
		return nil, &net.DNSError{Name: addr, Err: "no reverse lookup", IsNotFound: true}
	}
	names, err := p.LookupPTR(ctx, a)
	if err != nil {
		return nil, dns.NetError(err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "."
	}
	return out, nil
}

// spfRecords returns the SPF records among txts (RFC 7208 §4.5: those
// starting "v=spf1" followed by a space or nothing).
func spfRecords(txts []string) []string {
	var out []string
	for _, t := range txts {
		l := strings.ToLower(t)
		if l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			out = append(out, t)
		}
	}
	return out
}
