package dnsrec

import (
	"context"
	"strings"

	"sendpool/internal/dns"
)

// CNAMEResolver is the alias lookup some resolvers have (dns.Client does).
// The checker uses it for the return-path record when the Resolver has it.
type CNAMEResolver interface {
	LookupCNAME(ctx context.Context, name string) (string, error)
}

// checkReturnPath: bounces.<domain> is a CNAME to Config.ReturnPathHost.
// Names compare case-insensitively and without the trailing dot (RFC 4343
// §3; both forms name the same node). Only called with ReturnPathHost set.
func (c *Checker) checkReturnPath(ctx context.Context, name string) Result {
	at := ReturnPathLabel + "." + name
	want := c.Config.ReturnPathHost
	res := Result{Status: OK, Found: []string{}, Expected: []string{want}}
	r, ok := c.Resolver.(CNAMEResolver)
	if !ok {
		res.Status, res.Detail = Missing, "the resolver cannot look CNAME records up"
		return res
	}
	target, err := r.LookupCNAME(ctx, at)
	switch {
	case dns.IsNotFound(err):
		res.Status, res.Detail = Missing, "no CNAME record at "+at
	case err != nil:
		res.Status, res.Detail = Missing, "lookup failed: "+err.Error()
	case !sameHost(target, want):
		res.Found = []string{target}
		res.Status, res.Detail = Wrong, at+" points to "+target+", not "+want
	default:
		res.Found = []string{target}
	}
	return res
}

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}
