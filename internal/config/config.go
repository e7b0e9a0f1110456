// Package config is sendpool's configuration: one typed struct with
// documented defaults (SPEC §2), loaded strictly from TOML and validated at
// start. Every problem is reported with its key path.
package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration. Every field with a toml tag needs a
// doc comment: it is what `sendpool config-doc` and docs/configuration.md
// say about the key (docs_gen.go; the tests fail on a key without one).
type Config struct {
	Server     Server     `toml:"server"`
	Submission Submission `toml:"submission"`
	HTTP       HTTP       `toml:"http"`
	Store      Store      `toml:"store"`
	State      State      `toml:"state"`
	DNS        DNS        `toml:"dns"`
	Delivery   Delivery   `toml:"delivery"`
	Pool       Pool       `toml:"pool"`
	Scan       Scan       `toml:"scan"`
	Protect    Protect    `toml:"protect"` // protect.go
	DKIM       DKIM       `toml:"dkim"`    // dkim.go
	Auth       Auth       `toml:"auth"`    // auth.go

	Suppression Suppression `toml:"suppression"` // suppression.go
	Inbound     Inbound     `toml:"inbound"`     // inbound.go
	Webhook     Webhook     `toml:"webhook"`     // webhook.go
}

// Server is the node itself.
type Server struct {
	// Hostname is the name in the SMTP banner, the Received field and
	// DSNs, and the EHLO name of a pool IP that sets none.
	Hostname string `toml:"hostname"`
	// DataDir holds the embedded queue (queue.db, SQLite in WAL mode) and
	// the generated admin token; it must be writable by the service.
	DataDir string `toml:"data_dir"`
	// NodeID names this node's leases; default hostname:data_dir. A node
	// restarting under the same id takes its own leases back at once.
	NodeID string `toml:"node_id"`
	// LookupCacheTTL is how long a node keeps an account or domain it read
	// for intake and DKIM signing, and a suppression list's answer (an
	// address on it or not; the whole list of an account with 32 entries or
	// fewer); a change made through another node (its API, its bounces)
	// takes effect here within it. 0: no cache.
	LookupCacheTTL Duration `toml:"lookup_cache_ttl"`
}

// Submission is the SMTP listener hosting servers relay to.
type Submission struct {
	// Listen are the ip:port addresses submission listens on (one or more).
	Listen []string `toml:"listen"`
	// TLSCert is the PEM certificate chain for STARTTLS, offered when both
	// TLSCert and TLSKey are set.
	TLSCert string `toml:"tls_cert"`
	// TLSKey is the PEM private key of TLSCert.
	TLSKey string `toml:"tls_key"`
	// AllowInsecureAuth allows AUTH without TLS from any client; loopback
	// clients always may.
	AllowInsecureAuth bool `toml:"allow_insecure_auth"`
	// MaxMessageSize is the largest message accepted (advertised in SIZE);
	// a larger one gets 552 5.3.4.
	MaxMessageSize Size `toml:"max_message_size"`
	// MaxRecipients is the most recipients one message may have; RCPT past
	// it gets 452 4.5.3.
	MaxRecipients int `toml:"max_recipients"`
	// ProxyProtocol: every connection starts with a PROXY protocol v2
	// header naming the real client, accepted only from auth.trusted_proxies;
	// any other peer is disconnected.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// Bounds (bounds.go): connections, login timeout, junk, header size.
	SubmissionBounds
}

