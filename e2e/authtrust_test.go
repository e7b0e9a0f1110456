package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/proxyproto"
)

// dialFrom is dialRaw from a chosen 127.0.0.x source address: another
// client to the server. raw, if any, goes first (a PROXY header).
func dialFrom(t *testing.T, addr, local string, raw []byte) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	if len(raw) > 0 {
		if _, err := conn.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	return &rawClient{t: t, tp: textproto.NewConn(conn)}
}

// TestAuthTrustedFor: the binary wires auth.trusted_for. 50 wrong
// passwords for shop1 from five IPs lock the account; the right password
// still gets in from the IP that logged in before, and gets 454 4.7.0 from
// a new one.
func TestAuthTrustedFor(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "[auth]\ntrusted_for = \"720h\"\n")
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	home := dialFrom(t, e.smtp, "127.0.0.30", nil)
	home.expect(220)
	home.must("EHLO home.example", 250)
	home.must(authGood, 235)
	home.must("QUIT", 221)
	for i := range 5 {
		c := dialFrom(t, e.smtp, fmt.Sprintf("127.0.0.%d", 3+i), nil)
		c.expect(220)
		c.must("EHLO bot.example", 250)
		for range 10 {
			c.must(authBad, 535)
		}
	}
	c := dialFrom(t, e.smtp, "127.0.0.30", nil)
	c.expect(220)
	c.must("EHLO home.example", 250)
	c.must(authGood, 235)
	c.must("MAIL FROM:<a@shop1.test>", 250)

	n := dialFrom(t, e.smtp, "127.0.0.40", nil)
	n.expect(220)
	n.must("EHLO new.example", 250)
	if code, msg := n.cmd(authGood); code != 454 || !strings.HasPrefix(msg, "4.7.0 ") {
		t.Fatalf("right password from a new IP, account locked: %d %s, want 454 4.7.0", code, msg)
	}
}

// TestAuthProxies: the binary wires submission.proxy_protocol and
// auth.trusted_proxies: through the trusted proxy (127.0.0.2) a client
// inside an account's networks relays without AUTH; the same header from
// another peer is dropped; and /api/v1/send takes X-Forwarded-For from the
// proxy only.
func TestAuthProxies(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, "[auth]\ntrusted_proxies = [\"127.0.0.2/32\"]\n")
	writeFile(t, e.config, strings.Replace(readFile(t, e.config), "[submission]\n", "[submission]\nproxy_protocol = true\n", 1))
	e.serve()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.api().CreateAccount(ctx, accountReq("hosted", "pw-hosted-secret", []string{"hosted.test"}, []string{"203.0.113.0/28"})); err != nil {
		t.Fatal(err)
	}
	header := proxyproto.Header{Command: proxyproto.Proxy, Source: netip.MustParseAddrPort("203.0.113.5:50000"),
		Destination: netip.MustParseAddrPort("192.0.2.1:587")}.Marshal()

	c := dialFrom(t, e.smtp, "127.0.0.2", header)
	c.expect(220)
	c.must("EHLO shop.example", 250)
	c.must("MAIL FROM:<a@hosted.test>", 250)
	c.must("RCPT TO:<b@gmail.test>", 250)
	c.must("DATA", 354)
	msg := c.must("From: a@hosted.test\r\nTo: b@gmail.test\r\nSubject: hi\r\nMessage-ID: <p1@hosted.test>\r\n\r\nhello\r\n.", 250)
	id := strings.TrimPrefix(msg, "2.0.0 Ok: queued as ")
	m, err := e.api().Message(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.Intake == nil || m.Intake.ClientIP != "203.0.113.5" || m.Intake.Auth != "network" {
		t.Errorf("intake of the proxied message: %+v, want client 203.0.113.5 by network", m.Intake)
	}

	spoof := dialFrom(t, e.smtp, "127.0.0.3", header)
	if line, err := spoof.tp.ReadLine(); !errors.Is(err, io.EOF) && (err == nil || !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("header from an untrusted peer: read %q, %v; want the connection closed", line, err)
	}

	send := func(local, xff string) (*http.Response, map[string]string) {
		t.Helper()
		body, _ := json.Marshal(api.SendRequest{From: "a@hosted.test", To: []string{"b@gmail.test"},
			Raw: "From: a@hosted.test\r\nTo: b@gmail.test\r\nSubject: hi\r\n\r\nhello\r\n"})
		req, _ := http.NewRequest("POST", "http://"+e.http+"/api/v1/send", bytes.NewReader(body))
		req.SetBasicAuth("hosted", "pw-hosted-secret")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	for _, c := range []struct{ local, want string }{{"127.0.0.2", "198.51.100.7"}, {"127.0.0.3", "127.0.0.3"}} {
		resp, out := send(c.local, "198.51.100.7")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("send from %s: %d %v", c.local, resp.StatusCode, out)
		}
		m, err := e.api().Message(ctx, out["id"])
		if err != nil {
			t.Fatal(err)
		}
		if m.Intake == nil || m.Intake.ClientIP != c.want {
			t.Errorf("send from %s with X-Forwarded-For 198.51.100.7: client %+v, want %s", c.local, m.Intake, c.want)
		}
	}
}
