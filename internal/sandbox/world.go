package sandbox

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PoolIP is a sending address of the loopback world, with the EHLO name the
// world's DNS gives it (A and PTR).
type PoolIP struct {
	Address string
	EHLO    string
}

// WorldConfig configures StartWorld.
type WorldConfig struct {
	// Port all sinks listen on (delivery.port is one number); 0 picks a
	// port free on every sink address.
	Port int
	// Domains maps each receiving domain to its sink's address (127.0.0.x);
	// nil gives DefaultDomains.
	Domains map[string]string
	// PoolIPs are published in DNS (A and PTR); nil gives DefaultPoolIPs.
	PoolIPs []PoolIP
	Logger  *slog.Logger
	// Discard makes every sink count messages rather than keep them
	// (SinkConfig.Discard), for load runs.
	Discard bool
	// Parse makes every sink read each message's header as a receiving
	// MX does (SinkConfig.Parse); with LogDir, each sink also logs one line
	// per message to LogDir/DOMAIN.log.
	Parse  bool
	LogDir string
	// CA, when set, makes every sink offer STARTTLS with a certificate
	// from it for its MX name, and starts an MTA-STS policy server
	// (World.STS) on STSAddr (default 127.0.0.10, any port).
	CA      *CA
	STSAddr string
}

// DefaultDomains is the standard sandbox: three receivers and the demo
// sender's own domain (where bounces arrive).
var DefaultDomains = map[string]string{
	"gmail.test":   "127.0.0.11",
	"outlook.test": "127.0.0.12",
	"yahoo.test":   "127.0.0.13",
	"example.test": "127.0.0.14",
}

// DefaultPoolIPs are the standard sandbox's four sending addresses.
var DefaultPoolIPs = []PoolIP{
	{"127.0.0.2", "mta1.sendpool.test"},
	{"127.0.0.3", "mta2.sendpool.test"},
	{"127.0.0.4", "mta3.sendpool.test"},
	{"127.0.0.5", "mta4.sendpool.test"},
}

// World is a loopback mail world: a DNS server and one MX sink per domain,
// all sinks on one port.
type World struct {
	DNS     *DNSServer
	Port    int
	PoolIPs []PoolIP

	// CA and STS are the world's certificate authority and MTA-STS
	// policy server, with WorldConfig.CA; nil otherwise.
	CA  *CA
	STS *STSServer

	logger  *slog.Logger
	discard bool
	parse   bool
	logDir  string
	mu      sync.Mutex
	sinks   map[string]*Sink
	logs    []*os.File // the sinks' logs (WorldConfig.LogDir), closed after them
	stsIDs  int        // makes each published policy's id new
}

// StartWorld starts the DNS server and the sinks.
func StartWorld(cfg WorldConfig) (*World, error) {
	if cfg.Domains == nil {
		cfg.Domains = DefaultDomains
	}
	if cfg.PoolIPs == nil {
		cfg.PoolIPs = DefaultPoolIPs
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dns, err := NewDNSServer("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &World{DNS: dns, PoolIPs: cfg.PoolIPs, logger: cfg.Logger, discard: cfg.Discard,
		parse: cfg.Parse, logDir: cfg.LogDir, sinks: map[string]*Sink{}, CA: cfg.CA}
	if cfg.CA != nil {
		addr := cfg.STSAddr
		if addr == "" {
			addr = "127.0.0.10:0"
		}
		if w.STS, err = NewSTSServer(addr, cfg.CA); err != nil {
			dns.Close()
			return nil, err
		}
	}
	for _, ip := range cfg.PoolIPs {
		dns.SetA(ip.EHLO, ip.Address)
		dns.SetPTR(ip.Address, ip.EHLO)
	}
	w.Port = cfg.Port
	var held map[string]net.Listener
	if w.Port == 0 {
		if w.Port, held, err = listenOnAll(cfg.Domains); err != nil {
			dns.Close()
			return nil, err
		}
	}
	for domain, addr := range cfg.Domains {
		ln := held[addr]
		delete(held, addr) // two domains on one address: the second fails to bind
		if _, err := w.addDomain(domain, addr, ln); err != nil {
			for _, l := range held {
				l.Close()
			}
			w.Close()
			return nil, err
		}
	}
	for _, l := range held { // an address no domain took (no domains)
		l.Close()
	}
	return w, nil
}

// AddDomain starts a sink for domain on addr:Port and publishes
// "MX 10 mx.DOMAIN" with mx.DOMAIN's A record pointing at addr.
func (w *World) AddDomain(domain, addr string) (*Sink, error) {
	return w.addDomain(domain, addr, nil)
}

// addDomain is AddDomain on ln when it is not nil (already listening on
// addr:Port).
func (w *World) addDomain(domain, addr string, ln net.Listener) (*Sink, error) {
	mx := "mx." + domain
	var tc *tls.Config
	if w.CA != nil {
		cert, err := w.CA.Issue(mx)
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			return nil, err
		}
		tc = ServerTLS(cert)
	}
	var log *os.File
	if w.parse && w.logDir != "" {
		var err error
		if log, err = os.Create(filepath.Join(w.logDir, strings.ToLower(domain)+".log")); err != nil {
			if ln != nil {
				ln.Close()
			}
			return nil, fmt.Errorf("sink for %s: %w", domain, err)
		}
	}
	cfg := SinkConfig{
		Addr:     net.JoinHostPort(addr, strconv.Itoa(w.Port)),
		Listener: ln,
		Hostname: mx,
		Logger:   w.logger.With("sink", domain),
		Discard:  w.discard,
		Parse:    w.parse,
		TLS:      tc,
	}
	if log != nil {
		cfg.Log = log
	}
	s, err := NewSink(cfg)
	if err != nil {
		if log != nil {
			log.Close()
		}
		return nil, fmt.Errorf("sink for %s: %w", domain, err)
	}
	w.DNS.SetMX(domain, MXRecord{Host: mx, Pref: 10})
	w.DNS.SetA(mx, addr)
	w.mu.Lock()
	w.sinks[strings.ToLower(domain)] = s
	if log != nil {
		w.logs = append(w.logs, log)
	}
	w.mu.Unlock()
	return s, nil
}

