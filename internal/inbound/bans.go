package inbound

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"sendpool/internal/state"
)

// Ban keeps a client out of the MX for a while, on every node: the
// shared state holds it, and each connection looks it up before the
// banner.
type Ban struct {
	IP     string    `json:"ip"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
}

// Keys of the bans in the shared state: one cache entry per IP (the
// lookup of each connection), and a list of recent bans for listing.
const (
	banKey      = "inbound:ban:"
	bansListKey = "inbound:bans"
	bansListMax = 1000
)

// Bans reads and writes the bans in a shared state.
type Bans struct {
	State state.State
	Now   func() time.Time
}

// Ban bans ip for d with reason.
func (b *Bans) Ban(ctx context.Context, ip, reason string, d time.Duration) error {
	now := b.Now()
	v, err := json.Marshal(Ban{IP: ip, Reason: reason, Since: now, Until: now.Add(d)})
	if err != nil {
		return err
	}
	if err := b.State.Set(ctx, banKey+ip, v, d); err != nil {
		return err
	}
	return b.State.Record(ctx, bansListKey, bansListMax, d, v)
}

// Get returns ip's ban in force, nil if none.
func (b *Bans) Get(ctx context.Context, ip netip.Addr) (*Ban, error) {
	return b.get(ctx, ip.String())
}

func (b *Bans) get(ctx context.Context, ip string) (*Ban, error) {
	v, ok, err := b.State.Get(ctx, banKey+ip)
	if err != nil || !ok {
		return nil, err
	}
	var ban Ban
	if err := json.Unmarshal(v, &ban); err != nil {
		return nil, nil // not ours to judge: no ban
	}
	if !b.Now().Before(ban.Until) {
		return nil, nil // lifted (Unban) or just over
	}
	return &ban, nil
}

// List returns the bans in force, newest first.
func (b *Bans) List(ctx context.Context) ([]Ban, error) {
	raw, err := b.State.Recent(ctx, bansListKey, bansListMax)
	if err != nil {
		return nil, err
	}
	out := []Ban{}
	seen := map[string]bool{}
	for _, r := range raw {
		var x Ban
		if json.Unmarshal(r, &x) != nil || seen[x.IP] {
			continue
		}
		seen[x.IP] = true
		cur, err := b.get(ctx, x.IP)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	return out, nil
}

// Unban lifts ip's ban; false if it had none. The state has no delete:
// the entry is replaced by one that ended now, which lasts as long as the
// ban would have.
func (b *Bans) Unban(ctx context.Context, ip string) (bool, error) {
	cur, err := b.get(ctx, ip)
	if err != nil || cur == nil {
		return false, err
	}
	now := b.Now()
	left := cur.Until.Sub(now)
	cur.Until = now
	v, err := json.Marshal(cur)
	if err != nil {
		return false, err
	}
	return true, b.State.Set(ctx, banKey+ip, v, left)
}
