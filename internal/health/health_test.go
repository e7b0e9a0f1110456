package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCheck: the answer names each failing part, in order; an error's
// text is logged, not shown (it may hold a URL with credentials), unless
// it is a Reason; a probe that hangs fails at the timeout.
func TestCheck(t *testing.T) {
	var logs bytes.Buffer
	release := make(chan struct{})
	defer close(release)
	c := New(Config{Timeout: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Probes: []Probe{
			{Name: "store", Failed: "write failed", Check: func(context.Context) error { return nil }},
			{Name: "state", Failed: "write failed", Check: func(context.Context) error {
				return errors.New("dial tcp redis://:hunter2@10.0.0.5:6379: connection refused")
			}},
			{Name: "disk", Check: func(context.Context) error { return Reason("12 MB free") }},
			{Name: "slow", Failed: "write failed", Check: func(ctx context.Context) error {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return ctx.Err()
			}},
		}})
	got := c.Check(context.Background())
	want := []string{"state: write failed", "disk: 12 MB free", "slow: no answer within 100ms"}
	if !slices.Equal(got, want) {
		t.Errorf("Check = %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "hunter2") || strings.Contains(strings.Join(got, ""), "hunter2") {
		t.Errorf("the detail belongs in the log only:\n%s", logs.String())
	}
}

// TestCheckShared: concurrent checks share one round of probes, and a
// round answers for CacheFor: a flood of /healthz is not a flood of
// writes.
func TestCheckShared(t *testing.T) {
	var calls atomic.Int32
	c := New(Config{Timeout: time.Second, CacheFor: time.Hour, Probes: []Probe{{Name: "store",
		Check: func(context.Context) error {
			calls.Add(1)
			time.Sleep(20 * time.Millisecond)
			return nil
		}}}})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := c.Check(context.Background()); len(got) != 0 {
				t.Errorf("Check = %q", got)
			}
		})
	}
	wg.Wait()
	c.Check(context.Background())
	if n := calls.Load(); n != 1 {
		t.Errorf("%d probe rounds for 51 checks within CacheFor, want 1", n)
	}
}

// TestLogsChanges: a part that starts failing is logged once, and again
// when it recovers.
func TestLogsChanges(t *testing.T) {
	var logs bytes.Buffer
	var fail atomic.Bool
	c := New(Config{Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Probes: []Probe{{Name: "state", Failed: "write failed", Check: func(context.Context) error {
			if fail.Load() {
				return errors.New("down")
			}
			return nil
		}}}})
	fail.Store(true)
	for range 3 {
		c.Check(context.Background())
	}
	fail.Store(false)
	c.Check(context.Background())
	if n := strings.Count(logs.String(), "state failing"); n != 1 {
		t.Errorf("%d failing lines for one outage, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "state healthy again") {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}
