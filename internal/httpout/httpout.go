// Package httpout is the HTTP client for requests to hosts that mail
// names: MTA-STS policy hosts (RFC 8461 §3.3) and TLS-RPT endpoints
// (RFC 8460 §3). Their names come from other people's DNS, so they are
// resolved through sendpool's own resolver (never the system's), and an
// address outside the public internet is refused unless it is inside
// delivery.allowed_networks: a domain's records must not point the relay
// at its own API or at a private network. No proxy is used.
package httpout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Resolver finds a host's addresses; dns.Resolver implements it.
type Resolver interface {
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// Config configures a client.
type Config struct {
	Resolver Resolver
	// Allowed are destinations allowed although not public
	// (delivery.allowed_networks).
	Allowed []netip.Prefix
	// Roots verify servers' certificates; nil: the system's.
	Roots *x509.CertPool
	// DialTimeout bounds each connection attempt; 0: 30s.
	DialTimeout time.Duration
}

// New returns a client for cfg. Requests still need their own deadline.
func New(cfg Config) *http.Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	d := &dialer{cfg: cfg}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           d.dial,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// Allowed reports whether a may be connected to: a public unicast address,
// or one inside allowed.
func Allowed(a netip.Addr, allowed []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range allowed {
		if p.Contains(a) {
			return true
		}
	}
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate()
}

type dialer struct{ cfg Config }

// dial connects to the first allowed address of addr's host that answers.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = d.cfg.Resolver.LookupIP(ctx, host); err != nil {
		return nil, err
	}
	var (
		refused []string
		errs    []error
	)
	nd := net.Dialer{Timeout: d.cfg.DialTimeout}
	for _, a := range addrs {
		if !Allowed(a, d.cfg.Allowed) {
			refused = append(refused, a.String())
			continue
		}
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 && len(refused) > 0 {
		return nil, fmt.Errorf("%s: destination address not allowed: %s", host, strings.Join(refused, ", "))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	return nil, errors.Join(errs...)
}
