package smtpd

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/authguard"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
	"sendpool/internal/testenv"
)

// accountsRef lets a guard made before the env's store find its accounts.
type accountsRef struct{ st account.Store }

func (r *accountsRef) GetAccount(ctx context.Context, name string) (*account.Account, error) {
	return r.st.GetAccount(ctx, name)
}

// guardedEnv is newEnv with a guard over st (memory when nil): at most
// ipMax failures per IP and acctMax per account in 15 minutes.
func guardedEnv(t *testing.T, st state.State, ipMax, acctMax int, extra ...*account.Account) (*env, *syncBuffer) {
	t.Helper()
	if st == nil {
		st = memory.New(nil)
		t.Cleanup(func() { st.Close() })
	}
	ref := &accountsRef{}
	logs := &syncBuffer{}
	g := authguard.New(authguard.Config{State: st, Accounts: ref, MaxFailures: ipMax, MaxAccountFailures: acctMax,
		Window: 15 * time.Minute, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	e := newEnv(t, func(c *Config) { c.Guard = g }, extra...)
	ref.st = e.store
	return e, logs
}

// dialFrom is dialRaw from a chosen loopback source address: the server on
// 127.0.0.1 sees it as the client's IP.
func dialFrom(t *testing.T, addr, local string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	c.expect(220)
	c.must("EHLO client.test", 250, "")
	return c
}

// wantThrottled wants 454 4.7.0 for the attempt, then the connection closed.
func wantThrottled(t *testing.T, c *rawClient, user, pass string) {
	t.Helper()
	code, msg := c.authPlain(user, pass)
	if code != 454 || msg != "4.7.0 Too many authentication failures, try again later" {
		t.Fatalf("AUTH %s: %d %s, want 454 4.7.0 Too many authentication failures, try again later", user, code, msg)
	}
	if line, err := c.tp.ReadLine(); !errors.Is(err, io.EOF) {
		t.Fatalf("after 454: read %q, %v; want the connection closed (EOF)", line, err)
	}
}

func TestAuthThrottledPerIP(t *testing.T) {
	e, _ := guardedEnv(t, nil, 10, 50)
	c := dialFrom(t, e.addr, "127.0.0.1")
	for i := range 10 {
		if code, msg := c.authPlain("acme", "wrong"); code != 535 {
			t.Fatalf("wrong password %d: %d %s, want 535", i+1, code, msg)
		}
	}
	// The right password now: refused without being checked.
	wantThrottled(t, c, "acme", "secret")
	if !strings.Contains(e.logs.String(), "check=authguard") {
		t.Errorf("refusal not logged:\n%s", e.logs)
	}
	// A new connection from the same IP is refused too.
	wantThrottled(t, dialFrom(t, e.addr, "127.0.0.1"), "acme", "secret")

	// Another client IP still authenticates.
	c2 := dialFrom(t, e.addr, "127.0.0.2")
	c2.must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	c2.must("MAIL FROM:<a@acme.test>", 250, "")
}

func TestAuthThrottledPerAccount(t *testing.T) {
	nets, _ := account.ParseNetworks([]string{"127.0.0.20/32"})
	hash, err := account.HashPassword("hosted-secret")
	if err != nil {
		t.Fatal(err)
	}
	hosted := &account.Account{Name: "hosted", PasswordHash: hash, Domains: []string{"hosted.test"},
		Networks: nets, Status: account.StatusActive}
	e, logs := guardedEnv(t, nil, 10, 5, hosted)
	// A botnet: five IPs, one guess each, each far under the IP limit.
	for i := range 5 {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(3 + i)}).String()
		if code, msg := dialFrom(t, e.addr, ip).authPlain("hosted", "guess"); code != 535 {
			t.Fatalf("guess from %s: %d %s, want 535", ip, code, msg)
		}
	}
	// The account now refuses outsiders, even with its password …
	wantThrottled(t, dialFrom(t, e.addr, "127.0.0.9"), "hosted", "hosted-secret")
	// … but not its own hosting server, inside its networks.
	dialFrom(t, e.addr, "127.0.0.20").must("AUTH PLAIN "+plain("hosted", "hosted-secret"), 235, "2.0.0")
	// Other accounts are untouched.
	dialFrom(t, e.addr, "127.0.0.9").must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	if n := strings.Count(logs.String(), "auth lockout"); n != 1 {
		t.Errorf("%d lockouts logged, want 1:\n%s", n, logs)
	}
}

// TestAuthThrottledAcrossNodes runs two servers sharing one Redis: the
// failures made on one lock the client out of the other.
func TestAuthThrottledAcrossNodes(t *testing.T) {
	url := testenv.Redis(t)
	prefix := "sendpool-test:authguard:" + time.Now().Format("150405.000000000") + ":"
	open := func() state.State {
		st, err := redis.Open(context.Background(), url, redis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			if keys, err := st.Client().Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
				st.Client().Del(ctx, keys...)
			}
			st.Close()
		})
		return st
	}
	a, _ := guardedEnv(t, open(), 10, 50)
	b, _ := guardedEnv(t, open(), 10, 50)

	// Node b still lets the client in after nine failures on node a …
	c := dialFrom(t, a.addr, "127.0.0.1")
	for range 9 {
		c.must("AUTH PLAIN "+plain("acme", "wrong"), 535, "5.7.8")
	}
	dialFrom(t, b.addr, "127.0.0.1").must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
	// … and refuses it after the tenth, which node a counted.
	c.must("AUTH PLAIN "+plain("acme", "wrong"), 535, "5.7.8")
	wantThrottled(t, dialFrom(t, b.addr, "127.0.0.1"), "acme", "secret")
	dialFrom(t, b.addr, "127.0.0.2").must("AUTH PLAIN "+plain("acme", "secret"), 235, "2.0.0")
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}
