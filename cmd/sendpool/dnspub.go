package main

import (
	"context"
	"log/slog"
	"net/netip"

	"sendpool/internal/config"
	"sendpool/internal/dns"
	"sendpool/internal/dnspub"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
)

// publisher is the node's dnspub.Publisher with the records it publishes.
type publisher struct {
	*dnspub.Publisher
	records *dnsrec.Config
}

// newPublisher wires [[dns.publish]]: one backend per zone, and the
// resolver that reads those zones from their authoritative servers
// (fallback for every other name). With no zone configured the publisher
// publishes nothing and the resolver is fallback's answers.
func newPublisher(cfg *config.Config, ds domain.Store, fallback dns.Resolver, onPublished func(context.Context, string),
	logger *slog.Logger) (publisher, dns.Resolver) {
	var pool []dnsrec.PoolIP
	for _, ip := range cfg.PoolIPs() {
		if a, err := netip.ParseAddr(ip.Address); err == nil {
			pool = append(pool, dnsrec.PoolIP{Addr: a, EHLO: ip.EHLO})
		}
	}
	records := &dnsrec.Config{
		SPFHost:        cfg.SPFHost(),
		SPFMode:        cfg.DKIM.SPFMode,
		Pool:           pool,
		DMARCPolicy:    cfg.DKIM.DMARCPolicy,
		DMARCRUA:       cfg.DKIM.DMARCRUA,
		ReturnPathHost: cfg.DKIM.ReturnPathHost,
		RetireAfter:    cfg.DKIM.RetireAfter.D(),
	}
	var zones []dnspub.Zone
	for _, z := range cfg.PublishZones() {
		var b dnspub.Backend
		switch z.Method {
		case "rfc2136":
			b = &dnspub.RFC2136{Zone: z.Zone, Server: z.Server, KeyName: z.TSIGName, Algorithm: z.TSIGAlgorithm, Secret: z.TSIGSecret}
		case "pdns":
			b = &dnspub.PowerDNS{Zone: z.Zone, URL: z.URL, APIKey: z.APIKey, ServerID: z.ServerID}
		}
		zones = append(zones, dnspub.Zone{Name: z.Zone, Method: z.Method, Backend: b, Nameservers: z.Nameservers})
	}
	p := dnspub.New(dnspub.Config{
		Zones:       zones,
		Store:       ds,
		Records:     records,
		RetireAfter: cfg.DKIM.RetireAfter.D(),
		RevokeFor:   cfg.DKIM.RevokedFor.D(),
		OnPublished: onPublished,
		Logger:      logger,
	})
	if len(zones) == 0 {
		return publisher{p, records}, fallback
	}
	return publisher{p, records}, &dnspub.Authoritative{Publisher: p, Fallback: fallback, Servers: cfg.DNS.Servers}
}
