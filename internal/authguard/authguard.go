// Package authguard throttles password guessing against every way in:
// SMTP AUTH, the HTTP /send Basic credentials, the API's bearer token and
// the control panel's login. Failures are counted in the shared state
// (state.State's exact sliding windows), so every node sees every other
// node's failures.
//
// Two rules, checked before a password is:
//
//   - per client IP (an IPv6 client by its /64, what one host usually
//     holds): after MaxFailures failures within Window, every further
//     attempt from it is refused, without checking the password, until
//     enough of those failures age out of the window;
//   - per account name: after MaxAccountFailures failures within Window,
//     from any mix of IPs (a botnet spreading one account's guesses), the
//     account refuses authentication from every IP outside its trusted
//     networks (account.Networks) that has not logged in to it within
//     TrustedFor (trust.go). Its own hosting servers still get in:
//     locking the account for everyone would hand an attacker a way to
//     stop a customer's mail, and most accounts list no networks.
//
// Successes reset nothing: the windows are exact, so old failures age out
// on their own, and a reset would let an attacker interleave one known
// good login between guesses. Refused attempts are not counted either, so
// the lock ends when the window frees, as Retry-After says. Clients in
// Exempt are neither counted nor refused; loopback is not exempt by
// itself.
//
// The guard fails closed to this node's own counts (local.go): every
// failure and login is kept in memory too, and while the shared state
// fails the guard counts and refuses from those, so an outage of Redis
// neither stops the mail nor lets a guesser through.
package authguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
)

// Scopes of a refusal and of a lockout.
const (
	ScopeIP      = "ip"
	ScopeAccount = "account"
)

// Accounts finds an account's trusted networks; account.Store is one.
type Accounts interface {
	GetAccount(ctx context.Context, name string) (*account.Account, error)
}

// Config is what a Guard needs.
type Config struct {
	State state.State
	// Accounts finds the trusted networks of a locked account; nil: a
	// locked account is refused from every IP.
	Accounts Accounts
	// MaxFailures per client IP and MaxAccountFailures per account name
	// within Window; zero turns that rule off.
	MaxFailures        int
	MaxAccountFailures int
	Window             time.Duration    // auth.window; 0: nothing is refused
	Exempt             []netip.Prefix   // clients never counted nor refused
	Now                func() time.Time // nil: time.Now
	Logger             *slog.Logger     // nil: discard
	// TrustedFor is how long an IP (an IPv6 client's /64) that logged in
	// to an account stays exempt from that account's lock (Succeed); 0:
	// only the account's networks are.
	TrustedFor time.Duration
	// OnLockout is told of each lockout once, as it begins (metrics).
	OnLockout func(scope string)
}

// Guard counts failed authentications and refuses attempts past the limits.
// It is safe for concurrent use; a nil *Guard allows everything.
type Guard struct {
	cfg Config
	log *slog.Logger
	// local is this node's own copy of its failures and logins, what the
	// guard judges by while the shared state fails (local.go).
	local *memory.State
	down  atomic.Bool  // the shared state is failing
	retry atomic.Int64 // while down: when to try it again (Unix ns, real time)
}

// New returns a Guard.
func New(cfg Config) *Guard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{cfg: cfg, log: cfg.Logger, local: memory.New(cfg.Now)}
}

// Refused is Check's answer to an attempt past a limit.
type Refused struct {
	Scope string    // ScopeIP or ScopeAccount
	Until time.Time // when an attempt may succeed again
	Wait  time.Duration
}

func (r *Refused) Error() string {
	return fmt.Sprintf("too many authentication failures (%s); retry in %s", r.Scope, r.Wait.Round(time.Second))
}

// RetryAfter is how long to wait, for an HTTP Retry-After header.
func (r *Refused) RetryAfter() time.Duration { return r.Wait }

// IsRefused reports whether err is a Guard's refusal.
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r)
}

// Check says whether client may try to authenticate as user now: nil, or a
// *Refused. user "" (a token, not an account) checks the IP rule only. It
// never fails otherwise: without the shared state it judges by this node's
// counts.
func (g *Guard) Check(ctx context.Context, client netip.Addr, user string) error {
	if g == nil || g.exempt(client) {
		return nil
	}
	now := g.cfg.Now()
	if n := g.cfg.MaxFailures; n > 0 {
		if until, locked := g.locked(ctx, ipKey(client), n, now); locked {
			return g.refused(ScopeIP, until, now)
		}
	}
	if m := g.cfg.MaxAccountFailures; m > 0 && user != "" {
		until, locked := g.locked(ctx, accountKey(user), m, now)
		if locked && !g.trusted(ctx, user, client, now) {
			return g.refused(ScopeAccount, until, now)
		}
	}
	return nil
}

// Fail records a failed authentication of client as user ("" for a token).
// It returns nothing: without the shared state the failure counts on this
// node only.
func (g *Guard) Fail(ctx context.Context, client netip.Addr, user string) {
	if g == nil || g.exempt(client) {
		return
	}
	now := g.cfg.Now()
	if n := g.cfg.MaxFailures; n > 0 {
		if until, began := g.record(ctx, ipKey(client), n, now); began {
			g.lockout(ctx, ScopeIP, "client_ip", client.String(), n, until)
		}
	}
	if m := g.cfg.MaxAccountFailures; m > 0 && user != "" {
		if until, began := g.record(ctx, accountKey(user), m, now); began {
			g.lockout(ctx, ScopeAccount, "account", user, m, until)
		}
	}
}

