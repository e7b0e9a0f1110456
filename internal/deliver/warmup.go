package deliver

import (
	"context"
	"net/netip"
)

// Admitter counts the deliveries each source IP attempts against its
// warm-up caps; *pool.Warmup implements it.
type Admitter interface {
	// Admit counts n deliveries from ip to destination (a provider's name)
	// and reports whether ip's cap allows them. A refusal keeps ip from
	// being picked for destination until the cap frees.
	Admit(ctx context.Context, ip netip.Addr, destination string, n int) bool
}

// admit asks the warm-up whether s may carry a message for n recipients.
// It is asked per message, not per connection: a kept connection carries
// many.
func (c *Courier) admit(ctx context.Context, s *session, n int) bool {
	if c.cfg.Warmup == nil || !s.src.Addr.IsValid() {
		return true
	}
	return c.cfg.Warmup.Admit(ctx, s.src.Addr, s.dest, n)
}
