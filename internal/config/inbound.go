package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Inbound is the MX side (SPEC §7, internal/inbound): a listener for the
// hosted domains (every account's) whose gate runs the cheapest checks
// first, as Postfix's postscreen does, and hands accepted mail to the
// queue for the account's inbound_host.
type Inbound struct {
	// Listen are the MX listeners, e.g. ["0.0.0.0:25"]; empty: off.
	Listen []string `toml:"listen"`
	// Allow are CIDRs whose clients skip the DNSBL score, the greet pause
	// and greylisting (a known forwarder or backup MX), and are never
	// refused by Deny.
	Allow []string `toml:"allow"`
	// Deny are CIDRs whose clients are refused at connect.
	Deny []string `toml:"deny"`
	// GreetPause holds the banner this long and reads: a client that
	// talks before it (RFC 5321 §4.3.1: the client waits for the greeting)
	// is dropped and banned. 0: no pause.
	GreetPause Duration `toml:"greet_pause"`
	// PassFor is how long a client that waited for the banner skips the
	// pause on its next connections (postscreen_greet_ttl).
	PassFor Duration `toml:"pass_for"`
	// BanFor is how long a ban lasts: for talking before the banner, too
	// many unknown recipients or protocol errors, or AUTH on the MX. Bans
	// are in the shared state: every node honours them.
	BanFor Duration `toml:"ban_for"`
	// MaxConnections caps this node's open MX connections in all; past
	// it: 421 4.7.0.
	MaxConnections int `toml:"max_connections"`
	// MaxConnectionsPerIP caps this node's open MX connections from one
	// client IP; past it: 421 4.7.0.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// ConnectionsPerMinute caps the connections of one client IP across
	// every node (shared state); past it: 421 4.7.0.
	ConnectionsPerMinute int `toml:"connections_per_minute"`
	// MaxUnknownRecipients in one session bans the client (a dictionary
	// attack).
	MaxUnknownRecipients int `toml:"max_unknown_recipients"`
	// MaxErrors protocol errors in one session ban the client.
	MaxErrors int `toml:"max_errors"`
	// MaxMessageSize is the largest message the MX takes (SIZE, RFC 1870).
	MaxMessageSize Size `toml:"max_message_size"`
	// MaxRecipients caps one message's recipients (452 4.5.3 past it).
	MaxRecipients int `toml:"max_recipients"`
	// DNSBL are the weighted lists (a DNSWL has a negative weight).
	DNSBL []InboundDNSBL `toml:"dnsbl"`
	// DNSBLThreshold: a client whose score (listings, FCrDNS, HELO) adds
	// up to it is refused with 554 5.7.1 naming the zone.
	DNSBLThreshold float64 `toml:"dnsbl_threshold"`
	// DNSBLTimeout bounds the lookups before the banner (the lists and
	// the client's reverse name); a list that has not answered by then
	// counts as not listing the client (postscreen_dnsbl_timeout).
	DNSBLTimeout Duration `toml:"dnsbl_timeout"`
	// FCrDNSWeight is added to the score of a client with no
	// forward-confirmed reverse name: it counts towards greylisting and a
	// listing's total, never refuses alone.
	FCrDNSWeight float64 `toml:"fcrdns_weight"`
	// HELOWeight is added to the score of a client whose HELO is not a
	// name of its own; as FCrDNSWeight, it never refuses alone.
	HELOWeight float64 `toml:"helo_weight"`
	// Recipients is how recipients are verified before DATA: "callout"
	// (an RCPT probe to the account's inbound_host), "list" (the
	// addresses kept through the API) or "accept-all".
	Recipients string `toml:"recipients"`
	// CalloutTimeout bounds one probe.
	CalloutTimeout Duration `toml:"callout_timeout"`
	// CalloutPositive is how long a probe's "exists" is cached (shared
	// state).
	CalloutPositive Duration `toml:"callout_positive"`
	// CalloutNegative is how long a probe's "unknown" is cached.
	CalloutNegative Duration `toml:"callout_negative"`
	// RejectScore refuses content whose scan score is at or over it (550
	// 5.7.1).
	RejectScore float64 `toml:"reject_score"`
	// TagScore delivers content at or over it with X-Spam-Flag: YES and
	// X-Spam-Score.
	TagScore float64 `toml:"tag_score"`
	// Greylist is "off", "suspicious" (a client on no DNSWL whose FCrDNS
	// fails or whose score is over half the threshold) or "all".
	Greylist string `toml:"greylist"`
	// GreylistDelay is how long a first attempt waits (451 4.7.1 before).
	GreylistDelay Duration `toml:"greylist_delay"`
	// GreylistRetryWindow is how long a greylisted triple's retry is
	// awaited before it counts as new.
	GreylistRetryWindow Duration `toml:"greylist_retry_window"`
	// GreylistPassFor is how long a triple that passed is remembered.
	GreylistPassFor Duration `toml:"greylist_pass_for"`
	// DMARCOverride are known forwarders (domains, the HELO or reverse
	// name's, or client CIDRs) whose DMARC failures are not enforced.
	DMARCOverride []string `toml:"dmarc_override"`
	// SRSDomain is the domain of SRS addresses (forwarding accounts'
	// foreign envelope senders); needed for forwarding.
	SRSDomain string `toml:"srs_domain"`
	// SRSSecrets sign SRS addresses: the first signs, every one verifies
	// (rotation); needed for forwarding.
	SRSSecrets []string `toml:"srs_secrets"`
	// DecisionsKept is how many recent decisions the shared state keeps
	// (the API and the panel show them).
	DecisionsKept int `toml:"decisions_kept"`
}

