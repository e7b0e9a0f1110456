package smtpd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/intake"
	"sendpool/internal/queue"
	"sendpool/internal/store/sqlite"
)

// env is a submission server on a loopback port over a real SQLite store.
type env struct {
	t     testing.TB
	store *sqlite.Store
	srv   *Server
	addr  string
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts a server with account "acme" (password "secret", domain
// acme.test) plus the given accounts; mod adjusts the config.
func newEnv(t testing.TB, mod func(*Config), extra ...*account.Account) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	hash, err := account.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	accounts := append([]*account.Account{{Name: "acme", PasswordHash: hash, Domains: []string{"acme.test"},
		Status: account.StatusActive}}, extra...)
	for _, a := range accounts {
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	cfg := Config{Hostname: "relay.sendpool.test", Logger: logger, MaxMessageSize: 64 << 10, MaxRecipients: 5}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Intake == nil {
		// The node's one host name, in the banner and the Received field.
		cfg.Intake = intake.New(intake.Config{Accounts: st, Queue: st, Hostname: cfg.Hostname, Logger: logger})
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return &env{t: t, store: st, srv: srv, addr: l.Addr().String(), logs: logs}
}

// messages returns the stored messages with their bodies.
func (e *env) messages() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	list, err := e.store.ListMessages(ctx, queue.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range list {
		b, err := e.store.Body(ctx, m.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		out[m.ID] = string(b)
	}
	return out
}

// rawClient speaks SMTP line by line, to see every reply as it is.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	c.expect(220)
	return c
}

// reply reads one reply: its code and its text (lines joined by "\n").
func (c *rawClient) reply() (int, string) {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return code, msg
}

func (c *rawClient) expect(code int) string {
	c.t.Helper()
	got, msg := c.reply()
	if got != code {
		c.t.Fatalf("reply %d %s, want %d", got, msg, code)
	}
	return msg
}

// cmd sends a line and returns the reply.
func (c *rawClient) cmd(line string) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

// must sends a line and wants code and, if enhanced is set, that enhanced code.
func (c *rawClient) must(line string, code int, enhanced string) string {
	c.t.Helper()
	got, msg := c.cmd(line)
	if got != code || enhanced != "" && !strings.HasPrefix(msg, enhanced+" ") {
		c.t.Fatalf("%q: reply %d %s, want %d %s", line, got, msg, code, enhanced)
	}
	return msg
}

func (c *rawClient) authPlain(user, pass string) (int, string) {
	return c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
}

// writeRaw sends bytes as they are.
func (c *rawClient) writeRaw(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// queuedID returns the id of a "2.0.0 Ok: queued as ID" reply text.
func queuedID(t *testing.T, msg string) string {
	t.Helper()
	id, ok := strings.CutPrefix(msg, "2.0.0 "+queuedMessage)
	if !ok || id == "" {
		t.Fatalf("reply %q does not name a queued id", msg)
	}
	return id
}

// selfSigned returns a TLS config with a fresh certificate for host, and a
// pool that trusts it.
func selfSigned(t *testing.T, host string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

var loopback = netip.MustParseAddr("127.0.0.1")