func (g *Guard) exempt(client netip.Addr) bool {
	client = client.Unmap()
	for _, p := range g.cfg.Exempt {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// locked reports whether key holds limit failures or more in the window,
// in the shared state or in this node's (local.go), and when enough of
// them age out for it to hold limit-1.
func (g *Guard) locked(ctx context.Context, key string, limit int, now time.Time) (time.Time, bool) {
	var until time.Time
	locked := false
	check := func(st state.State) error {
		u, l, err := lockedIn(ctx, st, key, limit, g.cfg.Window, now)
		if l {
			locked, until = true, later(until, u)
		}
		return err
	}
	g.shared(ctx, check)
	check(g.local) // memory: never fails
	return until, locked
}

// lockedIn is locked in one state. A Take of zero events records nothing:
// it only asks whether the count fits limit-1.
func lockedIn(ctx context.Context, st state.State, key string, limit int, window time.Duration, now time.Time) (time.Time, bool, error) {
	d, err := st.Take(ctx, key, 0, now, []state.Window{{Size: window, Max: limit - 1}})
	if err != nil {
		return time.Time{}, false, err
	}
	return d.Frees, !d.Allowed, nil
}

// record adds one failure under key, in the shared state and in this
// node's, and reports whether it began a lockout (and until when): as the
// shared state says, or as this node's does while the shared one fails.
func (g *Guard) record(ctx context.Context, key string, limit int, now time.Time) (time.Time, bool) {
	var until time.Time
	var began bool
	shared := g.shared(ctx, func(st state.State) (err error) {
		until, began, err = recordIn(ctx, st, key, limit, g.cfg.Window, now)
		return err
	})
	lu, lb, _ := recordIn(ctx, g.local, key, limit, g.cfg.Window, now)
	if !shared {
		return lu, lb
	}
	return until, began
}

// recordIn adds one failure under key in st, up to limit in the window
// (past that every attempt is refused anyway, and the log of one key stays
// bounded: a botnet's many IPs and names cost at most limit entries each).
// It reports whether this failure is the one that reached limit: the first
// Take refuses only at limit-1 or more, the second admits one event only at
// exactly limit-1, and both see the same now, so among concurrent failures
// (on any node) exactly one begins the lockout.
func recordIn(ctx context.Context, st state.State, key string, limit int, window time.Duration, now time.Time) (time.Time, bool, error) {
	w := []state.Window{{Size: window, Max: limit - 1}}
	d, err := st.Take(ctx, key, 1, now, w)
	if err != nil || d.Allowed {
		return time.Time{}, false, err
	}
	w[0].Max = limit
	if d, err = st.Take(ctx, key, 1, now, w); err != nil || !d.Allowed {
		return time.Time{}, false, err
	}
	until, _, err := lockedIn(ctx, st, key, limit, window, now)
	if err != nil {
		// The failure is counted; only its end is unknown.
		until = now.Add(window)
	}
	return until, true, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lockout logs a lockout that begins, once (record decides that).
func (g *Guard) lockout(ctx context.Context, scope, what, who string, limit int, until time.Time) {
	g.log.WarnContext(ctx, "auth lockout", "scope", scope, what, who, "failures", limit,
		"window", g.cfg.Window.String(), "until", until.UTC().Format(time.RFC3339))
	if g.cfg.OnLockout != nil {
		g.cfg.OnLockout(scope)
	}
}

func (g *Guard) refused(scope string, until, now time.Time) *Refused {
	wait := until.Sub(now)
	if wait <= 0 {
		wait = time.Second // frees now: a client retrying at once still gets in
	}
	return &Refused{Scope: scope, Until: until, Wait: wait}
}

// inNetworks reports whether client is inside the networks of account
// user. An unknown account has none; a store error counts as not trusted,
// the account being under attack.
func (g *Guard) inNetworks(ctx context.Context, user string, client netip.Addr) bool {
	if g.cfg.Accounts == nil {
		return false
	}
	a, err := g.cfg.Accounts.GetAccount(ctx, user)
	if err != nil {
		if !errors.Is(err, account.ErrNotFound) {
			g.log.WarnContext(ctx, "authguard: get account", "account", user, "err", err)
		}
		return false
	}
	return a.Trusts(client)
}

// ipKey is the state key of a client's failures.
func ipKey(client netip.Addr) string { return "authfail:ip:" + clientNet(client) }

// clientNet is what the guard counts a client by: its address, an IPv6
// client by its /64 (what one host usually holds).
func clientNet(client netip.Addr) string {
	client = client.Unmap()
	if client.Is6() {
		p, _ := client.Prefix(64)
		return p.String()
	}
	return client.String()
}

// accountKey is the state key of a name's failures.
func accountKey(user string) string { return "authfail:acct:" + shortName(user) }

// shortName is user in a state key: a name longer than any account's (a
// guess can be anything) is hashed, keeping keys short.
func shortName(user string) string {
	if len(user) > 128 {
		sum := sha256.Sum256([]byte(user))
		return "#" + hex.EncodeToString(sum[:])
	}
	return user
}

// RetryAfterSeconds is d as an HTTP Retry-After value (RFC 9110 §10.2.3):
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return fmt.Sprint(max(1, int64(math.Ceil(d.Seconds()))))
}