// InboundDNSBL is one weighted list of [inbound].
type InboundDNSBL struct {
	// Zone is the list's DNS zone, e.g. "zen.spamhaus.org".
	Zone string `toml:"zone"`
	// Weight is what a listing adds to the client's score; negative for
	// a DNSWL.
	Weight float64 `toml:"weight"`
	// Codes are the answers that are listings, e.g. ["127.0.0.2"]; any
	// other answer, and any in 127.255.255.0/24, is the zone's error
	// (RFC 5782 §2.3 leaves codes to the list; Spamhaus answers
	// 127.255.255.252-255 to refused queries): ignored, logged, counted,
	// never a refusal. Empty: every 127.0.0.0/8 answer outside
	// 127.255.255.0/24 is a listing.
	Codes []string `toml:"codes"`
}

// Values of Inbound.Recipients and Inbound.Greylist.
const (
	RecipientsCallout   = "callout"
	RecipientsList      = "list"
	RecipientsAcceptAll = "accept-all"
	GreylistOff         = "off"
	GreylistSuspicious  = "suspicious"
	GreylistAll         = "all"
)

// InboundOpTimeout bounds one check's lookups (DNS, state) in the gate.
const InboundOpTimeout = 30 * time.Second

func defaultInbound() Inbound {
	return Inbound{
		GreetPause:           Duration(3 * time.Second),
		PassFor:              Duration(24 * time.Hour),
		BanFor:               Duration(time.Hour),
		MaxConnections:       1000,
		MaxConnectionsPerIP:  20,
		ConnectionsPerMinute: 600,
		MaxUnknownRecipients: 5,
		MaxErrors:            10,
		MaxMessageSize:       25 << 20,
		MaxRecipients:        100,
		DNSBLThreshold:       1.0,
		DNSBLTimeout:         Duration(10 * time.Second),
		FCrDNSWeight:         0.3,
		HELOWeight:           0.2,
		Recipients:           RecipientsCallout,
		CalloutTimeout:       Duration(30 * time.Second),
		CalloutPositive:      Duration(time.Hour),
		CalloutNegative:      Duration(10 * time.Minute),
		RejectScore:          10,
		TagScore:             5,
		Greylist:             GreylistSuspicious,
		GreylistDelay:        Duration(5 * time.Minute),
		GreylistRetryWindow:  Duration(24 * time.Hour),
		GreylistPassFor:      Duration(36 * 24 * time.Hour),
		DecisionsKept:        1000,
	}
}

// Prefixes parses CIDRs (or single addresses) that Validate passed.
func Prefixes(list []string) []netip.Prefix { return prefixes(list) }

