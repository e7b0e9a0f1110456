package queuetest

import (
	"reflect"
	"testing"
	"time"

	"sendpool/internal/queue"
)

// sampleIntake is an intake record with every field set.
func sampleIntake() *queue.Intake {
	return &queue.Intake{
		Protocol: queue.ProtocolSMTP, With: "ESMTPSA", ClientIP: "192.0.2.7", Account: "acme",
		Auth: queue.AuthPassword, TLS: true, Score: 3.75, Direction: queue.DirectionInbound,
		Rules: []queue.IntakeRule{
			{Scanner: "heuristics", Rule: "SHOUTING_SUBJECT", Score: 1.5, Detail: "subject in capitals"},
			{Scanner: "rspamd", Rule: "MISSING_MID", Score: 2.25},
		},
		Scanners: []queue.ScanVerdict{
			{Scanner: "heuristics", Result: queue.ScanClean, Score: 1.5},
			{Scanner: "clamd", Result: queue.ScanClean},
			{Scanner: "rspamd", Result: queue.ScanUnavailable, Detail: "rspamd: connection refused"},
		},
		DKIM: []queue.DKIMSignature{
			{Domain: "acme.test", Selector: "sp2026a", Algorithm: "rsa-sha256"},
			{Domain: "acme.test", Selector: "sp2026e", Algorithm: "ed25519-sha256"},
		},
		HeaderMessageID: "20261207.abc@mail.acme.test",
	}
}

// testIntakeRoundTrip: the intake record Put stores comes back whole from
// GetMessage, still once the message is final; a message without one (a
// DSN) has none. A lease carries the record's Message-ID field.
func testIntakeRoundTrip(t *testing.T, s queue.Store) {
	now := time.Now()
	m := newMessage(now)
	m.Intake = sampleIntake()
	put(t, s, m)
	plain := put(t, s, newMessage(now.Add(time.Millisecond)))

	if got := get(t, s, m.ID).Intake; !reflect.DeepEqual(got, sampleIntake()) {
		t.Fatalf("Intake = %+v, want %+v", got, sampleIntake())
	}
	if got := get(t, s, plain.ID).Intake; got != nil {
		t.Errorf("message put without intake: Intake = %+v, want nil", got)
	}

	ls := lease(t, s, ownerA, time.Now(), time.Minute, 10)
	if len(ls) != 2 {
		t.Fatalf("leased %d, want 2", len(ls))
	}
	for _, l := range ls {
		want := ""
		if l.MessageID == m.ID {
			want = sampleIntake().HeaderMessageID
		}
		if l.HeaderID != want {
			t.Errorf("lease of %s: HeaderID %q, want %q", l.MessageID, l.HeaderID, want)
		}
	}
	for _, l := range ls {
		report(t, s, &l, queue.Outcome{Status: queue.StatusDelivered,
			Attempt: queue.Attempt{Time: time.Now(), SourceIP: "127.0.0.2", MX: "mx.one.test", Response: "250 ok"}})
	}
	d := get(t, s, m.ID)
	if d.Status != queue.StatusDelivered || !reflect.DeepEqual(d.Intake, sampleIntake()) {
		t.Errorf("once delivered: status %q, Intake %+v", d.Status, d.Intake)
	}
}
