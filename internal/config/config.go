// Package config is sendpool's configuration: one typed struct with
// documented defaults (SPEC §2), loaded strictly from TOML and validated at
// start. Every problem is reported with its key path.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration.
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
	Webhook     Webhook     `toml:"webhook"`     // webhook.go
}

// Server is the node itself.
type Server struct {
	Hostname string `toml:"hostname"` // banner and default EHLO name
	DataDir  string `toml:"data_dir"` // embedded store and keys
	// NodeID names this node's leases; default hostname:data_dir. A node
	// restarting under the same id takes its own leases back at once.
	NodeID string `toml:"node_id"`
	// LookupCacheTTL is how long a node keeps an account or domain it read
	// for intake and DKIM signing; a change made through another node's API
	// takes effect here within it. 0: no cache.
	LookupCacheTTL Duration `toml:"lookup_cache_ttl"`
}

// Submission is the SMTP listener hosting servers relay to.
type Submission struct {
	Listen            []string `toml:"listen"`
	TLSCert           string   `toml:"tls_cert"`
	TLSKey            string   `toml:"tls_key"`
	AllowInsecureAuth bool     `toml:"allow_insecure_auth"`
	MaxMessageSize    Size     `toml:"max_message_size"`
	MaxRecipients     int      `toml:"max_recipients"`
	// ProxyProtocol: every connection starts with a PROXY protocol v2
	// header naming the real client, accepted only from auth.trusted_proxies
	// (auth.go); any other peer is disconnected.
	ProxyProtocol bool `toml:"proxy_protocol"`
}

// HTTP is the API and control panel listener.
type HTTP struct {
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
}

// Store is the durable queue backend.
type Store struct {
	Backend    string `toml:"backend"` // "sqlite" or "mongodb"
	MongoDBURI string `toml:"mongodb_uri"`
	// Retention is how long a finished message (every recipient delivered
	// or bounced) is kept, with its trace, before it is deleted; 0 keeps
	// every message for good.
	Retention Duration `toml:"retention"`
}

// State is the shared state backend.
type State struct {
	Backend  string `toml:"backend"` // "memory" or "redis"
	RedisURL string `toml:"redis_url"`
}

// DNS is the resolver.
type DNS struct {
	Servers []string `toml:"servers"` // host:port; empty: /etc/resolv.conf
	// CacheMaxTTL caps how long an answer is cached (its own TTL otherwise);
	// with state.backend = "redis" the cache is shared by every node.
	CacheMaxTTL Duration `toml:"cache_max_ttl"`
}

// Delivery is how mail goes out.
type Delivery struct {
	Port            int        `toml:"port"`
	AllowedNetworks []string   `toml:"allowed_networks"`
	Retry           []Duration `toml:"retry"`
	MaxQueueTime    Duration   `toml:"max_queue_time"`
	// DelayNotice is when a recipient still deferred gets the sender one
	// delay notice (a DSN with Action: delayed); 0 disables it.
	DelayNotice Duration `toml:"delay_notice"`
	// DelayNoticeGather is how long the delay notices of one message's
	// recipients are collected into one DSN; the deliveries wait for it
	// under their lease, so it must stay well under LeaseFor.
	DelayNoticeGather Duration `toml:"delay_notice_gather"`
	ConnectTimeout    Duration `toml:"connect_timeout"`
	// LeaseFor is how long a node holds the deliveries it takes; a node
	// that dies loses them to the others when it runs out.
	LeaseFor Duration `toml:"lease_for"`
	// Workers is how many deliveries run at once on this node.
	Workers int `toml:"workers"`
	// MessagesPerConnection caps how many messages share one connection.
	MessagesPerConnection int `toml:"messages_per_connection"`
	// MaxConnectionsPerMX caps this node's concurrent connections to one MX
	// host, MaxConnectionsPerIPProvider those from one source IP to one
	// provider.
	MaxConnectionsPerMX         int `toml:"max_connections_per_mx"`
	MaxConnectionsPerIPProvider int `toml:"max_connections_per_ip_provider"`
}

