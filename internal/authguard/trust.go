package authguard

import (
	"context"
	"net/netip"
	"time"

	"sendpool/internal/state"
)

// trustedPerAccount bounds the IPs remembered per account, keeping the
// most recent: an attacker who has the password and logs in from many IPs
// must not grow the state without limit. A customer's hosting servers are
// a handful; 64 leaves room for roaming clients too.
const trustedPerAccount = 64

// Succeed records that client logged in to account user: for TrustedFor
// it is exempt from that account's lock (not from its own IP limit), so a
// botnet guessing the account's password does not lock its customer out,
// even when the account lists no networks. Call it only after the
// password (or other secret) was right, never for a mere attempt: trust
// must be earned. user "" (a token) records nothing. Like Fail, it is kept
// on this node too, and never fails.
func (g *Guard) Succeed(ctx context.Context, client netip.Addr, user string) {
	if g == nil || user == "" || g.cfg.TrustedFor <= 0 || g.cfg.MaxAccountFailures <= 0 || g.exempt(client) {
		return
	}
	now := g.cfg.Now()
	key, member := trustKey(user), clientNet(client)
	seen := func(st state.State) error {
		return st.Seen(ctx, key, member, now, trustedPerAccount, g.cfg.TrustedFor)
	}
	g.shared(ctx, seen)
	seen(g.local)
}

// trusted reports whether client may authenticate as user although the
// account is locked: it is inside the account's networks, or it logged in
// to the account within TrustedFor (on any node, or on this one while the
// shared state fails).
func (g *Guard) trusted(ctx context.Context, user string, client netip.Addr, now time.Time) bool {
	if g.inNetworks(ctx, user, client) {
		return true
	}
	if g.cfg.TrustedFor <= 0 {
		return false
	}
	key, member := trustKey(user), clientNet(client)
	fresh := false
	lastSeen := func(st state.State) error {
		at, ok, err := st.LastSeen(ctx, key, member)
		fresh = fresh || ok && now.Sub(at) < g.cfg.TrustedFor
		return err
	}
	if lastSeen(g.local); fresh {
		return true
	}
	g.shared(ctx, lastSeen)
	return fresh
}

// trustKey is the state key of the IPs that logged in to an account.
func trustKey(user string) string { return "authok:acct:" + shortName(user) }
