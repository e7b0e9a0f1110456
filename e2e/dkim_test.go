package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"sendpool/internal/api"
	"sendpool/internal/dkim"
	"sendpool/internal/dnsrec"
	"sendpool/internal/domain"
	"sendpool/internal/sandbox"
)

// dkimConfig names the service's SPF host; activation of rotated keys is
// left to `domain check` (the periodic check is an hour away).
const dkimConfig = `
[dkim]
spf_host = "_spf.relay.sendpool.test"
check_interval = "1h"
`

// pyDKIM returns the Python that imports Debian's python3-dkim:
// $SENDPOOL_TEST_PYDKIM (scripts/services/pydkim installs it and exports
// it), else /usr/bin/python3 if it can. Missing, it fails the test in CI and
// skips it elsewhere.
func pyDKIM(t *testing.T) string {
	t.Helper()
	py := os.Getenv("SENDPOOL_TEST_PYDKIM")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import dkim, dns.resolver").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-dkim is not available to %s (%v): run scripts/services/pydkim", py, err)
		}
		t.Skipf("python3-dkim is not available to %s (%v): run scripts/services/pydkim", py, err)
	}
	return py
}

// pyVerification is one signature as dkimpy judged it.
type pyVerification struct {
	S, A, D string
	OK      bool
	Err     string // dkimpy's reason when not OK
}

// pyVerify verifies every signature of msg with dkimpy, which looks the keys
// up in the sandbox DNS server.
func (e *env) pyVerify(t *testing.T, py string, msg []byte) []pyVerification {
	t.Helper()
	cmd := exec.Command(py, "testdata/dkim_verify.py", e.world.DNS.Addr())
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkim_verify.py: %v\n%s", err, stderr.String())
	}
	var vs []pyVerification
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatalf("dkim_verify.py said %q: %v", out, err)
	}
	return vs
}

// publish puts records in the sandbox DNS, TXT records of one name together.
func (e *env) publish(rs []dnsrec.Record) {
	by := map[string][]string{}
	for _, r := range rs {
		switch r.Type {
		case "TXT":
			by[r.Name] = append(by[r.Name], r.Value)
		case "CNAME":
			e.world.DNS.SetCNAME(r.Name, r.Value)
		}
	}
	for name, vs := range by {
		e.world.DNS.SetTXT(name, vs...)
	}
}

// signedMessage is a message with every field sendpool signs and one it
// does not.
func signedMessage(id string) []byte {
	return []byte("From: Shop One <news@shop1.test>\r\n" +
		"To: Some One <user@gmail.test>\r\n" +
		"Cc: other@gmail.test\r\n" +
		"Subject: Your order " + id + " has shipped and is on its way to you now\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + id + "@e2e.test>\r\n" +
		"Reply-To: help@shop1.test\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"List-Unsubscribe: <https://shop1.test/u/" + id + ">\r\n" +
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
		"X-Campaign: autumn\r\n" +
		"\r\n" +
		"Hello,\r\n\r\nyour order " + id + " has shipped.  Thank you!\r\n")
}

// sendAndReceive submits a signedMessage from shop1 and returns it as the
// gmail.test sink received it.
func (e *env) sendAndReceive(t *testing.T, id string) []byte {
	t.Helper()
	if err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{"user@gmail.test"}, signedMessage(id)); err != nil {
		t.Fatalf("submit %s: %v", id, err)
	}
	return e.receive(t, id)
}

// receive waits for message id at the gmail.test sink and returns it.
func (e *env) receive(t *testing.T, id string) []byte {
	t.Helper()
	var got []byte
	waitFor(t, 30*time.Second, "message "+id+" at the sink", func() bool {
		for _, m := range e.world.Sink("gmail.test").Messages() {
			if bytes.Contains(m.Data, []byte("Message-ID: <"+id+"@e2e.test>")) {
				got = m.Data
				return true
			}
		}
		return false
	})
	return got
}

func selectorsOf(vs []pyVerification) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.S+"/"+v.A+"/"+v.D)
	}
	return strings.Join(s, " ")
}

