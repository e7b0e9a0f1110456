package mtasts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// State is where policies are cached, shared by every node; state.State
// implements it.
type State interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Fetch gets a domain's policy; *Fetcher implements it.
type Fetch interface {
	Fetch(ctx context.Context, domain string) (*Policy, error)
}

// Config configures Policies.
type Config struct {
	Resolver Resolver
	Fetcher  Fetch
	State    State
	// RetryAfter is how long after a failed fetch of a domain's policy no
	// node fetches it again; meanwhile the failure stands. 0: 5 minutes.
	RetryAfter time.Duration
	Now        func() time.Time // nil: time.Now
	Logger     *slog.Logger     // nil: discard
}

// DefaultRetryAfter is Config.RetryAfter's default.
const DefaultRetryAfter = 5 * time.Minute

// Policies finds the MTA-STS policy in force for a recipient domain. It is
// safe for concurrent use; Close waits for background refreshes.
type Policies struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	refreshing map[string]bool
	closed     bool
	wg         sync.WaitGroup
}

// New returns Policies for cfg.
func New(cfg Config) *Policies {
	cfg.RetryAfter = cmp.Or(cfg.RetryAfter, DefaultRetryAfter)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Policies{cfg: cfg, log: cfg.Logger, refreshing: map[string]bool{}}
}

// Result is the policy in force for a domain.
type Result struct {
	// Policy is nil when none applies: the domain announces none, or the
	// one it announces could not be had and none is cached.
	Policy *Policy
	ID     string // the policy's id
	// Failure is the TLS-RPT result type (RFC 8460 §4.3.2.2) when the
	// domain announces a policy that could not be had, Err why.
	Failure string
	Err     error
}

// entry is a cached policy, its expiry travelling with it so that a
// state that kept it longer could not serve it past its max_age.
type entry struct {
	ID      string    `json:"id"`
	Text    string    `json:"text"`
	Fetched time.Time `json:"fetched"`
	Expires time.Time `json:"expires"`
}

// failure is a failed fetch, remembered for RetryAfter.
type failure struct {
	ID     string `json:"id"`
	Result string `json:"result"`
	Err    string `json:"err"`
}

// Get returns the policy in force for domain (RFC 8461 §5): the cached one
// while the TXT record's id is the same, refreshed in the background once
// it is half way to its max_age (at most a day after it was fetched); a
// new one fetched at once for a new id or a domain met for the first
// time. A cached policy stands until it expires when the record is gone
// or its lookup fails, and when a refresh fails (§5: a policy is never
// dropped for a failed refresh).
func (p *Policies) Get(ctx context.Context, domain string) Result {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := p.cfg.Now()
	cached, haveCached := p.load(ctx, domain, now)
	rec, err := LookupRecord(ctx, p.cfg.Resolver, domain)
	switch {
	case err == nil && haveCached && cached.ID == rec.ID:
		if refreshAt(cached).Before(now) {
			p.refreshLater(domain, rec.ID)
		}
		return p.result(cached)
	case err == nil:
		pol, ferr := p.fetch(ctx, domain, rec.ID)
		if ferr == nil {
			return Result{Policy: pol, ID: rec.ID}
		}
		if haveCached {
			p.log.Warn("mta-sts: new policy could not be fetched; the cached one stands", "domain", domain,
				"cached_id", cached.ID, "id", rec.ID, "err", ferr)
			return p.result(cached)
		}
		var fe *FetchError
		if errors.As(ferr, &fe) {
			return Result{ID: rec.ID, Failure: fe.Result, Err: ferr}
		}
		return Result{ID: rec.ID, Failure: ResultFetchError, Err: ferr}
	case haveCached:
		return p.result(cached)
	case errors.Is(err, ErrNoRecord):
		return Result{}
	default:
		// A record that does not parse counts as none (§3.1); a DNS
		// failure leaves the domain without a known policy, as for a
		// first contact.
		p.log.Info("mta-sts: record lookup failed", "domain", domain, "err", err)
		return Result{}
	}
}

// refreshAt is when a cached policy is fetched again ahead of expiry.
func refreshAt(e entry) time.Time {
	return e.Fetched.Add(min(e.Expires.Sub(e.Fetched)/2, 24*time.Hour))
}

func (p *Policies) result(e entry) Result {
	pol, err := ParsePolicy(e.Text)
	if err != nil {
		// Only valid policies are stored: a value that no longer parses is
		// another program's; none applies.
		return Result{}
	}
	return Result{Policy: pol, ID: e.ID}
}

// fetch gets domain's policy of id and caches it for its max_age, unless
// a fetch of that id failed within RetryAfter (on any node): then that
// failure is returned again.
func (p *Policies) fetch(ctx context.Context, domain, id string) (*Policy, error) {
	if v, ok, err := p.cfg.State.Get(ctx, failKey(domain)); err == nil && ok {
		var f failure
		if json.Unmarshal(v, &f) == nil && f.ID == id {
			return nil, &FetchError{Result: f.Result, Err: errors.New(f.Err + " (recently)")}
		}
	}
	pol, err := p.cfg.Fetcher.Fetch(ctx, domain)
	if err != nil {
		var fe *FetchError
		result := ResultFetchError
		if errors.As(err, &fe) {
			result = fe.Result
		}
		if ctx.Err() == nil { // our deadline is no verdict on the domain
			v, _ := json.Marshal(failure{ID: id, Result: result, Err: err.Error()})
			_ = p.cfg.State.Set(ctx, failKey(domain), v, p.cfg.RetryAfter)
		}
		p.log.Warn("mta-sts: policy fetch failed", "domain", domain, "id", id, "result", result, "err", err)
		return nil, err
	}
	now := p.cfg.Now()
	e := entry{ID: id, Text: strings.Join(pol.Lines, "\n") + "\n", Fetched: now, Expires: now.Add(pol.MaxAge)}
	if pol.MaxAge > 0 {
		v, _ := json.Marshal(e)
		if err := p.cfg.State.Set(ctx, key(domain), v, pol.MaxAge); err != nil {
			p.log.Warn("mta-sts: caching the policy", "domain", domain, "err", err)
		}
	}
	p.log.Info("mta-sts: policy fetched", "domain", domain, "id", id, "mode", pol.Mode, "max_age", pol.MaxAge)
	return pol, nil
}

// load returns domain's cached policy if it has not expired at now.
func (p *Policies) load(ctx context.Context, domain string, now time.Time) (entry, bool) {
	v, ok, err := p.cfg.State.Get(ctx, key(domain))
	if err != nil || !ok {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal(v, &e) != nil || !now.Before(e.Expires) {
		return entry{}, false
	}
	return e, true
}

// refreshLater fetches domain's policy again in the background, once at a
// time per domain on this node; a failure keeps the cached one (§5).
func (p *Policies) refreshLater(domain, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.refreshing[domain] {
		return
	}
	p.refreshing[domain] = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := p.fetch(ctx, domain, id); err != nil {
			p.log.Warn("mta-sts: refresh failed; the cached policy stands", "domain", domain, "err", err)
		}
		p.mu.Lock()
		delete(p.refreshing, domain)
		p.mu.Unlock()
	}()
}

// Close waits for the refreshes under way; none start after.
func (p *Policies) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func key(domain string) string     { return "mtasts:" + domain }
func failKey(domain string) string { return "mtasts-fail:" + domain }
