package intake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sendpool/internal/queue"
)

// TestAcceptSignsAfterChecksBeforePut: the Sign hook runs once, after every
// check, and what it returns is what is queued; a failing Sign is a 451 and
// nothing is queued.
func TestAcceptSignsAfterChecksBeforePut(t *testing.T) {
	var order []string
	check := checkFunc{"scan", func(s *Submission) error {
		order = append(order, "check")
		if strings.HasPrefix(string(s.Body), "DKIM-Signature") {
			t.Error("the check saw a signed message")
		}
		return nil
	}}
	f := newFixture(t, check)
	f.svc.cfg.Sign = func(_ context.Context, s *Submission) ([]byte, []queue.DKIMSignature, error) {
		order = append(order, "sign:"+s.Account.Name)
		return append([]byte("DKIM-Signature: v=1; d=acme.test\r\n"), s.Body...), nil, nil
	}
	if _, err := f.svc.Accept(context.Background(), submission(f)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "check,sign:acme" {
		t.Fatalf("ran %v, want check then sign", order)
	}
	m := f.queue.messages()[0]
	if !strings.HasPrefix(string(m.Body), "DKIM-Signature: v=1; d=acme.test\r\nReceived: ") || !strings.HasSuffix(string(m.Body), body) {
		t.Fatalf("queued body %q, want the signed one", m.Body)
	}

	f = newFixture(t)
	f.svc.cfg.Sign = func(context.Context, *Submission) ([]byte, []queue.DKIMSignature, error) {
		return nil, nil, errors.New("store down")
	}
	_, err := f.svc.Accept(context.Background(), submission(f))
	if e := wantCode(t, err, 451, "4.3.0"); e.Check != "sign" || len(f.queue.messages()) != 0 {
		t.Fatalf("failing Sign: %+v, %d queued", e, len(f.queue.messages()))
	}
}