func allOK(vs []pyVerification) bool {
	for _, v := range vs {
		if !v.OK {
			return false
		}
	}
	return len(vs) > 0
}

// relaxedRewrite does to a received message what relays do and relaxed
// canonicalisation forgives (RFC 6376 §3.4.2, §3.4.4): headers re-wrapped,
// their names' case and the whitespace inside them changed, whitespace in
// body lines changed, empty lines added at the end, a trace field added on
// top.
func relaxedRewrite(t *testing.T, msg []byte) []byte {
	t.Helper()
	s := string(msg)
	for _, r := range []struct{ from, to string }{
		{"\r\nSubject: Your order ", "\r\nSubject:   Your order\r\n\t "},
		{" has shipped and is on its way", " has shipped and\r\n is  on\t its way"},
		{"\r\nTo: Some One <user@gmail.test>", "\r\nTO:Some   One\r\n <user@gmail.test>  "},
		{"\r\nContent-Type: text/plain; charset=utf-8", "\r\ncontent-type: text/plain;\r\n\tcharset=utf-8"},
		{"\r\nMIME-Version: 1.0", "\r\nMime-Version:\t1.0 "},
		{" has shipped.  Thank you!", " has  shipped. \t Thank you!   "},
	} {
		if !strings.Contains(s, r.from) {
			t.Fatalf("rewrite: %q not in the message:\n%s", r.from, s)
		}
		s = strings.Replace(s, r.from, r.to, 1)
	}
	s = "Received: from mx.gmail.test by inbox.gmail.test; " + time.Now().Format(time.RFC1123Z) + "\r\n" + s + "\r\n\r\n"
	return []byte(s)
}

// TestDKIMSignedMailVerifiesAndChecker: the records POST /api/v1/domains
// returns, published in the sandbox DNS, make the checker go from missing
// to ok; a message submitted over SMTP arrives at the sink with an RSA and
// an Ed25519 signature that dkimpy verifies, still after relaxed rewrites,
// and no longer after a changed body; a wrong DKIM key or an SPF record
// missing a pool IP makes the checker say wrong.
func TestDKIMSignedMailVerifiesAndChecker(t *testing.T) {
	py := pyDKIM(t)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, dkimConfig)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.api()

	info, err := c.AddDomain(ctx, "shop1.test", "shop1")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Keys) != 2 || info.Keys[0].Algorithm != domain.RSA || info.Keys[1].Algorithm != domain.Ed25519 {
		t.Fatalf("keys: %+v", info.Keys)
	}

	r, err := c.CheckDomain(ctx, "shop1.test")
	if err != nil {
		t.Fatal(err)
	}
	if r.SPF.Status != dnsrec.Missing || r.DKIM.Status != dnsrec.Missing || r.DMARC.Status != dnsrec.Missing || r.OK {
		t.Fatalf("before publishing: spf %s, dkim %s, dmarc %s", r.SPF.Status, r.DKIM.Status, r.DMARC.Status)
	}

	e.publish(info.Records)
	if r, err = c.CheckDomain(ctx, "shop1.test"); err != nil || !r.OK {
		t.Fatalf("after publishing: %+v, %v", r, err)
	}
	if len(r.Pool) != 4 {
		t.Fatalf("pool checks: %+v", r.Pool)
	}
	for _, ip := range r.Pool {
		if ip.Forward.Status != dnsrec.OK || ip.PTR.Status != dnsrec.OK {
			t.Fatalf("pool %s: forward %s, ptr %s", ip.Address, ip.Forward.Status, ip.PTR.Status)
		}
	}

	received := e.sendAndReceive(t, "d1")
	want := info.Keys[0].Selector + "/rsa-sha256/shop1.test " + info.Keys[1].Selector + "/ed25519-sha256/shop1.test"
	vs := e.pyVerify(t, py, received)
	if selectorsOf(vs) != want || !allOK(vs) {
		t.Fatalf("as received: %+v, want %s both verified\n%s", vs, want, received)
	}
	rewritten := relaxedRewrite(t, received)
	if vs := e.pyVerify(t, py, rewritten); selectorsOf(vs) != want || !allOK(vs) {
		t.Fatalf("after relaxed rewrites: %+v\n%s", vs, rewritten)
	}
	tampered := bytes.Replace(rewritten, []byte("Thank you"), []byte("Thank yOu"), 1)
	tv := e.pyVerify(t, py, tampered)
	if selectorsOf(tv) != want {
		t.Fatalf("tampered: %+v", tv)
	}
	for _, v := range tv {
		if v.OK {
			t.Fatalf("a changed body still verifies: %+v", v)
		}
	}
	t.Logf("dkimpy on a changed body: %s: %s; %s: %s", tv[0].A, tv[0].Err, tv[1].A, tv[1].Err)

	// Another RSA key at the active RSA selector.
	other, err := dkim.Generate(domain.RSA, info.Keys[0].Selector, domain.Active, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rsaName := dkim.RecordName(info.Keys[0].Selector, "shop1.test")
	e.world.DNS.SetTXT(rsaName, dkim.RecordValue(other))
	if r, err = c.CheckDomain(ctx, "shop1.test"); err != nil || r.DKIM.Status != dnsrec.Wrong ||
		r.DKIM.Selectors[0].Status != dnsrec.Wrong || r.SPF.Status != dnsrec.OK {
		t.Fatalf("with another key published: %+v, %v", r.DKIM, err)
	}
	e.publish(info.Records)

	// The service's SPF record without the last pool IP.
	last := e.world.PoolIPs[len(e.world.PoolIPs)-1].Address
	var spf string
	for _, rec := range info.Records {
		if rec.Purpose == dnsrec.PurposeSPFService {
			spf = strings.Replace(rec.Value, " ip4:"+last, "", 1)
		}
	}
	e.world.DNS.SetTXT("_spf.relay.sendpool.test", spf)
	if r, err = c.CheckDomain(ctx, "shop1.test"); err != nil || r.SPF.Status != dnsrec.Wrong ||
		!strings.Contains(r.SPF.Detail, last) || r.DKIM.Status != dnsrec.OK {
		t.Fatalf("with %s left out of SPF (%q): %+v, %v", last, spf, r.SPF, err)
	}
	e.publish(info.Records)
	if r, err = c.CheckDomain(ctx, "shop1.test"); err != nil || !r.OK {
		t.Fatalf("restored: %+v, %v", r, err)
	}
}

