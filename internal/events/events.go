// Package events keeps the recent intake decisions (accepted and refused
// messages, with the scan rules that fired) and account events (held
// automatically, released), for the API (GET /api/v1/events) and the
// control panel. They live in the shared state's bounded lists, so every
// node lists every node's events: a global list, and one per account so
// that an account's events stay cheap to find. Adding never waits on the
// state (a history.Recorder writes in the background); the log (log/slog)
// is the permanent record.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"sendpool/internal/history"
	"sendpool/internal/intake"
	"sendpool/internal/state"
)

// Kinds of events.
const (
	KindAccepted = "accepted" // a message was queued
	KindRefused  = "refused"  // a message was refused by a check
	KindHeld     = "held"     // an account was held automatically
	KindReleased = "released" // an admin released an account
)

// Event is one entry.
type Event struct {
	Time     time.Time        `json:"time"`
	Kind     string           `json:"kind"`
	Account  string           `json:"account,omitempty"`
	ID       string           `json:"id,omitempty"` // the message, when accepted
	From     string           `json:"from,omitempty"`
	Rcpts    int              `json:"rcpts,omitempty"`
	Protocol string           `json:"protocol,omitempty"`
	ClientIP string           `json:"client_ip,omitempty"`
	Reply    string           `json:"reply,omitempty"` // the refusal, e.g. "550 5.7.1 Message refused as spam"
	Check    string           `json:"check,omitempty"` // which check refused
	Reason   string           `json:"reason,omitempty"`
	Score    float64          `json:"score,omitempty"`
	Rules    []intake.Finding `json:"rules,omitempty"`
}

// Filter selects events; zero fields match any.
type Filter struct {
	Account string
	Kind    string
	ID      string
	Limit   int // 0: 100
}

// State list keys.
const (
	globalKey  = "events"
	accountKey = "events:acct:"
)

// Config is what a Log needs. Zero values take the defaults noted.
type Config struct {
	State state.State
	// Recorder writes the events to State; nil: the Log starts its own,
	// which its Close stops.
	Recorder *history.Recorder
	// Keep is how many events the global list keeps (0: 5000), and
	// KeepPerAccount each account's (0: 500).
	Keep           int
	KeepPerAccount int
	// TTL is how long a list lives after its last event; 0: 7 days.
	TTL time.Duration
}

// Log is the recent events of every node. Safe for concurrent use.
type Log struct {
	cfg Config
	own bool // cfg.Recorder is ours to close
}

// New returns a Log over cfg.State.
func New(cfg Config) *Log {
	l := &Log{cfg: cfg}
	if l.cfg.Recorder == nil {
		l.cfg.Recorder = history.New(history.Config{State: cfg.State})
		l.own = true
	}
	if l.cfg.Keep <= 0 {
		l.cfg.Keep = 5000
	}
	if l.cfg.KeepPerAccount <= 0 {
		l.cfg.KeepPerAccount = 500
	}
	if l.cfg.TTL <= 0 {
		l.cfg.TTL = 7 * 24 * time.Hour
	}
	return l
}

// Close stops the Log's own Recorder, writing what it holds; a Recorder
// given in Config is the caller's to close.
func (l *Log) Close() error {
	if l.own {
		return l.cfg.Recorder.Close()
	}
	return nil
}

// Add records e; it never waits (when the recorder's buffer is full, e is
// dropped and counted there).
func (l *Log) Add(e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		return // cannot happen: plain fields
	}
	to := []history.List{{Key: globalKey, Keep: l.cfg.Keep, TTL: l.cfg.TTL}}
	if e.Account != "" {
		to = append(to, history.List{Key: accountKey + e.Account, Keep: l.cfg.KeepPerAccount, TTL: l.cfg.TTL})
	}
	l.cfg.Recorder.Add(b, to...)
}

// List returns the events f selects, newest first, every node's included.
// This node's events added before the call are in it. With an account it
// reads that account's list; otherwise the global one, whole when a kind
// or ID must be matched.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if err := l.cfg.Recorder.Sync(ctx); err != nil {
		return nil, err
	}
	key, n := globalKey, l.cfg.Keep
	if f.Account != "" {
		key, n = accountKey+f.Account, l.cfg.KeepPerAccount
	}
	filtered := f.Kind != "" || f.ID != ""
	if !filtered {
		n = min(n, f.Limit)
	}
	raw, err := l.cfg.State.Recent(ctx, key, n)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	out := []Event{}
	for _, b := range raw {
		var e Event
		if json.Unmarshal(b, &e) != nil {
			continue
		}
		if (f.Account == "" || e.Account == f.Account) && (f.Kind == "" || e.Kind == f.Kind) && (f.ID == "" || e.ID == f.ID) {
			out = append(out, e)
		}
	}
	// Each node's batches land whole: by time, the nodes' events interleave.
	slices.SortStableFunc(out, func(a, b Event) int { return b.Time.Compare(a.Time) })
	return out[:min(len(out), f.Limit)], nil
}

// Observe is an intake observer (intake.Config.Observers): it records each
// decision with its rules and score.
func (l *Log) Observe(_ context.Context, d intake.Decision) {
	e := Event{Time: d.Time, Kind: KindAccepted, Account: d.Account, ID: d.ID, From: d.From, Rcpts: d.Rcpts,
		Protocol: d.Protocol, Rules: d.Findings}
	if d.ClientIP.IsValid() {
		e.ClientIP = d.ClientIP.String()
	}
	for _, f := range d.Findings {
		e.Score += f.Score
	}
	if d.Err != nil {
		e.Kind, e.Check = KindRefused, d.Err.Check
		e.Reply = fmt.Sprintf("%d %s %s", d.Err.Code, d.Err.Enhanced, d.Err.Text)
		e.Reason = d.Err.Detail
	}
	l.Add(e)
}
