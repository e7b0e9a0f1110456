package intake

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"sendpool/internal/account"
)

const (
	// authCacheTTL is how long a verified password is trusted without
	// running argon2id again: hosting servers reconnect all the time and
	// argon2id is deliberately slow.
	authCacheTTL = 5 * time.Minute
	// authCacheMax bounds the cache; each entry is 32 bytes and a time.
	authCacheMax = 4096
	// trustRefresh is how stale the trusted-network index may be.
	trustRefresh = time.Second
)

// Authenticate checks an account's name and password. Unknown users, wrong
// passwords and suspended accounts get the same AuthFailed (535 5.7.8), so a
// client learns nothing about which names exist. A held account
// authenticates; Accept then answers 451 for each message.
func (s *Service) Authenticate(ctx context.Context, user, pass string) (*account.Account, error) {
	a, err := s.cfg.Accounts.GetAccount(ctx, user)
	if errors.Is(err, account.ErrNotFound) {
		// Spend the same time as for a real account, so timing does not
		// tell which names exist.
		s.hash(s.dummy(), pass)
		return nil, AuthFailed(fmt.Sprintf("unknown account %q", user))
	}
	if err != nil {
		return nil, AuthUnavailable(fmt.Sprintf("get account %q: %v", user, err))
	}
	if !s.checkPassword(a, pass) {
		return nil, AuthFailed(fmt.Sprintf("wrong password for %q", user))
	}
	if a.Status == account.StatusSuspended {
		return nil, AuthFailed(fmt.Sprintf("account %q suspended", user))
	}
	return a, nil
}

// checkPassword runs argon2id unless the same name, password and stored
// hash were verified less than authCacheTTL ago. The stored hash is part of
// the key, so a password change drops the old entry's use at once. Only
// successes are cached: a failure always costs the full hash. Sessions that
// present the same credentials while they are being checked wait for that
// one check (hosting servers open many sessions at once) rather than each
// running argon2id.
func (s *Service) checkPassword(a *account.Account, pass string) bool {
	h := sha256.New()
	for _, f := range []string{a.Name, pass, a.PasswordHash} {
		fmt.Fprintf(h, "%d:%s", len(f), f) // length-prefixed: no ambiguity
	}
	var key [32]byte
	h.Sum(key[:0])

	for {
		now := s.cfg.Now()
		s.authMu.Lock()
		exp, ok := s.authCache[key]
		if ok && now.Before(exp) {
			s.authMu.Unlock()
			return true
		}
		wait, busy := s.authFlight[key]
		if !busy {
			s.authFlight[key] = make(chan struct{})
			s.authMu.Unlock()
			break
		}
		s.authMu.Unlock()
		// A success lands in the cache; after a failure, check again.
		<-wait
	}
	ok := s.hash(a.PasswordHash, pass)

	now := s.cfg.Now()
	s.authMu.Lock()
	defer s.authMu.Unlock()
	close(s.authFlight[key])
	delete(s.authFlight, key)
	if !ok {
		return false
	}
	if len(s.authCache) >= authCacheMax {
		for k, e := range s.authCache {
			if !now.Before(e) {
				delete(s.authCache, k)
			}
		}
	}
	if len(s.authCache) >= authCacheMax {
		// Still full of live entries: forget one at random (map order);
		// the cost is one more argon2id for that client.
		for k := range s.authCache {
			delete(s.authCache, k)
			break
		}
	}
	s.authCache[key] = now.Add(authCacheTTL)
	return true
}

// hash runs checkHash in one of the hash slots: argon2id takes 19 MiB a
// run, so a burst of logins (or of guesses) must not run them all at once.
func (s *Service) hash(hash, password string) bool {
	s.hashSlots <- struct{}{}
	defer func() { <-s.hashSlots }()
	return s.checkHash(hash, password)
}

// hashConcurrency is how many argon2id runs go at once: one per CPU, more
// would only share the CPUs and add memory.
func hashConcurrency() int { return max(1, runtime.GOMAXPROCS(0)) }

// dummy returns a hash to check unknown users' passwords against.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = account.HashPassword("sendpool dummy password")
	})
	return s.dummyHash
}

// trustedNet is one account network in the trusted-network index.
type trustedNet struct {
	prefix  netip.Prefix
	account *account.Account
}

// TrustedAccount returns the account whose networks contain addr, the most
// specific prefix winning, or nil if none does. Its index of networks is
// rebuilt at most every trustRefresh, so connections do not each list every
// account; a change of networks takes effect within that time.
func (s *Service) TrustedAccount(ctx context.Context, addr netip.Addr) (*account.Account, error) {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return nil, nil
	}
	idx, err := s.trusted(ctx)
	if err != nil {
		return nil, LocalError("trusted-network", err.Error())
	}
	for _, t := range idx {
		if t.prefix.Contains(addr) {
			return t.account, nil
		}
	}
	return nil, nil
}

// trusted returns the index, most specific prefixes first, rebuilding it
// when stale. The lock is held while listing so that concurrent connections
// wait for one listing rather than each doing their own.
func (s *Service) trusted(ctx context.Context) ([]trustedNet, error) {
	s.trustMu.Lock()
	defer s.trustMu.Unlock()
	now := s.cfg.Now()
	if !s.trustAt.IsZero() && now.Sub(s.trustAt) < trustRefresh && now.Sub(s.trustAt) >= 0 {
		return s.trustIndex, nil
	}
	accounts, err := s.cfg.Accounts.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	var idx []trustedNet
	// Suspended accounts stay in: their clients get "account suspended"
	// from Accept rather than a misleading "authentication required".
	for _, a := range accounts {
		for _, p := range a.Networks {
			idx = append(idx, trustedNet{prefix: p.Masked(), account: a})
		}
	}
	// Longest prefix first; ties by account name so the choice is stable.
	slices.SortStableFunc(idx, func(x, y trustedNet) int {
		if d := y.prefix.Bits() - x.prefix.Bits(); d != 0 {
			return d
		}
		if x.account.Name < y.account.Name {
			return -1
		}
		if x.account.Name > y.account.Name {
			return 1
		}
		return 0
	})
	s.trustIndex, s.trustAt = idx, now
	return idx, nil
}
