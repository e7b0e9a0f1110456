package deliver

import (
	"strings"
	"testing"

	"sendpool/internal/history"
	"sendpool/internal/queue"
	"sendpool/internal/sandbox"
	"sendpool/internal/state/memory"
)

// TestDeliverRecordsReplies: every reply to an attempt is kept under its
// source IP, once however many recipients share it, with the MX, the
// recipients' domain, the verdict and the category.
func TestDeliverRecordsReplies(t *testing.T) {
	w := newWorld(t)
	s := w.sink("mx.gmail.test", "127.0.0.101", sandbox.SinkConfig{})
	w.mx("gmail.test", "mx.gmail.test")
	const block = "550 5.7.1 Client host blocked using zen.spamhaus.test"
	s.SetRules(sandbox.Rule{SourceIP: "127.0.0.3", Stage: sandbox.StageRcpt, Reply: block})
	st := memory.New(nil)
	rec := history.New(history.Config{State: st})
	defer rec.Close()
	replies := history.NewReplies(st, rec)
	c := w.courier(func(c *Config) { c.Classifier = blockClassifier{}; c.Replies = replies })

	blocked := w.message("m1", "x\r\n", "a@gmail.test", "b@gmail.test")
	for _, l := range blocked {
		l.TriedIPs = []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"} // so .3 is picked
	}
	wantVerdict(t, deliver(t, c, blocked), queue.VerdictBlockedIP, queue.VerdictBlockedIP)
	ok := w.message("m2", "y\r\n", "c@gmail.test")
	ok[0].TriedIPs = []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"} // so .2 is picked
	wantVerdict(t, deliver(t, c, ok), queue.VerdictDelivered)

	got, err := replies.Recent(t.Context(), "127.0.0.3", 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("replies of 127.0.0.3: %+v, %v; want the one block", got, err)
	}
	r := got[0]
	if r.SourceIP != "127.0.0.3" || r.MX != "mx.gmail.test" || !strings.HasPrefix(r.MXAddr, "127.0.0.101") ||
		r.Domain != "gmail.test" || !strings.Contains(r.Response, "spamhaus") || r.Verdict != string(queue.VerdictBlockedIP) ||
		r.Category != "blacklist" || r.Rcpts != 2 || r.Time.IsZero() {
		t.Fatalf("block reply: %+v", r)
	}
	got, err = replies.Recent(t.Context(), "127.0.0.2", 10)
	if err != nil || len(got) != 1 || got[0].Verdict != string(queue.VerdictDelivered) || got[0].Rcpts != 1 {
		t.Fatalf("replies of 127.0.0.2: %+v, %v; want one delivery", got, err)
	}
}