// HTTP is the API and control panel listener.
type HTTP struct {
	// Listen is the ip:port of the API, /metrics, /healthz and the control
	// panel; empty: no HTTP listener.
	Listen string `toml:"listen"`
	// AdminToken is always required; empty: generated at the first start
	// into data_dir/admin_token (mode 0600) and read from there after.
	// Nodes sharing a store must share it: with store.backend = "mongodb"
	// it must be set.
	AdminToken string `toml:"admin_token"`
	// AllowedHosts are the Host names the API and panel answer to (others
	// get 421: a DNS-rebinding page cannot reach them); empty: the listen
	// address, localhost, 127.0.0.1, [::1], public_url's host, and with a
	// wildcard listen address the machine's own addresses.
	AllowedHosts []string `toml:"allowed_hosts"`
	// PublicURL is where admins and customers reach the panel, e.g.
	// "https://relay.example.net" behind a TLS proxy: its host is allowed,
	// its origin is the panel's own, and https makes the session cookie
	// Secure.
	PublicURL string `toml:"public_url"`
	// Pprof serves Go's profiles under /debug/pprof/ (admin-only, as
	// /api/ is), for profiling a running node (the bench uses it).
	Pprof bool `toml:"pprof"`
	// Bounds (bounds.go): timeouts, header size, connections.
	HTTPBounds
}

// Store is the durable queue backend.
type Store struct {
	// Backend is "sqlite" (embedded, data_dir/queue.db, one node) or
	// "mongodb" (several nodes sharing one queue).
	Backend string `toml:"backend"`
	// MongoDBURI is the MongoDB connection string (mongodb:// or
	// mongodb+srv://, with the database name), used with backend "mongodb".
	MongoDBURI string `toml:"mongodb_uri"`
	// Retention is how long a finished message (every recipient delivered
	// or bounced) is kept, with its trace, before it is deleted; 0 keeps
	// every message for good.
	Retention Duration `toml:"retention"`
	// BodyCache is the memory that keeps the bodies of the messages this
	// node took last, for their delivery, which then reads nothing back
	// from the store (most mail leaves within seconds of its 250; older
	// mail and another node's are read as before). "0": none.
	BodyCache Size `toml:"body_cache"`
	// Bounds (bounds.go): min_free_space.
	StoreBounds
}

// State is the shared state backend: volume windows, IP suspensions and
// paces, the DNS cache, recent replies and events, login throttles.
type State struct {
	// Backend is "memory" (one node) or "redis" (shared by several nodes).
	Backend string `toml:"backend"`
	// RedisURL is the Redis URL (redis:// or rediss://; a Sentinel or
	// Cluster URL works too), used with backend "redis".
	RedisURL string `toml:"redis_url"`
}

// DNS is the resolver.
type DNS struct {
	// Servers are the resolvers asked, as ip:port; empty: those of
	// /etc/resolv.conf.
	Servers []string `toml:"servers"`
	// CacheMaxTTL caps how long an answer is cached (its own TTL otherwise);
	// with state.backend = "redis" the cache is shared by every node.
	CacheMaxTTL Duration `toml:"cache_max_ttl"`
	// Publish are the zones sendpool publishes customers' records in
	// (dnspub.go); a domain outside them is told its records to copy.
	Publish []DNSPublish `toml:"publish"`
	// PublishInterval is how often published domains are compared with
	// their zones.
	PublishInterval Duration `toml:"publish_interval"`
	DNSSEC                   // dnssec_resolver (tls.go)
}

