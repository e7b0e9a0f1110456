package scan

import (
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/scan/scantest"
)

// TestCheckScannerVerdicts: each scanner's answer lands on the submission
// for the message's intake record, in the scanners' order: the heuristics
// with their score, the real clamd's "clean", and a scanner that could
// not answer (scan.fail = accept) with its error.
func TestCheckScannerVerdicts(t *testing.T) {
	clamd := &Clamd{Addr: scantest.Service(t, "SENDPOOL_TEST_CLAMD")}
	c := NewCheck(CheckConfig{Scanners: []Scanner{Heuristics{}, clamd, failing{}}, RejectScore: 6,
		Fail: FailAccept, Timeout: 10 * time.Second})
	sub := submission(scantest.Message("s@shop.test", "r@x.test", "YOUR ORDER HAS SHIPPED", "On its way."))
	if err := c.Check(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	want := []queue.ScanVerdict{
		{Scanner: "heuristics", Result: queue.ScanClean, Score: 1.5},
		{Scanner: "clamd", Result: queue.ScanClean},
		{Scanner: "broken", Result: queue.ScanUnavailable, Detail: "connection refused"},
	}
	if len(sub.Scans) != len(want) {
		t.Fatalf("scans: %+v, want %+v", sub.Scans, want)
	}
	for i := range want {
		if sub.Scans[i] != want[i] {
			t.Errorf("scan %d: %+v, want %+v", i, sub.Scans[i], want[i])
		}
	}

	// A refused message's verdicts say why (the observers and the log
	// see them; nothing is queued).
	sub = submission(scantest.Message("s@shop.test", "r@x.test", "t", string(scantest.EICAR())))
	if c.Check(t.Context(), sub) == nil {
		t.Fatal("EICAR accepted")
	}
	if sub.Scans[1].Result != queue.ScanVirus || sub.Scans[1].Detail == "" || sub.Scans[0].Result != queue.ScanVirus {
		t.Errorf("EICAR: %+v", sub.Scans)
	}
}
