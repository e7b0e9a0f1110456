package main

import (
	"context"
	"fmt"

	"sendpool/internal/config"
	"sendpool/internal/dns"
	"sendpool/internal/state"
	"sendpool/internal/state/memory"
	"sendpool/internal/state/redis"
)

// openState opens the shared state that state.backend names: rate counters,
// IP suspensions, caches. Every part that shares state across nodes gets
// this one. An unreachable Redis is an error within its dial timeout (5s),
// not a hang; once open, the client reconnects by itself.
func openState(ctx context.Context, cfg *config.Config) (state.State, error) {
	switch cfg.State.Backend {
	case "memory":
		return memory.New(nil), nil
	case "redis":
		st, err := redis.Open(ctx, cfg.State.RedisURL, redis.Options{})
		if err != nil {
			return nil, fmt.Errorf("state.redis_url: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("state.backend %q is not available in this build", cfg.State.Backend)
}

// dnsOptions makes the resolver's cache the shared state's when that is
// shared (Redis), so that one node's lookup serves all until its TTL,
// capped by dns.cache_max_ttl.
func dnsOptions(cfg *config.Config, shared state.State) dns.Options {
	o := dns.Options{MaxTTL: cfg.DNS.CacheMaxTTL.D()}
	if cfg.State.Backend == "redis" {
		o.Cache = dns.StateCache{State: shared}
	}
	return o
}