// adminCLI runs `sendpool ARGS -api … -token …` against the env's server.
func (e *env) adminCLI(args ...string) (string, int) {
	args = append(args, "-api", "http://"+e.http, "-token", "e2e-token")
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), code
}

// TestDKIMRotation: after `domain rotate-dkim`, mail is still signed with
// the old selectors while the new records are unpublished (and `domain
// check` says so); once they are published, `domain check` switches
// signing to the new selectors, whose signatures dkimpy verifies.
func TestDKIMRotation(t *testing.T) {
	py := pyDKIM(t)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, dkimConfig)
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")

	out, code := e.adminCLI("domain", "add", "shop1.test", "-account", "shop1", "-json")
	if code != 0 {
		t.Fatalf("domain add: exit %d\n%s", code, out)
	}
	var info api.DomainInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	e.publish(info.Records)
	old := info.Keys[0].Selector + " " + info.Keys[1].Selector

	out, code = e.adminCLI("domain", "rotate-dkim", "shop1.test", "-json")
	if code != 0 {
		t.Fatalf("domain rotate-dkim: exit %d\n%s", code, out)
	}
	var rotated api.DomainInfo
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err)
	}
	if len(rotated.Keys) != 4 || rotated.Keys[2].State != domain.Pending || rotated.Keys[3].State != domain.Pending {
		t.Fatalf("keys after rotate: %+v", rotated.Keys)
	}
	neu := rotated.Keys[2].Selector + " " + rotated.Keys[3].Selector

	sels := func(vs []pyVerification) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.S)
		}
		return strings.Join(s, " ")
	}
	vs := e.pyVerify(t, py, e.sendAndReceive(t, "r1"))
	if sels(vs) != old || !allOK(vs) {
		t.Fatalf("before publishing the new records: %+v, want %s verified", vs, old)
	}
	out, code = e.adminCLI("domain", "check", "shop1.test")
	if code != 1 || !strings.Contains(strings.Join(strings.Fields(out), " "), "dkim "+rotated.Keys[2].Selector+" (pending) missing") {
		t.Fatalf("domain check before publishing: exit %d\n%s", code, out)
	}
	vs = e.pyVerify(t, py, e.sendAndReceive(t, "r2"))
	if sels(vs) != old || !allOK(vs) {
		t.Fatalf("after a check with the new records unpublished: %+v, want %s", vs, old)
	}

	e.publish(rotated.Records)
	out, code = e.adminCLI("domain", "check", "shop1.test")
	if code != 0 {
		t.Fatalf("domain check after publishing: exit %d\n%s", code, out)
	}
	vs = e.pyVerify(t, py, e.sendAndReceive(t, "r3"))
	if sels(vs) != neu || !allOK(vs) {
		t.Fatalf("after publishing the new records: %+v, want %s verified", vs, neu)
	}

	out, code = e.adminCLI("domain", "records", "shop1.test")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), info.Keys[0].Selector+" rsa retired") {
		t.Fatalf("domain records: exit %d\n%s", code, out)
	}
	out, code = e.adminCLI("domain", "records", "shop1.test", "-zone")
	if code != 0 || !strings.Contains(out, rotated.Keys[2].Selector+"._domainkey.shop1.test.\t3600\tIN\tTXT\t\"v=DKIM1; k=rsa; p=") {
		t.Fatalf("domain records -zone: exit %d\n%s", code, out)
	}
}

