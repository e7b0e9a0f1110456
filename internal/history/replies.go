package history

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"sendpool/internal/state"
)

// Reply is a receiver's answer to a delivery attempt from one of the
// pool's IPs: what the IP pool page shows as its recent replies (SPEC §6).
type Reply struct {
	Time     time.Time `json:"time"`
	SourceIP string    `json:"source_ip"`
	MX       string    `json:"mx"`
	MXAddr   string    `json:"mx_addr"`
	Domain   string    `json:"domain"` // the recipients' domain
	Response string    `json:"response"`
	Verdict  string    `json:"verdict"`
	Category string    `json:"category"`
	// Rcpts is how many recipients got this reply in this attempt.
	Rcpts int `json:"rcpts,omitempty"`
}

// Per IP, the last ReplyKeep replies are kept, for ReplyTTL after the last.
const (
	ReplyKeep = 50
	ReplyTTL  = 7 * 24 * time.Hour
)

// ReplyKey is the state list of ip's replies.
func ReplyKey(ip string) string { return "replies:" + ip }

// Replies records the replies to the pool's IPs and reads them back.
type Replies struct {
	st  state.State
	rec *Recorder
}

// NewReplies returns Replies writing through rec and reading st (the
// State rec writes to).
func NewReplies(st state.State, rec *Recorder) *Replies {
	return &Replies{st: st, rec: rec}
}

// Add records x under its source IP; it never waits (a full buffer drops
// it). A reply without a source IP (no connection was made) is not kept.
func (r *Replies) Add(x Reply) {
	if x.SourceIP == "" {
		return
	}
	b, err := json.Marshal(x)
	if err != nil {
		return // cannot happen: plain fields
	}
	r.rec.Add(b, List{Key: ReplyKey(x.SourceIP), Keep: ReplyKeep, TTL: ReplyTTL})
}

// Recent returns up to n (at most ReplyKeep) of ip's replies, newest
// first, every node's included; this node's are written first.
func (r *Replies) Recent(ctx context.Context, ip string, n int) ([]Reply, error) {
	if n <= 0 || n > ReplyKeep {
		n = ReplyKeep
	}
	if err := r.rec.Sync(ctx); err != nil {
		return nil, err
	}
	raw, err := r.st.Recent(ctx, ReplyKey(ip), n)
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", ip, err)
	}
	out := make([]Reply, 0, len(raw))
	for _, b := range raw {
		var x Reply
		if json.Unmarshal(b, &x) == nil {
			out = append(out, x)
		}
	}
	// Each node's batches land whole: by time, the nodes' replies interleave.
	slices.SortStableFunc(out, func(a, b Reply) int { return b.Time.Compare(a.Time) })
	return out, nil
}