// Pool is the set of sending IPs.
type Pool struct {
	SuspendFor Duration `toml:"suspend_for"`
	DNSBL      []string `toml:"dnsbl"`
	// DNSBLInterval is how often the pool's IPs are looked up on DNSBL;
	// DNSBLCooldown how long a listed IP must be clear before it returns.
	DNSBLInterval Duration `toml:"dnsbl_interval"`
	DNSBLCooldown Duration `toml:"dnsbl_cooldown"`
	IP            []PoolIP `toml:"ip"`
	// Warmup are named warm-up schedules (warmup.go).
	Warmup map[string]WarmupSchedule `toml:"warmup"`
	// Pacing after rate-limit replies (pace.go).
	Pace
}

// PoolIP is one sending address.
type PoolIP struct {
	Address string `toml:"address"`
	EHLO    string `toml:"ehlo"`
	Weight  int    `toml:"weight"`
	// WarmupStart is the first day ("2026-11-20") of the IP's warm-up,
	// Warmup the schedule's name (default "default"); no date: it is warm.
	WarmupStart string `toml:"warmup_start"`
	Warmup      string `toml:"warmup"`
}

// Scan is the content check at intake.
type Scan struct {
	SpamRejectScore float64 `toml:"spam_reject_score"`
	Clamd           string  `toml:"clamd"`
	Rspamd          string  `toml:"rspamd"`
	Fail            string  `toml:"fail"`
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
	return &Config{
		Server: Server{Hostname: host, DataDir: "./sendpool-data", LookupCacheTTL: Duration(5 * time.Second)},
		Submission: Submission{
			Listen:         []string{"127.0.0.1:2525"},
			MaxMessageSize: 25 << 20,
			MaxRecipients:  100,
		},
		HTTP:  HTTP{Listen: "127.0.0.1:8025"},
		DNS:   DNS{CacheMaxTTL: Duration(5 * time.Minute)},
		Store: Store{Backend: "sqlite", MongoDBURI: "mongodb://127.0.0.1:27017/sendpool", Retention: Duration(720 * time.Hour)},
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
			LeaseFor:              Duration(10 * time.Minute),
			Workers:               64,
			MessagesPerConnection: 100,

			MaxConnectionsPerMX:         10,
			MaxConnectionsPerIPProvider: 10,
		},
		Pool: Pool{SuspendFor: Duration(time.Hour), DNSBLInterval: Duration(10 * time.Minute), DNSBLCooldown: Duration(time.Hour),
			Pace: defaultPace()},
		Scan: Scan{SpamRejectScore: 6.0, Fail: "tempfail", Timeout: Duration(30 * time.Second)},

		Protect: defaultProtect(),
		Auth:    defaultAuth(),
		DKIM:    defaultDKIM(),

		Suppression: defaultSuppression(),
		Webhook:     defaultWebhook(),
	}
}

// Load reads a TOML file over the defaults. Unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(data))
}

// Parse reads TOML text over the defaults and validates the result.
func Parse(text string) (*Config, error) {
	c := Default()
	md, err := toml.Decode(text, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{Key: "", Msg: pe.ErrorWithPosition()}}
		}
		return nil, Errors{{Key: "", Msg: err.Error()}}
	}
	var errs Errors
	for _, k := range md.Undecoded() {
		errs = append(errs, KeyError{Key: k.String(), Msg: "unknown key"})
	}
	errs = append(errs, c.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// KeyError is one problem with one key.
type KeyError struct {
	Key string
	Msg string
}

func (e KeyError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Errors are every problem found in a config.
type Errors []KeyError

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
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
	if c.Delivery.LeaseFor <= 0 || c.Delivery.LeaseFor < 2*c.Delivery.ConnectTimeout {
		bad("delivery.lease_for", "must be at least twice delivery.connect_timeout (%v)", c.Delivery.ConnectTimeout.D())
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
	c.validateAuth(bad)
	c.validateWarmup(bad)
	c.validateSuppression(bad)
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

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"90s\" or \"4h\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as "25MB", "512KB" or a plain number.
type Size int64

// UnmarshalText parses a size.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize parses "25MB", "10KB", "1GB" or "1024" (binary multiples).
func ParseSize(text string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(text))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like \"25MB\"", text)
	}
	return n * mult, nil
}
