package intake

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sendpool/internal/account"
	"sendpool/internal/dkim"
)

// txtRecords is a dkim.TXTResolver over a map; a name listed in fail
// answers a temporary DNS error.
type txtRecords struct {
	txt  map[string]string
	fail map[string]bool
}

var errTempDNS = &tempDNSError{}

type tempDNSError struct{}

func (*tempDNSError) Error() string   { return "dns: server failure" }
func (*tempDNSError) Temporary() bool { return true }
func (*tempDNSError) Timeout() bool   { return true }

func (r txtRecords) LookupTXT(_ context.Context, name string) ([]string, error) {
	if r.fail[name] {
		return nil, errTempDNS
	}
	if v, ok := r.txt[name]; ok {
		return []string{v}, nil
	}
	return nil, errors.New("no such host")
}

// verifier is the VerifyFunc sendpool wires (cmd/sendpool), over r.
func verifier(r dkim.TXTResolver) VerifyFunc {
	return func(ctx context.Context, msg []byte) ([]DKIMResult, error) {
		vs, err := dkim.Verify(ctx, r, msg)
		out := make([]DKIMResult, len(vs))
		for i, v := range vs {
			out[i] = DKIMResult{Domain: v.Domain, Pass: v.Result == dkim.Pass, Temporary: v.Result == dkim.TempError}
		}
		return out, err
	}
}

// foreignSigner is gmail.test's DKIM key, published in recs.
type foreignSigner struct {
	key  ed25519.PrivateKey
	recs txtRecords
}

