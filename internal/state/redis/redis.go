// Package redis is the state.State that many nodes share, in Redis
// (github.com/redis/go-redis/v9). One Redis, a Sentinel-managed primary or a
// Cluster all work: the client is a redis.UniversalClient made from a URL.
//
// Rate counters are sorted sets of event times, changed only by a Lua
// script, which Redis runs atomically: a Take checks every window and
// records its events in one step, on one key, so it works on a Cluster too.
// Suspensions are one hash with a change token beside it; a node reads the
// token (one GET) and the whole hash only when the token moved, so polling
// it every few hundred milliseconds costs little and a suspension made on
// one node is seen by every node at its next poll.
package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"sendpool/internal/state"
)

// Options configure a State.
type Options struct {
	// Prefix starts every key, so that several deployments (or tests) can
	// share one Redis. Default "sendpool:".
	Prefix string
	// DialTimeout bounds connecting (and Open's first contact), so that an
	// unreachable Redis is an error at start, not a hang. Default 5s.
	DialTimeout time.Duration
}

// Defaults.
const (
	DefaultPrefix      = "sendpool:"
	DefaultDialTimeout = 5 * time.Second
)

// State is the Redis state.State.
type State struct {
	c      goredis.UniversalClient
	own    bool // Close closes c
	prefix string

	mu   sync.Mutex
	seen suspCache
}

// suspCache is the last suspensions read and the change token they were
// read under.
type suspCache struct {
	token string
	list  []state.Suspension
}

var _ state.State = (*State)(nil)

// Open connects to the Redis that url names and checks that it answers
// within the dial timeout. The URL forms:
//
//	redis://[user:pass@]host:6379/0                       one server (rediss:// for TLS)
//	redis://host:26379/0?master_name=NAME&addr=host2:26379   Sentinel (the sentinels' addresses)
//	redis://host:7000?addr=host2:7000&addr=host3:7000        Cluster (two or more nodes)
//
// Further query parameters are go-redis's (dial_timeout, pool_size, …). The
// client reconnects by itself when Redis comes back; calls fail meanwhile.
func Open(ctx context.Context, rawURL string, opts Options) (*State, error) {
	c, err := NewClient(rawURL, cmp.Or(opts.DialTimeout, DefaultDialTimeout))
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, cmp.Or(opts.DialTimeout, DefaultDialTimeout))
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %s unreachable: %w", redact(rawURL), err)
	}
	s := New(c, opts)
	s.own = true
	return s, nil
}

// New returns a State on an existing client, which the caller closes.
func New(c goredis.UniversalClient, opts Options) *State {
	return &State{c: c, prefix: cmp.Or(opts.Prefix, DefaultPrefix)}
}

// NewClient makes the client a URL names (see Open), without contacting it.
func NewClient(rawURL string, dialTimeout time.Duration) (goredis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: bad URL: %w", err)
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := goredis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		if !q.Has("dial_timeout") {
			o.DialTimeout = dialTimeout
		}
		return goredis.NewFailoverClient(o), nil
	case q.Has("addr"):
		o, err := goredis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		if !q.Has("dial_timeout") {
			o.DialTimeout = dialTimeout
		}
		return goredis.NewClusterClient(o), nil
	default:
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		if !q.Has("dial_timeout") {
			o.DialTimeout = dialTimeout
		}
		return goredis.NewClient(o), nil
	}
}

// Client is the underlying client.
func (s *State) Client() goredis.UniversalClient { return s.c }

// Close closes the client if Open made it.
func (s *State) Close() error {
	if s.own {
		return s.c.Close()
	}
	return nil
}

// Keys. The suspension hash and its token share a hash tag, so that they
// live in one Cluster slot and change in one MULTI.
func (s *State) rateKey(key string) string  { return s.prefix + "rate:" + key }
func (s *State) cacheKey(key string) string { return s.prefix + "cache:" + key }
func (s *State) listKey(key string) string  { return s.prefix + "list:" + key }
func (s *State) seenKey(key string) string  { return s.prefix + "seen:" + key }
func (s *State) suspKey() string            { return s.prefix + "{susp}" }
func (s *State) suspTokenKey() string       { return s.prefix + "{susp}:token" }