// TestDKIMSignedOnceAcrossRetries: the signature is made at acceptance and
// stored with the message: a delivery deferred once and retried seconds
// later carries a signature dated (t=) at acceptance, and it verifies.
func TestDKIMSignedOnceAcrossRetries(t *testing.T) {
	py := pyDKIM(t)
	e := newEnv(t, map[string]string{"gmail.test": "127.0.0.11"}, `retry = ["3s"]`+dkimConfig)
	e.world.Sink("gmail.test").SetRules(sandbox.Rule{Stage: sandbox.StageEOD, Attempt: 1, Reply: "451 4.3.0 Try again later"})
	e.serve()
	e.addAccount("shop1", "pw-shop1-secret", "shop1.test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := e.api().AddDomain(ctx, "shop1.test", "shop1")
	if err != nil {
		t.Fatal(err)
	}
	e.publish(info.Records)

	if err := submit(e.smtp, "shop1", "pw-shop1-secret", "sender@shop1.test", []string{"user@gmail.test"}, signedMessage("t1")); err != nil {
		t.Fatal(err)
	}
	accepted := time.Now() // submit returned: the message was accepted before now
	received := e.receive(t, "t1")
	arrived := e.world.Sink("gmail.test").Messages()[0].At
	if arrived.Sub(accepted) < 2*time.Second {
		t.Fatalf("delivered %v after acceptance: the first attempt was not deferred", arrived.Sub(accepted))
	}
	vs := e.pyVerify(t, py, received)
	if len(vs) != 2 || !allOK(vs) {
		t.Fatalf("after a retry: %+v", vs)
	}
	header, _, _ := strings.Cut(string(received), "\r\n\r\n")
	var sigs []string // the DKIM-Signature fields, unfolded
	inSig := false
	for _, line := range strings.Split(header, "\r\n") {
		folded := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case strings.HasPrefix(line, "DKIM-Signature:"):
			sigs, inSig = append(sigs, line), true
		case folded && inSig:
			sigs[len(sigs)-1] += line
		case !folded:
			inSig = false
		}
	}
	dated := 0
	for _, sig := range sigs {
		for _, tag := range strings.Split(sig, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(tag), "t="); ok {
				dated++
				ts, err := strconv.ParseInt(v, 10, 64)
				if err != nil || ts > accepted.Unix() {
					t.Fatalf("signature dated %s (%v), after acceptance at %d: signed again at the retry", v, err, accepted.Unix())
				}
			}
		}
	}
	if dated != 2 {
		t.Fatalf("%d signatures with t= among %q", dated, sigs)
	}
}