// Delivery is how mail goes out.
type Delivery struct {
	// Port is the receivers' SMTP port.
	Port int `toml:"port"`
	// AllowedNetworks are destination CIDRs delivered to even though they
	// are private, loopback or link-local (refused otherwise).
	AllowedNetworks []string `toml:"allowed_networks"`
	// Retry is the wait before each retry after a temporary failure (±10%
	// jitter); past the last step, the last step repeats.
	Retry []Duration `toml:"retry"`
	// MaxQueueTime is how long a recipient may stay undelivered before it
	// bounces (a DSN to the sender).
	MaxQueueTime Duration `toml:"max_queue_time"`
	// DelayNotice is when a recipient still deferred gets the sender one
	// delay notice (a DSN with Action: delayed); 0 disables it.
	DelayNotice Duration `toml:"delay_notice"`
	// DelayNoticeGather is how long the delay notices of one message's
	// recipients are collected into one DSN; the deliveries wait for it
	// under their lease, so it must stay well under LeaseFor.
	DelayNoticeGather Duration `toml:"delay_notice_gather"`
	// ConnectTimeout bounds connecting to one MX address.
	ConnectTimeout Duration `toml:"connect_timeout"`
	// LeaseFor is how long a node holds the deliveries it takes; it renews
	// the leases of those it is working on every third of it, so a
	// delivery may take longer, while a node that dies loses its work to
	// the others within it.
	LeaseFor Duration `toml:"lease_for"`
	// MaxGroupTime bounds the work on one group of deliveries (one
	// recipient domain's, over shared connections), whatever its receivers
	// do; the SMTP timeouts of RFC 5321 §4.5.3.2 bound each step within.
	MaxGroupTime Duration `toml:"max_group_time"`
	// Workers is how many deliveries run at once on this node.
	Workers int `toml:"workers"`
	// MessagesPerConnection caps how many messages share one connection.
	MessagesPerConnection int `toml:"messages_per_connection"`
	// MaxConnectionsPerMX caps this node's concurrent connections to one MX
	// host.
	MaxConnectionsPerMX int `toml:"max_connections_per_mx"`
	// MaxConnectionsPerIPProvider caps this node's concurrent connections
	// from one source IP to one provider.
	MaxConnectionsPerIPProvider int `toml:"max_connections_per_ip_provider"`
	OutboundTLS                     // MTA-STS, DANE, TLS-RPT and overrides (tls.go)
}

// Pool is the set of sending IPs.
type Pool struct {
	// SuspendFor is how long an IP stays out after a reply that says it is
	// blocked (a blocklist, or a provider's own block).
	SuspendFor Duration `toml:"suspend_for"`
	// DNSBL are zones the pool's own IPs are looked up on, e.g.
	// ["zen.spamhaus.org"]; a listed IP is suspended for every destination.
	DNSBL []string `toml:"dnsbl"`
	// DNSBLInterval is how often the pool's IPs are looked up on the dnsbl
	// zones.
	DNSBLInterval Duration `toml:"dnsbl_interval"`
	// DNSBLCooldown is how long a listed IP must be clear before it sends
	// again.
	DNSBLCooldown Duration `toml:"dnsbl_cooldown"`
	// IP are the sending addresses (warmup.go: their warm-up).
	IP []PoolIP `toml:"ip"`
	// Warmup are named warm-up schedules (warmup.go).
	Warmup map[string]WarmupSchedule `toml:"warmup"`
	// Pacing after rate-limit replies (pace.go).
	Pace
}

// PoolIP is one sending address. Each attempt picks one at random, by
// weight, among the healthy ones; a retry prefers one not yet tried for
// that recipient. With none, the system chooses the source address.
type PoolIP struct {
	// Address is the IP to send from; it must be configured on the machine.
	Address string `toml:"address"`
	// EHLO is the name the IP greets with (its PTR should match); default
	// server.hostname.
	EHLO string `toml:"ehlo"`
	// Weight is the IP's share of the picks, relative to the others'.
	Weight int `toml:"weight"`
	// WarmupStart is the first day ("2026-11-20", UTC) of the IP's warm-up;
	// no date: it is warm.
	WarmupStart string `toml:"warmup_start"`
	// Warmup is the name of the IP's warm-up schedule, a [pool.warmup.NAME];
	// default "default".
	Warmup string `toml:"warmup"`
}

