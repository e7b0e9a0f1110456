package classify

import (
	"slices"
	"testing"

	"sendpool/internal/queue"
)

// FuzzClassify feeds arbitrary stages, MX hosts and replies: Classify must
// not panic and must always give one of the four verdicts, a known category
// (none only for delivered) and a scope only with blocked-ip. The corpus is
// in testdata/fuzz/FuzzClassify.
func FuzzClassify(f *testing.F) {
	f.Add("rcpt", "mx.example.org", "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org")
	f.Add("connect", "", "dial tcp 127.0.0.3:25: connect: connection refused")
	c, err := New(nil)
	if err != nil {
		f.Fatal(err)
	}
	verdicts := []queue.Verdict{queue.VerdictDelivered, queue.VerdictDeferred, queue.VerdictBlockedIP, queue.VerdictPermanent}
	f.Fuzz(func(t *testing.T, stage, mx, reply string) {
		got := c.Classify(stage, mx, reply)
		if !slices.Contains(verdicts, got.Verdict) {
			t.Fatalf("verdict %q for %q", got.Verdict, reply)
		}
		if got.Rule == "" {
			t.Fatalf("no rule named for %q", reply)
		}
		if got.Verdict == queue.VerdictDelivered {
			if got.Category != "" || got.Scope != "" {
				t.Fatalf("delivered with category %q scope %q", got.Category, got.Scope)
			}
			return
		}
		if !slices.Contains(Categories(), got.Category) {
			t.Fatalf("category %q for %q", got.Category, reply)
		}
		if got.Verdict != queue.VerdictBlockedIP && got.Scope != "" {
			t.Fatalf("scope %q with verdict %s", got.Scope, got.Verdict)
		}
		if got.Verdict == queue.VerdictBlockedIP && c.Provider(mx) != "" && got.Scope == "" {
			t.Fatalf("blocked-ip without scope for mx %q: %q", mx, reply)
		}
		Greylisting(reply)
	})
}