// validateInbound checks [inbound].
func (c *Config) validateInbound(bad func(key, format string, args ...any)) {
	in := &c.Inbound
	for i, l := range in.Listen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			bad(fmt.Sprintf("inbound.listen[%d]", i), "%q is not an ip:port", l)
		}
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"inbound.allow", in.Allow}, {"inbound.deny", in.Deny}} {
		for i, s := range l.list {
			if _, err := parsePrefix(s); err != nil {
				bad(fmt.Sprintf("%s[%d]", l.key, i), "%q is not a CIDR", s)
			}
		}
	}
	if in.GreetPause < 0 {
		bad("inbound.greet_pause", "must not be negative (\"0s\": no pause)")
	}
	if in.PassFor < 0 {
		bad("inbound.pass_for", "must not be negative")
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"inbound.ban_for", in.BanFor}, {"inbound.callout_timeout", in.CalloutTimeout}, {"inbound.dnsbl_timeout", in.DNSBLTimeout},
		{"inbound.callout_positive", in.CalloutPositive}, {"inbound.callout_negative", in.CalloutNegative},
		{"inbound.greylist_delay", in.GreylistDelay}, {"inbound.greylist_retry_window", in.GreylistRetryWindow},
		{"inbound.greylist_pass_for", in.GreylistPassFor}} {
		if d.d <= 0 {
			bad(d.key, "must be positive")
		}
	}
	for _, n := range []struct {
		key string
		n   int
	}{{"inbound.max_connections", in.MaxConnections}, {"inbound.max_connections_per_ip", in.MaxConnectionsPerIP},
		{"inbound.connections_per_minute", in.ConnectionsPerMinute}, {"inbound.max_unknown_recipients", in.MaxUnknownRecipients},
		{"inbound.max_errors", in.MaxErrors}, {"inbound.max_recipients", in.MaxRecipients},
		{"inbound.decisions_kept", in.DecisionsKept}} {
		if n.n <= 0 {
			bad(n.key, "must be positive")
		}
	}
	if in.MaxMessageSize <= 0 {
		bad("inbound.max_message_size", "must be positive")
	}
	if in.GreylistRetryWindow <= in.GreylistDelay {
		bad("inbound.greylist_retry_window", "must be longer than greylist_delay")
	}
	if in.DNSBLThreshold <= 0 {
		bad("inbound.dnsbl_threshold", "must be positive")
	}
	if in.FCrDNSWeight < 0 || in.HELOWeight < 0 {
		bad("inbound.fcrdns_weight", "fcrdns_weight and helo_weight must not be negative")
	}
	for i, z := range in.DNSBL {
		key := fmt.Sprintf("inbound.dnsbl[%d]", i)
		if zz := strings.Trim(z.Zone, ". "); zz == "" || strings.ContainsAny(zz, " /:") || !strings.Contains(zz, ".") {
			bad(key+".zone", "%q is not a DNS zone such as \"zen.spamhaus.org\"", z.Zone)
		}
		if z.Weight == 0 {
			bad(key+".weight", "must not be 0 (negative for a DNSWL)")
		}
		for j, code := range z.Codes {
			a, err := netip.ParseAddr(code)
			if err != nil || !a.Is4() || a.As4()[0] != 127 {
				bad(fmt.Sprintf("%s.codes[%d]", key, j), "%q is not a 127.0.0.0/8 address (RFC 5782 §2.3)", code)
			}
		}
	}
	switch in.Recipients {
	case RecipientsCallout, RecipientsList, RecipientsAcceptAll:
	default:
		bad("inbound.recipients", "%q: want \"callout\", \"list\" or \"accept-all\"", in.Recipients)
	}
	switch in.Greylist {
	case GreylistOff, GreylistSuspicious, GreylistAll:
	default:
		bad("inbound.greylist", "%q: want \"off\", \"suspicious\" or \"all\"", in.Greylist)
	}
	if in.TagScore <= 0 || in.RejectScore <= 0 {
		bad("inbound.reject_score", "reject_score and tag_score must be positive")
	} else if in.TagScore > in.RejectScore {
		bad("inbound.tag_score", "must not be over reject_score")
	}
	for i, s := range in.DMARCOverride {
		if _, err := parsePrefix(s); err != nil && !strings.Contains(s, ".") {
			bad(fmt.Sprintf("inbound.dmarc_override[%d]", i), "%q is neither a domain nor a CIDR", s)
		}
	}
	if in.SRSDomain != "" && len(in.SRSSecrets) == 0 {
		bad("inbound.srs_secrets", "needs at least one secret with srs_domain set")
	}
	for i, s := range in.SRSSecrets {
		if len(s) < 16 {
			bad(fmt.Sprintf("inbound.srs_secrets[%d]", i), "must be at least 16 characters")
		}
	}
	if len(in.SRSSecrets) > 0 && in.SRSDomain == "" {
		bad("inbound.srs_domain", "must be set with srs_secrets")
	}
}