// Scan is the content check at intake: the built-in heuristics always run
// (GTUBE, EICAR, header, attachment, link and hidden-text rules), clamd
// and rspamd when set; their scores add up to one.
type Scan struct {
	// SpamRejectScore is the score at or over which a message is refused as
	// spam (550 5.7.1).
	SpamRejectScore float64 `toml:"spam_reject_score"`
	// Clamd is clamd's address, ip:port or a Unix socket's path; empty: no
	// clamd. A virus is refused 554 5.7.1.
	Clamd string `toml:"clamd"`
	// Rspamd is rspamd's URL, e.g. "http://127.0.0.1:11333"; empty: no
	// rspamd.
	Rspamd string `toml:"rspamd"`
	// Fail is what a scanner that is down or times out means: "tempfail"
	// (451 4.7.1, the client retries) or "accept".
	Fail string `toml:"fail"`
	// Timeout bounds each scanner's answer; past it the scanner counts as
	// down (scan.fail).
	Timeout Duration `toml:"timeout"`
}

// Default returns the built-in defaults of SPEC §2.
func Default() *Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	c := &Config{
		Server: Server{Hostname: host, DataDir: "./sendpool-data", LookupCacheTTL: Duration(5 * time.Second)},
		Submission: Submission{
			Listen:         []string{"127.0.0.1:2525"},
			MaxMessageSize: 25 << 20,
			MaxRecipients:  100,
		},
		HTTP: HTTP{Listen: "127.0.0.1:8025"},
		DNS:  DNS{CacheMaxTTL: Duration(5 * time.Minute), PublishInterval: Duration(defaultPublishInterval)},
		Store: Store{Backend: "sqlite", MongoDBURI: "mongodb://127.0.0.1:27017/sendpool", Retention: Duration(720 * time.Hour),
			BodyCache: 32 << 20},
		State: State{Backend: "memory", RedisURL: "redis://127.0.0.1:6379/0"},
		Delivery: Delivery{
			Port: 25,
			Retry: []Duration{
				Duration(5 * time.Minute), Duration(10 * time.Minute), Duration(30 * time.Minute),
				Duration(time.Hour), Duration(2 * time.Hour), Duration(4 * time.Hour),
			},
			MaxQueueTime:          Duration(72 * time.Hour),
			DelayNotice:           Duration(4 * time.Hour),
			DelayNoticeGather:     Duration(time.Second),
			ConnectTimeout:        Duration(30 * time.Second),
			LeaseFor:              Duration(30 * time.Second),
			MaxGroupTime:          Duration(30 * time.Minute),
			Workers:               64,
			MessagesPerConnection: 100,

			MaxConnectionsPerMX:         10,
			MaxConnectionsPerIPProvider: 10,
			OutboundTLS:                 defaultOutboundTLS(),
		},
		Pool: Pool{SuspendFor: Duration(time.Hour), DNSBLInterval: Duration(10 * time.Minute), DNSBLCooldown: Duration(time.Hour),
			Pace: defaultPace()},
		Scan: Scan{SpamRejectScore: 6.0, Fail: "tempfail", Timeout: Duration(30 * time.Second)},

		Protect: defaultProtect(),
		Auth:    defaultAuth(),
		DKIM:    defaultDKIM(),

		Suppression: defaultSuppression(),
		Inbound:     defaultInbound(),
		Webhook:     defaultWebhook(),
	}
	c.Submission.SubmissionBounds = defaultSubmissionBounds() // bounds.go
	c.HTTP.HTTPBounds = defaultHTTPBounds()
	c.Store.StoreBounds = defaultStoreBounds()
	return c
}