// Sink returns the sink of domain (nil if none).
func (w *World) Sink(domain string) *Sink {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sinks[strings.ToLower(domain)]
}

// Sinks returns every sink by domain.
func (w *World) Sinks() map[string]*Sink {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]*Sink, len(w.sinks))
	for d, s := range w.sinks {
		out[d] = s
	}
	return out
}

// Close stops everything.
func (w *World) Close() error {
	var errs []error
	for _, s := range w.Sinks() {
		errs = append(errs, s.Close())
	}
	w.mu.Lock()
	for _, f := range w.logs {
		errs = append(errs, f.Close())
	}
	w.logs = nil
	w.mu.Unlock()
	if w.STS != nil {
		errs = append(errs, w.STS.Close())
	}
	errs = append(errs, w.DNS.Close())
	return errors.Join(errs...)
}

// PublishSTS makes domain announce policy (RFC 8461 §3): the TXT record at
// _mta-sts.DOMAIN with a new id, mta-sts.DOMAIN's address (the policy
// server's) and the policy served. It needs WorldConfig.CA.
func (w *World) PublishSTS(domain, policy string) error {
	if w.STS == nil {
		return errors.New("sandbox: no MTA-STS server (WorldConfig.CA)")
	}
	host, _, _ := net.SplitHostPort(w.STS.Addr())
	w.mu.Lock()
	w.stsIDs++
	id := fmt.Sprintf("%d%d", time.Now().Unix(), w.stsIDs)
	w.mu.Unlock()
	w.STS.SetPolicy(domain, policy)
	w.DNS.SetA("mta-sts."+domain, host)
	w.DNS.SetTXT("_mta-sts."+domain, "v=STSv1; id="+id+";")
	return nil
}

// PublishTLSRPT makes domain ask for TLS reports (RFC 8460 §3) at rua, a
// comma-separated list of mailto: and https: URIs.
func (w *World) PublishTLSRPT(domain, rua string) {
	w.DNS.SetTXT("_smtp._tls."+domain, "v=TLSRPTv1; rua="+rua)
}

// listenOnAll listens on one port on every address in domains and returns
// the port and the listeners, kept open: probing a port and binding it
// again later lets a test running in parallel take it in between.
func listenOnAll(domains map[string]string) (int, map[string]net.Listener, error) {
	var addrs []string
	for _, a := range domains {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return 0, nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		held := map[string]net.Listener{addrs[0]: l}
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				break
			}
			held[a] = l2
		}
		if len(held) == len(addrs) {
			return port, held, nil
		}
		for _, l := range held {
			l.Close()
		}
	}
	return 0, nil, errors.New("sandbox: no port free on every sink address")
}
