package authguard

import (
	"context"
	"time"

	"sendpool/internal/state"
)

// retryEvery is how often, while the shared state fails, one call tries it
// again; the others meanwhile go to this node's counts at once. A Redis
// that does not answer at all would otherwise hold every attempt for its
// dial timeout.
const retryEvery = time.Second

// shared runs op on the shared state, unless that is failing and not yet
// due for another try, and reports whether op ran and succeeded. Every
// failure and login is kept on this node too (g.local), so while this
// reports false the guard judges by this node's counts: it fails closed (a
// guesser is still refused, on each node after its own max_failures) and
// mail goes on. When the state answers again
// its shared counts apply again. An outage is logged when it begins and
// when it ends, not at each attempt.
func (g *Guard) shared(ctx context.Context, op func(state.State) error) bool {
	if g.down.Load() && time.Now().UnixNano() < g.retry.Load() {
		return false
	}
	err := op(g.cfg.State)
	if err == nil {
		if g.down.CompareAndSwap(true, false) {
			g.log.WarnContext(ctx, "authguard: shared state back: counting there again")
		}
		return true
	}
	if ctx.Err() != nil {
		return false // the attempt was abandoned; the state may be fine
	}
	g.retry.Store(time.Now().Add(retryEvery).UnixNano())
	if g.down.CompareAndSwap(false, true) {
		g.log.WarnContext(ctx, "authguard: shared state unavailable: counting on this node until it is back", "err", err)
	}
	return false
}
