package inbound

import (
	"context"
	"strings"
	"sync"
	"time"

	"sendpool/internal/account"
)

// Hosted finds the account a recipient domain belongs to: a domain of an
// account with an inbound_host, or a subdomain of one. The index is read
// again after its ttl: a change through any node's API is seen within it.
type Hosted struct {
	accounts Accounts
	ttl      time.Duration
	now      func() time.Time

	mu    sync.Mutex
	index map[string]*account.Account // domain → account
	at    time.Time
}

// NewHosted returns a Hosted over the accounts; ttl is how long its index
// is kept (0: read at every use).
func NewHosted(a Accounts, ttl time.Duration, now func() time.Time) *Hosted {
	if now == nil {
		now = time.Now
	}
	return &Hosted{accounts: a, ttl: ttl, now: now}
}

// Route is the fixed route of mail for domain (deliver.Config.Routes):
// the inbound_host of the account hosting it, instead of its MX.
func (h *Hosted) Route(ctx context.Context, domain string) (string, bool, error) {
	a, err := h.Account(ctx, domain)
	if err != nil || a == nil {
		return "", false, err
	}
	return a.InboundHost, true, nil
}

// Account returns the account whose mail for domain the MX takes, nil if
// none (the domain is not hosted: relaying to it is refused).
func (h *Hosted) Account(ctx context.Context, domain string) (*account.Account, error) {
	idx, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for {
		if a, ok := idx[d]; ok {
			return a, nil
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(parent, ".") {
			return nil, nil
		}
		d = parent
	}
}

func (h *Hosted) get(ctx context.Context) (map[string]*account.Account, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.index != nil && h.ttl > 0 && h.now().Sub(h.at) < h.ttl {
		return h.index, nil
	}
	list, err := h.accounts.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	idx := map[string]*account.Account{}
	for _, a := range list {
		if a.InboundHost == "" {
			continue // the account does not take mail through the MX
		}
		for _, d := range a.Domains {
			idx[strings.ToLower(d)] = a
		}
	}
	h.index, h.at = idx, h.now()
	return idx, nil
}
