package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// submitFrom is submit with the client connecting from the loopback
// address src, so that the client IP the server records is known.
func submitFrom(src, addr, user, pass, from, to string, body []byte) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// rawMessage fetches GET /api/v1/messages/{id} as JSON, as a script sees it.
func (e *env) rawMessage(t *testing.T, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.http+"/api/v1/messages/"+id, nil)
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET message %s: %d %s", id, resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET message %s: %v: %s", id, err, b)
	}
	return m
}

// TestMessageIntakeRecord: a message with three heuristic hits (a subject
// in capitals, no Date, no Message-ID) submitted over SMTP with AUTH from
// 127.0.0.77 shows, in GET /api/v1/messages/{id}, protocol smtp (ESMTPA),
// that client IP, the account authenticated by password, no TLS, its score
// 3.5 and each rule with its score, the heuristics' answer (no clamd is
// configured here; internal/scan TestCheckScannerVerdicts has the real
// one's) and the DKIM signatures applied (d=, s=, a= of both keys), still
// once delivered; `sendpool queue show` prints them; one sent through POST
// /api/v1/send shows protocol http.
func TestMessageIntakeRecord(t *testing.T) {
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, dkimConfig)
	e.serve()
	e.addAccount("shop1", "pw-long-enough", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.api()
	info, err := c.AddDomain(ctx, "shop1.test", "shop1")
	if err != nil {
		t.Fatal(err)
	}

	body := []byte("From: Shop One <news@shop1.test>\r\nTo: <user@gmail.test>\r\n" +
		"Subject: YOUR ORDER HAS SHIPPED TODAY\r\n\r\nOn its way.\r\n")
	if err := submitFrom("127.0.0.77", e.smtp, "shop1", "pw-long-enough", "news@shop1.test", "user@gmail.test", body); err != nil {
		t.Fatalf("submit: %v", err)
	}
	// net/smtp keeps the DATA reply (which names the id) to itself: the
	// queue lists this account's one message.
	list, err := c.Messages(ctx, queue.Filter{Account: "shop1"})
	if err != nil || len(list) != 1 {
		t.Fatalf("messages: %+v, %v", list, err)
	}
	id := list[0].ID
	waitFor(t, 30*time.Second, "delivery", func() bool {
		m, err := c.Message(ctx, id)
		return err == nil && m.Status == queue.StatusDelivered
	})

	m, err := c.Message(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	in := m.Intake
	if in == nil {
		t.Fatalf("no intake record: %+v", m)
	}
	if in.Protocol != "smtp" || in.With != "ESMTPA" || in.ClientIP != "127.0.0.77" || in.Account != "shop1" ||
		in.Auth != "password" || in.TLS {
		t.Errorf("how it came: %+v", in)
	}
	rules := map[string]float64{}
	for _, r := range in.Rules {
		rules[r.Scanner+":"+r.Rule] = r.Score
	}
	want := map[string]float64{"heuristics:SHOUTING_SUBJECT": 1.5, "heuristics:MISSING_DATE": 1,
		"heuristics:MISSING_MESSAGE_ID": 1}
	if fmt.Sprint(rules) != fmt.Sprint(want) || in.Score != 3.5 {
		t.Errorf("score %v, rules %v; want 3.5, %v", in.Score, rules, want)
	}
	if len(in.Scanners) != 1 || in.Scanners[0] != (queue.ScanVerdict{Scanner: "heuristics", Result: "clean", Score: 3.5}) {
		t.Errorf("scanners: %+v", in.Scanners)
	}
	wantSigs := []queue.DKIMSignature{
		{Domain: "shop1.test", Selector: info.Keys[0].Selector, Algorithm: "rsa-sha256"},
		{Domain: "shop1.test", Selector: info.Keys[1].Selector, Algorithm: "ed25519-sha256"},
	}
	if fmt.Sprint(in.DKIM) != fmt.Sprint(wantSigs) {
		t.Errorf("dkim: %+v, want %+v", in.DKIM, wantSigs)
	}

	// The JSON as scripts read it.
	raw, ok := e.rawMessage(t, id)["intake"].(map[string]any)
	if !ok || raw["protocol"] != "smtp" || raw["client_ip"] != "127.0.0.77" || raw["account"] != "shop1" ||
		raw["score"] != 3.5 || raw["tls"] != false {
		t.Errorf(`"intake" in the API's JSON: %v`, raw)
	}
	if sigs, _ := raw["dkim"].([]any); len(sigs) != 2 || fmt.Sprint(sigs[0]) !=
		fmt.Sprintf("map[a:rsa-sha256 d:shop1.test s:%s]", info.Keys[0].Selector) {
		t.Errorf(`"dkim" in the API's JSON: %v`, raw["dkim"])
	}

	out, code := e.adminCLI("queue", "show", id)
	var lines []string // each with its columns one space apart
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	flat := strings.Join(lines, "\n")
	for _, w := range []string{"protocol: smtp (ESMTPA)", "client ip: 127.0.0.77", "account: shop1 by password",
		"tls: no", "spam score: 3.5", "scanners: heuristics clean", "heuristics SHOUTING_SUBJECT 1.5",
		"heuristics MISSING_DATE 1", "dkim: d=shop1.test s=" + info.Keys[0].Selector + " a=rsa-sha256; d=shop1.test s=" +
			info.Keys[1].Selector + " a=ed25519-sha256"} {
		if !strings.Contains(flat, w) {
			t.Errorf("queue show lacks %q", w)
		}
	}
	if code != 0 || t.Failed() {
		t.Logf("queue show (exit %d):\n%s", code, out)
	}

	// Through the HTTP API.
	hid, err := e.httpSend("shop1", "pw-long-enough", "news@shop1.test", "user@gmail.test", message("news@shop1.test", "user@gmail.test", "h1"))
	if err != nil {
		t.Fatal(err)
	}
	hm, err := c.Message(ctx, hid)
	if err != nil {
		t.Fatal(err)
	}
	if hi := hm.Intake; hi == nil || hi.Protocol != "http" || hi.With != "HTTP" || hi.ClientIP != "127.0.0.1" ||
		hi.Account != "shop1" || hi.Auth != "password" || hi.Score != 0 || len(hi.Rules) != 0 || len(hi.DKIM) != 2 {
		t.Errorf("sent over HTTP: %+v", hm.Intake)
	}
}
