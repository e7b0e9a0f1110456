package sqlite

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/queue/queuetest"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queue.Store { return openTest(t) })
}

// TestBodyStoredOnce looks inside: one copy of the body however many
// recipients, and none once every recipient has it.
func TestBodyStoredOnce(t *testing.T) {
	s := openTest(t)
	body := bytes.Repeat([]byte("x"), 10000)
	m := &queue.Message{Account: "acme", From: "a@acme.test", Body: body,
		Recipients: []string{"a@one.test", "b@one.test", "c@two.test"}}
	if err := s.Put(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var copies, stored int64
	err := s.r.QueryRow(`SELECT count(*), sum(length(body)) FROM messages`).Scan(&copies, &stored)
	if err != nil || copies != 1 || stored != int64(len(body)) {
		t.Fatalf("messages rows %d holding %d body bytes (%v), want 1 holding %d", copies, stored, err, len(body))
	}
	now := time.Now()
	ls, err := s.Lease(t.Context(), "n", now, time.Minute, 10)
	if err != nil || len(ls) != 3 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	for i := range ls {
		if err := s.Report(t.Context(), &ls[i], queue.Outcome{Status: queue.StatusDelivered,
			Attempt: queue.Attempt{Time: now, Response: "250 ok"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Body(t.Context(), m.ID); err != queue.ErrNotFound {
		t.Fatalf("Body of a delivered message: %v, want ErrNotFound (dropped)", err)
	}
	if d, err := s.GetMessage(t.Context(), m.ID); err != nil || d.Status != queue.StatusDelivered {
		t.Fatalf("GetMessage after body dropped: %v", err)
	}
}

// TestBouncedDropsBody: the DSN of a bounce is built before the bounce is
// recorded (queue.SchedulerConfig.OnBounce), so a final bounce keeps no body.
func TestBouncedDropsBody(t *testing.T) {
	s := openTest(t)
	m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"a@one.test"}}
	if err := s.Put(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(t.Context(), "n", time.Now(), time.Minute, 1)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	if err := s.Report(t.Context(), &ls[0], queue.Outcome{Status: queue.StatusBounced}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Body(t.Context(), m.ID); err != queue.ErrNotFound {
		t.Fatalf("Body of a bounced message = %q, %v; want ErrNotFound (dropped)", b, err)
	}
}

// TestLeaseUsesDueIndex guards the one query that must stay fast with a
// million deferred rows: it has to search the partial index, not scan.
func TestLeaseUsesDueIndex(t *testing.T) {
	s := openTest(t)
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN `+leaseQuery, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	for _, p := range plan {
		if bytes.Contains([]byte(p), []byte("USING INDEX deliveries_due (next_attempt<?)")) {
			return
		}
	}
	t.Fatalf("lease plan does not search deliveries_due by next_attempt: %q", plan)
}

// TestReopenKeepsSchema: a second Open of an existing file migrates nothing
// and sees the data.
func TestReopenKeepsSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{From: "a@acme.test", Body: []byte("hi"), Recipients: []string{"a@one.test"}}
	if err := s.Put(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("database file mode %v, want private (it holds password hashes)", fi.Mode())
	}
	var v int
	if err := s.r.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version = %d, %v; want %d", v, err, len(migrations))
	}
	if _, err := s.GetMessage(t.Context(), m.ID); err != nil {
		t.Fatalf("message after reopen: %v", err)
	}
}

// TestKeptBodies: with Options.BodyCache, delivery opens the body Put or
// PutWithEvents was given (queuetest.KeptBodies), not one read back.
func TestKeptBodies(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{BodyCache: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	queuetest.KeptBodies(t, s)

	m := &queue.Message{Account: "acme", From: "a@acme.test", Body: []byte("Subject: hi\r\n\r\nhi\r\n"),
		Recipients: []string{"r@one.test"}}
	if err := s.PutWithEvents(t.Context(), m, nil); err != nil {
		t.Fatal(err)
	}
	if sb, err := s.OpenBody(t.Context(), m.ID); err != nil || &sb.Bytes[0] != &m.Body[0] {
		t.Fatalf("OpenBody after PutWithEvents: %v, not the body kept", err)
	}
}