func newForeignSigner(t *testing.T) *foreignSigner {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &foreignSigner{key: key, recs: txtRecords{
		txt:  map[string]string{"k1._domainkey.gmail.test": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		fail: map[string]bool{},
	}}
}

// sign signs msg as d= domain (it must be gmail.test or a subdomain for the
// key to be found).
func (f *foreignSigner) sign(t *testing.T, d, msg string) string {
	t.Helper()
	out, err := dkim.Sign([]byte(msg), d, []dkim.SigningKey{{Selector: "k1", Signer: f.key}})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func msgWith(header string) string {
	return header + "To: b@yahoo.test\r\nSubject: hi\r\nMessage-ID: <1@x.test>\r\n\r\nHello.\r\n"
}

// TestFromRule: exactly one From:, whose domain is the account's (or a
// subdomain), or in its foreign_from, or vouched for by a DKIM signature
// that verifies here and aligns (relaxed) with it; otherwise 550 5.7.1
// saying which rule, whatever the envelope sender (the null one too).
func TestFromRule(t *testing.T) {
	fs := newForeignSigner(t)
	forward := fs.sign(t, "gmail.test", msgWith("From: Someone <someone@gmail.test>\r\n"))
	fs.recs.txt["k1._domainkey.mail.gmail.test"] = fs.recs.txt["k1._domainkey.gmail.test"]
	subSigned := fs.sign(t, "mail.gmail.test", msgWith("From: someone@gmail.test\r\n"))
	for _, c := range []struct {
		name, from, msg string
		foreignFrom     []string
		code            int
		enhanced, text  string
	}{
		{"own domain", "a@acme.test", msgWith("From: Acme <a@acme.test>\r\n"), nil, 250, "", ""},
		{"own subdomain", "a@acme.test", msgWith("From: news@mail.acme.test\r\n"), nil, 250, "", ""},
		{"own domain, upper case, folded", "a@acme.test", msgWith("From: \"Acme Shop\"\r\n <A@ACME.TEST>\r\n"), nil, 250, "", ""},
		{"another account's domain", "a@acme.test", msgWith("From: ceo@other.test\r\n"), nil, 550, "5.7.1", "From: domain other.test is not one of this account's domains"},
		{"a bank's domain", "a@acme.test", msgWith("From: PayPal <service@paypal.com>\r\n"), nil, 550, "5.7.1", "From: domain paypal.com"},
		{"null sender, foreign From", "", msgWith("From: service@paypal.com\r\n"), nil, 550, "5.7.1", "From: domain paypal.com"},
		{"null sender, own From", "", msgWith("From: MAILER-DAEMON@acme.test\r\n"), nil, 250, "", ""},
		{"two From: fields, own first", "a@acme.test", msgWith("From: a@acme.test\r\nFrom: ceo@other.test\r\n"), nil, 550, "5.7.1", "2 From: header fields"},
		{"two own From: fields", "a@acme.test", msgWith("From: a@acme.test\r\nFROM: b@acme.test\r\n"), nil, 550, "5.7.1", "exactly one is allowed"},
		{"no From:", "a@acme.test", msgWith(""), nil, 550, "5.7.1", "no From: header field"},
		{"a mailbox list with one foreign", "a@acme.test", msgWith("From: a@acme.test, ceo@other.test\r\n"), nil, 550, "5.7.1", "other.test"},
		{"unparsable From:", "a@acme.test", msgWith("From: <<<>>>\r\n"), nil, 550, "5.7.1", "does not parse"},
		{"foreign_from", "a@acme.test", msgWith("From: orders@market.test\r\n"), []string{"market.test"}, 250, "", ""},
		{"foreign_from subdomain", "a@acme.test", msgWith("From: orders@eu.market.test\r\n"), []string{"market.test"}, 250, "", ""},
		{"foreign_from is no parent", "a@acme.test", msgWith("From: x@test.market.test.evil\r\n"), []string{"market.test"}, 550, "5.7.1", "test.market.test.evil"},
		{"authentic forward", "fwd@acme.test", forward, nil, 250, "", ""},
		{"authentic forward, d= a subdomain (relaxed)", "fwd@acme.test", subSigned, nil, 250, "", ""},
		{"forward with a body byte changed", "fwd@acme.test", strings.Replace(forward, "Hello.", "Hellp.", 1), nil, 550, "5.7.1", "no valid DKIM signature of gmail.test"},
		{"forward with From: changed after signing", "fwd@acme.test",
			strings.Replace(forward, "someone@gmail.test", "someone@paypal.com", 1), nil, 550, "5.7.1", "paypal.com"},
		{"signature of another domain", "a@acme.test",
			fs.sign(t, "gmail.test", msgWith("From: service@paypal.com\r\n")), nil, 550, "5.7.1", "paypal.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			a, _ := f.accounts.GetAccount(context.Background(), "acme")
			a.ForeignFrom = c.foreignFrom
			f.accounts.set(*a)
			f.svc.cfg.VerifyDKIM = verifier(fs.recs)
			s := submission(f)
			s.From, s.Body = c.from, []byte(c.msg)
			_, err := f.svc.Accept(context.Background(), s)
			if c.code == 250 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := wantCode(t, err, c.code, c.enhanced)
			if !strings.Contains(e.Text, c.text) || e.Check != "from" {
				t.Errorf("reply %q (check %s), want one saying %q", e.Text, e.Check, c.text)
			}
			if n := len(f.queue.messages()); n != 0 {
				t.Errorf("%d messages queued", n)
			}
		})
	}
}

// TestFromRuleDKIMKeyUnavailable: when a forward's key cannot be fetched
// now, the client is asked to retry (451 4.7.1) rather than the forward
// being refused for good.
func TestFromRuleDKIMKeyUnavailable(t *testing.T) {
	fs := newForeignSigner(t)
	forward := fs.sign(t, "gmail.test", msgWith("From: someone@gmail.test\r\n"))
	fs.recs.fail["k1._domainkey.gmail.test"] = true
	f := newFixture(t)
	f.svc.cfg.VerifyDKIM = verifier(fs.recs)
	s := submission(f)
	s.Body = []byte(forward)
	_, err := f.svc.Accept(context.Background(), s)
	if e := wantCode(t, err, 451, "4.7.1"); !strings.Contains(e.Text, "could not be checked now") {
		t.Errorf("reply %q", e.Text)
	}
}

// TestFromRuleWithoutVerifier: with no verifier wired, a foreign From: is
// refused (nothing can vouch for it).
func TestFromRuleWithoutVerifier(t *testing.T) {
	fs := newForeignSigner(t)
	f := newFixture(t)
	s := submission(f)
	s.Body = []byte(fs.sign(t, "gmail.test", msgWith("From: someone@gmail.test\r\n")))
	_, err := f.svc.Accept(context.Background(), s)
	wantCode(t, err, 550, "5.7.1")
}

// TestLoopDetected: more than 50 Received: fields (ours included) is a
// loop, 554 5.4.6; 50 pass.
func TestLoopDetected(t *testing.T) {
	for _, n := range []int{50, 51, 150} {
		f := newFixture(t)
		s := submission(f)
		s.Body = []byte(strings.Repeat("Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000\r\n", n) +
			msgWith("From: a@acme.test\r\n"))
		_, err := f.svc.Accept(context.Background(), s)
		if n <= 50 {
			if err != nil {
				t.Errorf("%d Received: %v", n, err)
			}
			continue
		}
		if e := wantCode(t, err, 554, "5.4.6"); !strings.Contains(e.Text, "loop") {
			t.Errorf("%d Received: reply %q", n, e.Text)
		}
	}
}

// TestReadHeaderStopsAtBody: fields in the body are not the header's.
func TestReadHeaderStopsAtBody(t *testing.T) {
	h := readHeader([]byte("From: a@acme.test\r\nReceived: x\r\n\r\nFrom: b@other.test\r\nReceived: y\r\n"))
	if len(h.from) != 1 || h.received != 1 {
		t.Errorf("readHeader = %+v", h)
	}
	h = readHeader([]byte("From: a@acme.test\n\tcontinued\nReceived: x\n"))
	if got := fmt.Sprint(h.from); got != "[ a@acme.test\tcontinued]" || h.received != 1 {
		t.Errorf("bare LF header: %q, %d", got, h.received)
	}
}

// FuzzCheckHeader: any header section is answered without a panic.
func FuzzCheckHeader(f *testing.F) {
	f.Add([]byte("From: a@acme.test\r\n\r\nx"))
	f.Add([]byte("From: =?x-unknown?q?A?= <a@acme.test>, \"b\" <b@x.test>\r\nReceived: x\r\n\r\n"))
	f.Add([]byte("From:\r\n\t\r\n"))
	a := &account.Account{Name: "acme", Domains: []string{"acme.test"}}
	s := New(Config{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := s.CheckHeader(context.Background(), a, msg)
		if err != nil {
			if e := AsError(err); e.Code < 400 {
				t.Fatalf("refusal with code %d", e.Code)
			}
		}
	})
}