// Validate checks every value and returns every problem.
func (c *Config) Validate() Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Server.Hostname == "" {
		bad("server.hostname", "must not be empty")
	}
	if c.Server.DataDir == "" {
		bad("server.data_dir", "must not be empty")
	}
	if c.Server.LookupCacheTTL < 0 {
		bad("server.lookup_cache_ttl", "must not be negative (\"0s\" turns the cache off)")
	}
	if len(c.Submission.Listen) == 0 {
		bad("submission.listen", "needs at least one address")
	}
	for i, l := range c.Submission.Listen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			bad(fmt.Sprintf("submission.listen[%d]", i), "%q is not an ip:port", l)
		}
	}
	if (c.Submission.TLSCert == "") != (c.Submission.TLSKey == "") {
		bad("submission.tls_cert", "tls_cert and tls_key go together")
	}
	if c.Submission.MaxMessageSize <= 0 {
		bad("submission.max_message_size", "must be positive")
	}
	if c.Submission.MaxRecipients <= 0 {
		bad("submission.max_recipients", "must be positive")
	}
	if _, err := netip.ParseAddrPort(c.HTTP.Listen); err != nil && c.HTTP.Listen != "" {
		bad("http.listen", "%q is not an ip:port", c.HTTP.Listen)
	}
	if c.HTTP.PublicURL != "" {
		if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") {
			bad("http.public_url", "%q: want http(s)://host[:port], the panel's address", c.HTTP.PublicURL)
		}
	}
	for i, h := range c.HTTP.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ @") {
			bad(fmt.Sprintf("http.allowed_hosts[%d]", i), "%q: want a host name or address", h)
		}
	}
	if c.Store.Backend == "mongodb" && c.HTTP.AdminToken == "" && c.HTTP.Listen != "" {
		bad("http.admin_token", "must be set (the same on every node) with store.backend = \"mongodb\": a token generated per node would differ")
	}
	switch c.Store.Backend {
	case "sqlite":
	case "mongodb":
		if !strings.HasPrefix(c.Store.MongoDBURI, "mongodb://") && !strings.HasPrefix(c.Store.MongoDBURI, "mongodb+srv://") {
			bad("store.mongodb_uri", "%q is not a mongodb:// URI", c.Store.MongoDBURI)
		}
	default:
		bad("store.backend", "%q: want \"sqlite\" or \"mongodb\"", c.Store.Backend)
	}
	if c.Store.BodyCache < 0 {
		bad("store.body_cache", "must not be negative (\"0\" keeps none)")
	}
	if c.Store.Retention < 0 {
		bad("store.retention", "must not be negative (\"0\" keeps messages for good)")
	}
	switch c.State.Backend {
	case "memory":
	case "redis":
		if !strings.HasPrefix(c.State.RedisURL, "redis://") && !strings.HasPrefix(c.State.RedisURL, "rediss://") {
			bad("state.redis_url", "%q is not a redis:// URL", c.State.RedisURL)
		}
	default:
		bad("state.backend", "%q: want \"memory\" or \"redis\"", c.State.Backend)
	}
	for i, s := range c.DNS.Servers {
		if _, err := netip.ParseAddrPort(s); err != nil {
			bad(fmt.Sprintf("dns.servers[%d]", i), "%q is not an ip:port", s)
		}
	}
	if c.Delivery.Port <= 0 || c.Delivery.Port > 65535 {
		bad("delivery.port", "%d is not a port", c.Delivery.Port)
	}
	for i, n := range c.Delivery.AllowedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			bad(fmt.Sprintf("delivery.allowed_networks[%d]", i), "%q is not a CIDR", n)
		}
	}
	if len(c.Delivery.Retry) == 0 {
		bad("delivery.retry", "needs at least one step")
	}
	for i, d := range c.Delivery.Retry {
		if d <= 0 {
			bad(fmt.Sprintf("delivery.retry[%d]", i), "must be positive")
		}
	}
	if c.Delivery.MaxQueueTime <= 0 {
		bad("delivery.max_queue_time", "must be positive")
	}
	if c.Delivery.DelayNotice < 0 {
		bad("delivery.delay_notice", "must not be negative (\"0\" disables it)")
	}
	// The deliveries wait for the gathering under their lease: one that ran
	// out would be taken again and its notice sent twice.
	if g := c.Delivery.DelayNoticeGather; g <= 0 || g >= c.Delivery.LeaseFor/2 {
		bad("delivery.delay_notice_gather", "must be positive and under half of delivery.lease_for (%v)",
			c.Delivery.LeaseFor.D()/2)
	}
	if c.Delivery.ConnectTimeout <= 0 {
		bad("delivery.connect_timeout", "must be positive")
	}
	if c.Delivery.Workers <= 0 {
		bad("delivery.workers", "must be positive")
	}
	// Renewed every third of a lease, each renewal given a sixth to
	// answer: below 3s the store's round trips would not fit.
	if c.Delivery.LeaseFor < Duration(3*time.Second) {
		bad("delivery.lease_for", "must be at least 3s")
	}
	if c.Delivery.MaxGroupTime <= 0 {
		bad("delivery.max_group_time", "must be positive")
	}
	if c.DNS.CacheMaxTTL < 0 {
		bad("dns.cache_max_ttl", "must not be negative")
	}
	if c.Delivery.MessagesPerConnection <= 0 {
		bad("delivery.messages_per_connection", "must be positive")
	}
	if c.Delivery.MaxConnectionsPerMX <= 0 {
		bad("delivery.max_connections_per_mx", "must be positive")
	}
	if c.Delivery.MaxConnectionsPerIPProvider <= 0 {
		bad("delivery.max_connections_per_ip_provider", "must be positive")
	}
	if c.Pool.SuspendFor <= 0 {
		bad("pool.suspend_for", "must be positive")
	}
	c.Pool.Pace.validate(bad)
	for i, z := range c.Pool.DNSBL {
		if z = strings.Trim(z, ". "); z == "" || strings.ContainsAny(z, " /:") || !strings.Contains(z, ".") {
			bad(fmt.Sprintf("pool.dnsbl[%d]", i), "%q is not a DNS zone such as \"zen.spamhaus.org\"", c.Pool.DNSBL[i])
		}
	}
	if c.Pool.DNSBLInterval <= 0 {
		bad("pool.dnsbl_interval", "must be positive")
	}
	if c.Pool.DNSBLCooldown <= 0 {
		bad("pool.dnsbl_cooldown", "must be positive")
	}
	seen := map[netip.Addr]bool{}
	for i, ip := range c.Pool.IP {
		key := fmt.Sprintf("pool.ip[%d]", i)
		a, err := netip.ParseAddr(ip.Address)
		if err != nil {
			bad(key+".address", "%q is not an IP address", ip.Address)
			continue
		}
		if seen[a] {
			bad(key+".address", "%s is listed twice", a)
		}
		seen[a] = true
		if ip.Weight < 0 {
			bad(key+".weight", "must not be negative")
		}
	}
	if c.Scan.SpamRejectScore <= 0 {
		bad("scan.spam_reject_score", "must be positive")
	}
	if c.Scan.Fail != "tempfail" && c.Scan.Fail != "accept" {
		bad("scan.fail", "%q: want \"tempfail\" or \"accept\"", c.Scan.Fail)
	}
	c.validateScanProtect(bad)
	c.validateDKIM(bad)
	c.validatePublish(bad) // dnspub.go
	c.validateAuth(bad)
	c.validateWarmup(bad)
	c.validateSuppression(bad)
	c.validateBounds(bad)
	c.validateOutboundTLS(bad)
	c.validateInbound(bad)
	c.validateWebhook(bad)
	return errs
}

// PoolIPs returns the pool with defaults filled in (EHLO name, weight 1).
// With no [[pool.ip]], the pool is the unspecified address: the system picks.
func (c *Config) PoolIPs() []PoolIP {
	if len(c.Pool.IP) == 0 {
		return []PoolIP{{Address: "", EHLO: c.Server.Hostname, Weight: 1}}
	}
	out := make([]PoolIP, len(c.Pool.IP))
	for i, ip := range c.Pool.IP {
		if ip.EHLO == "" {
			ip.EHLO = c.Server.Hostname
		}
		if ip.Weight == 0 {
			ip.Weight = 1
		}
		out[i] = ip
	}
	return out
}