// takeScript records n events at now if every window still holds at most
// its max events after now-size after them (as the memory state, it counts
// events later than now too: a node whose clock is behind cannot slip
// past events another node recorded). Times are microseconds
// since the epoch (exact in a Lua double). Members are made unique by a
// token per call.
//
// KEYS[1] the sorted set; ARGV: now, n, token, then size and max per window.
// Returns {1} or {0, window index (1-based), count, frees}.
var takeScript = goredis.NewScript(`
local key = KEYS[1]
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local token = ARGV[3]
local longest = 0
for i = 4, #ARGV, 2 do
	longest = math.max(longest, tonumber(ARGV[i]))
end
if longest > 0 then
	-- Events at or before now-longest are outside every window.
	redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest)
end
for i = 4, #ARGV, 2 do
	local size = tonumber(ARGV[i])
	local max = tonumber(ARGV[i + 1])
	local from = '(' .. string.format('%.0f', now - size)
	-- Events after now count too (a taker with an earlier clock came late).
	local count = redis.call('ZCOUNT', key, from, '+inf')
	if count + n > max then
		-- The (count+n-max)-th oldest event of the window must age out.
		local k = count + n - max
		local frees = now + size
		if k <= count then
			local ev = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', k - 1, 1)
			frees = tonumber(ev[2]) + size
		end
		return {0, (i - 2) / 2, count, string.format('%.0f', frees)}
	end
end
for j = 1, n do
	redis.call('ZADD', key, now, string.format('%.0f', now) .. ':' .. token .. ':' .. j)
end
if longest > 0 then
	redis.call('PEXPIRE', key, math.ceil(longest / 1000) + 1000)
end
return {1}
`)

// Take implements state.State. Times are kept at microsecond precision.
func (s *State) Take(ctx context.Context, key string, n int, now time.Time, windows []state.Window) (state.Decision, error) {
	args := []any{now.UnixMicro(), n, token()}
	for _, w := range windows {
		args = append(args, w.Size.Microseconds(), w.Max)
	}
	res, err := takeScript.Run(ctx, s.c, []string{s.rateKey(key)}, args...).Slice()
	if err != nil {
		return state.Decision{}, fmt.Errorf("redis: take %s: %w", key, err)
	}
	if len(res) == 1 {
		return state.Decision{Allowed: true}, nil
	}
	if len(res) != 4 {
		return state.Decision{}, fmt.Errorf("redis: take %s: unexpected reply %v", key, res)
	}
	i, _ := res[1].(int64)
	count, _ := res[2].(int64)
	frees, _ := res[3].(string)
	var fus int64
	if _, err := fmt.Sscan(frees, &fus); err != nil || i < 1 || int(i) > len(windows) {
		return state.Decision{}, fmt.Errorf("redis: take %s: unexpected reply %v", key, res)
	}
	return state.Decision{Window: windows[i-1], Count: int(count), Frees: time.UnixMicro(fus)}, nil
}

// Count implements state.State.
func (s *State) Count(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	to := now.UnixMicro()
	n, err := s.c.ZCount(ctx, s.rateKey(key), fmt.Sprintf("(%d", to-window.Microseconds()), fmt.Sprint(to)).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: count %s: %w", key, err)
	}
	return int(n), nil
}

func suspField(ip, scope string) string { return ip + "|" + scope }

// Suspend implements state.State.
func (s *State) Suspend(ctx context.Context, sp state.Suspension) error {
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	_, err = s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.suspKey(), suspField(sp.IP, sp.Scope), b)
		p.Set(ctx, s.suspTokenKey(), token(), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: suspend %s: %w", sp.IP, err)
	}
	return nil
}

