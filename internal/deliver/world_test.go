package deliver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
)

// fakeResolver maps domains to MX hosts and hosts to addresses.
type fakeResolver struct {
	mx   map[string][]dns.MX
	ip   map[string][]netip.Addr
	errs map[string]error // by domain, for LookupMX
}

func (r *fakeResolver) LookupMX(_ context.Context, domain string) ([]dns.MX, error) {
	if err := r.errs[domain]; err != nil {
		return nil, err
	}
	if mx, ok := r.mx[domain]; ok {
		return mx, nil
	}
	return nil, &dns.Error{Name: domain, Permanent: true, Msg: "NXDOMAIN"}
}

func (r *fakeResolver) LookupIP(_ context.Context, host string) ([]netip.Addr, error) {
	if a, ok := r.ip[host]; ok {
		return a, nil
	}
	return nil, &dns.Error{Name: host, Permanent: true, Msg: "NXDOMAIN"}
}

func (r *fakeResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, nil }

// memBodies is a map-backed BodySource, safe for concurrent use (tests
// store messages while couriers read them).
type memBodies struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newBodies() *memBodies { return &memBodies{m: map[string][]byte{}} }

func (m *memBodies) put(id string, b []byte) {
	m.mu.Lock()
	m.m[id] = b
	m.mu.Unlock()
}

func (m *memBodies) Body(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.m[id]; ok {
		return b, nil
	}
	return nil, queue.ErrNotFound
}

// OpenBody gives the bodies of messages whose id starts with "chunked" as
// a stream of short reads (a large body a store keeps in chunks), the
// others whole.
func (m *memBodies) OpenBody(ctx context.Context, id string) (queue.StoredBody, error) {
	b, err := m.Body(ctx, id)
	if err != nil || !strings.HasPrefix(id, "chunked") {
		return queue.StoredBody{Bytes: b, Size: int64(len(b))}, err
	}
	return queue.StoredBody{Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(iotest.HalfReader(bytes.NewReader(b))), nil
	}}, nil
}

// world is a loopback internet: sinks on 127.0.0.1xx, all on one port as
// real MXs are on 25, and sending IPs 127.0.0.2 to .5.
type world struct {
	t      *testing.T
	port   int
	res    *fakeResolver
	bodies *memBodies
	ips    []pool.IP
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, res: &fakeResolver{mx: map[string][]dns.MX{}, ip: map[string][]netip.Addr{}, errs: map[string]error{}}, bodies: newBodies()}
	for i := 2; i <= 5; i++ {
		w.ips = append(w.ips, pool.IP{Addr: netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}), EHLO: fmt.Sprintf("mta%d.sender.test", i)})
	}
	return w
}

// sink starts a sink on ip at the world's port (chosen by the first sink)
// and publishes it as host.
func (w *world) sink(host, ip string, cfg sandbox.SinkConfig) *sandbox.Sink {
	w.t.Helper()
	cfg.Addr = net.JoinHostPort(ip, strconv.Itoa(w.port))
	cfg.Hostname = host
	s, err := sandbox.NewSink(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	if w.port == 0 {
		_, p, _ := net.SplitHostPort(s.Addr())
		w.port, _ = strconv.Atoi(p)
	}
	w.host(host, ip)
	return s
}

func (w *world) host(host, ip string) { w.res.ip[host] = []netip.Addr{netip.MustParseAddr(ip)} }

func (w *world) mx(domain string, hosts ...string) {
	for i, h := range hosts {
		w.res.mx[domain] = append(w.res.mx[domain], dns.MX{Host: h, Pref: uint16(10 * (i + 1))})
	}
}

func (w *world) courier(mod func(*Config)) *Courier {
	if w.port == 0 {
		w.port = 1 // no sink: nothing will be reached
	}
	cfg := Config{
		Resolver:        w.res,
		Pool:            pool.New(pool.Config{IPs: w.ips, Rand: mrand.New(mrand.NewPCG(1, 2))}),
		Store:           w.bodies,
		Port:            w.port,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ConnectTimeout:  5 * time.Second,
		CommandTimeout:  5 * time.Second,
		DataTimeout:     5 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

// message stores a body and returns one lease per recipient.
func (w *world) message(id string, body string, rcpts ...string) []*queue.Lease {
	w.bodies.put(id, []byte(body))
	var out []*queue.Lease
	for i, r := range rcpts {
		_, dom, _ := strings.Cut(r, "@")
		out = append(out, &queue.Lease{
			Delivery: queue.Delivery{ID: id + "/" + strconv.Itoa(i), MessageID: id, Recipient: r, Domain: dom, Status: queue.StatusQueued},
			Owner:    "test", Generation: 1, From: "sender@sender.test",
		})
	}
	return out
}

func deliver(t *testing.T, c *Courier, group ...[]*queue.Lease) []queue.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := slices.Concat(group...)
	res := c.Deliver(ctx, all)
	if len(res) != len(all) {
		t.Fatalf("%d results for %d leases", len(res), len(all))
	}
	return res
}

func wantVerdict(t *testing.T, res []queue.Result, want ...queue.Verdict) {
	t.Helper()
	for i, r := range res {
		if r.Verdict != want[i] || r.Attempt.Verdict != string(want[i]) {
			t.Errorf("result %d: verdict %q (attempt %q), want %q; response %q", i, r.Verdict, r.Attempt.Verdict, want[i], r.Attempt.Response)
		}
	}
}

// testTLS is a self-signed certificate; maxVersion 0 leaves the default.
func testTLS(t *testing.T, maxVersion uint16) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.gmail.test"},
		DNSNames:     []string{"mx.gmail.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MaxVersion: maxVersion}
}