// Resume implements state.State.
func (s *State) Resume(ctx context.Context, ip, scope string) error {
	fields := []string{suspField(ip, scope)}
	if scope == "" {
		all, err := s.c.HKeys(ctx, s.suspKey()).Result()
		if err != nil {
			return fmt.Errorf("redis: resume %s: %w", ip, err)
		}
		fields = fields[:0]
		for _, f := range all {
			if strings.HasPrefix(f, ip+"|") {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			return nil
		}
	}
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HDel(ctx, s.suspKey(), fields...)
		p.Set(ctx, s.suspTokenKey(), token(), 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: resume %s: %w", ip, err)
	}
	return nil
}

// Suspensions implements state.State. It reads the change token, and the
// hash only if the token moved since the last call.
func (s *State) Suspensions(ctx context.Context, now time.Time) ([]state.Suspension, error) {
	tok, err := s.c.Get(ctx, s.suspTokenKey()).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis: suspensions: %w", err)
	}
	s.mu.Lock()
	seen := s.seen
	s.mu.Unlock()
	list := seen.list
	if tok == "" || tok != seen.token {
		// The token is read before the hash: a change in between moves
		// it again, and the next call reads the hash again.
		all, err := s.c.HGetAll(ctx, s.suspKey()).Result()
		if err != nil {
			return nil, fmt.Errorf("redis: suspensions: %w", err)
		}
		list = make([]state.Suspension, 0, len(all))
		for f, v := range all {
			var sp state.Suspension
			if err := json.Unmarshal([]byte(v), &sp); err != nil {
				return nil, fmt.Errorf("redis: suspension %s: %w", f, err)
			}
			list = append(list, sp)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].IP != list[j].IP {
				return list[i].IP < list[j].IP
			}
			return list[i].Scope < list[j].Scope
		})
		s.mu.Lock()
		s.seen = suspCache{token: tok, list: list}
		s.mu.Unlock()
	}
	var out, expired []state.Suspension
	for _, sp := range list {
		if now.Before(sp.Until) {
			out = append(out, sp)
		} else {
			expired = append(expired, sp)
		}
	}
	if len(expired) > 0 {
		s.dropExpired(ctx, expired)
	}
	return out, nil
}

// dropExpired removes expired suspensions, unless one was replaced since it
// was read. Best effort: an expired one left is filtered out when read.
func (s *State) dropExpired(ctx context.Context, expired []state.Suspension) {
	for _, sp := range expired {
		b, err := json.Marshal(sp)
		if err != nil {
			continue
		}
		// Delete the field only if it still holds what was read.
		_ = dropIfSame.Run(ctx, s.c, []string{s.suspKey()}, suspField(sp.IP, sp.Scope), b).Err()
	}
}

var dropIfSame = goredis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
	return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// Get implements state.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := s.c.Get(ctx, s.cacheKey(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: get %s: %w", key, err)
	}
	return b, true, nil
}

// Set implements state.State. Redis expires the key (to the millisecond).
func (s *State) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	ttl = max(ttl.Round(time.Millisecond), time.Millisecond)
	if err := s.c.Set(ctx, s.cacheKey(key), value, ttl).Err(); err != nil {
		return fmt.Errorf("redis: set %s: %w", key, err)
	}
	return nil
}

// Record implements state.State: LPUSH, LTRIM and PEXPIRE in one
// MULTI, so readers never see the list longer than keep.
func (s *State) Record(ctx context.Context, key string, keep int, ttl time.Duration, values ...[]byte) error {
	if keep <= 0 || ttl <= 0 || len(values) == 0 {
		return nil
	}
	k := s.listKey(key)
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.LPush(ctx, k, args...)
		p.LTrim(ctx, k, 0, int64(keep-1))
		p.PExpire(ctx, k, max(ttl.Round(time.Millisecond), time.Millisecond))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: record %s: %w", key, err)
	}
	return nil
}

// Recent implements state.State.
func (s *State) Recent(ctx context.Context, key string, n int) ([][]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	vs, err := s.c.LRange(ctx, s.listKey(key), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: recent %s: %w", key, err)
	}
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out, nil
}

// Seen implements state.State: a sorted set scored by the time seen (in
// microseconds, exact in a double), changed in one MULTI so that readers
// never see it over keep. ZADD GT (Redis 6.2) keeps a later sighting that
// a node with a clock behind would otherwise move back.
func (s *State) Seen(ctx context.Context, key, member string, at time.Time, keep int, ttl time.Duration) error {
	if keep <= 0 || ttl <= 0 {
		return nil
	}
	k := s.seenKey(key)
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAddGT(ctx, k, goredis.Z{Score: float64(at.UnixMicro()), Member: member})
		p.ZRemRangeByScore(ctx, k, "-inf", fmt.Sprint(at.Add(-ttl).UnixMicro()))
		p.ZRemRangeByRank(ctx, k, 0, int64(-keep-1))
		p.PExpire(ctx, k, max(ttl.Round(time.Millisecond), time.Millisecond))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis: seen %s: %w", key, err)
	}
	return nil
}

// LastSeen implements state.State.
func (s *State) LastSeen(ctx context.Context, key, member string) (time.Time, bool, error) {
	us, err := s.c.ZScore(ctx, s.seenKey(key), member).Result()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redis: last seen %s: %w", key, err)
	}
	return time.UnixMicro(int64(us)), true, nil
}

// token returns a random string, unique for every practical purpose.
func token() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the server"
	}
	return u.Redacted()
}
