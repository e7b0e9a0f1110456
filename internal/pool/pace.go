package pool

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"sendpool/internal/state"
)

// paceKey is the shared state key of every pace in force: one small
// document, read by each node every PaceConfig.Refresh and rewritten when a
// pace changes (a few times a minute at most, under a receiver's
// complaints). Two nodes changing it at the same instant may lose one
// step; the next rate-limit reply makes it again.
const paceKey = "pool:paces"

// Pace is how fast one source IP may send to one provider after the
// provider asked it to slow down (a rate-limit reply, not a block): at most
// Rate messages per PaceConfig.Window, spaced evenly, over at most Conns
// connections. It relaxes step by step while replies stay clean, up to
// just under the rate the latest complaint came at; it goes past that only
// once no complaint has come for PaceConfig.Hold, and ends once the rate
// is back to where the complaints began, none has come for Hold and it
// holds no mail back.
type Pace struct {
	IP       string    `json:"ip"`
	Provider string    `json:"provider"`
	Rate     int       `json:"rate"`    // messages per window
	Conns    int       `json:"conns"`   // concurrent connections
	Ceiling  int       `json:"ceiling"` // the rate when the complaints began
	Limit    int       `json:"limit"`   // the rate of the latest complaint
	Since    time.Time `json:"since"`   // first complaint
	Last     time.Time `json:"last"`    // latest complaint
	Raised   time.Time `json:"raised"`  // latest step up (or Last)
	Cut      time.Time `json:"cut"`     // latest halving
	Reply    string    `json:"reply"`   // the latest complaint
}

// PaceGauge shows paces in /metrics; *metrics.Metrics implements it
// (sendpool_ip_pace_rate{ip,provider}, sendpool_ip_paced_total).
type PaceGauge interface {
	SetPace(ip, provider string, rate int) // rate 0: not paced
	Paced(ip, provider string)
}

// PaceConfig configures a Pacer. Zero values take the defaults noted.
type PaceConfig struct {
	State state.State
	// Window is the span Rate counts over (pool.pace_window); Step how
	// often a clean pace speeds up (pool.pace_step); Hold how long a pace
	// stays after the last complaint although its rate is back
	// (pool.pace_hold). Config keeps their defaults.
	Window, Step, Hold time.Duration
	// MinRate is the slowest a pace goes, messages per Window
	// (pool.pace_min_rate); Conns the connections an unpaced IP may hold
	// per provider (delivery.max_connections_per_ip_provider).
	MinRate, Conns int
	// Tick is the finest spacing worth keeping between a pace's messages:
	// how often the queue looks for due mail (config.QueuePoll). Finer,
	// a message would wait for the next look anyway and the pace would
	// send one per Tick whatever its rate. 0: spaced by Window/Rate.
	Tick time.Duration
	// Refresh is how often the shared paces are read (0: 1s).
	Refresh time.Duration
	Gauge   PaceGauge        // nil: none
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
}

// Pacer slows a source IP down for a provider that says it sends too fast,
// as an MTA operator would by hand (KumoMTA's shaping automation and
// PowerMTA's backoff mode do the same): halve the rate at each complaint,
// raise it by a quarter each clean step. A rate limit is not a block: the
// IP keeps sending there, slower, and the rest of the pool is not touched.
// Paces live in the shared state; while an IP is paced for a provider its
// messages there are counted in the shared state too, so every node draws
// on one rate. An IP not paced costs a map lookup per message.
type Pacer struct {
	cfg PaceConfig
	log *slog.Logger

	mu    sync.Mutex
	paces map[paceID]Pace      // as last read or written
	gen   uint64               // counts changes of paces
	until map[paceID]time.Time // rate used up until then (this node's view)
	sent  map[paceID][]time.Time
}

type paceID struct{ ip, provider string }

// NewPacer returns a pacer; call Refresh (or Run) before relying on it.
func NewPacer(cfg PaceConfig) *Pacer {
	// Zero values the config would never give: the smallest that work.
	cfg.Window = max(cfg.Window, time.Second)
	cfg.MinRate = max(cfg.MinRate, 1)
	cfg.Conns = max(cfg.Conns, 1)
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pacer{cfg: cfg, log: cfg.Logger, paces: map[paceID]Pace{}, until: map[paceID]time.Time{},
		sent: map[paceID][]time.Time{}}
}

// Run refreshes the paces every Refresh until ctx ends.
func (p *Pacer) Run(ctx context.Context) {
	tick := time.NewTicker(p.cfg.Refresh)
	defer tick.Stop()
	for {
		if err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("reading IP paces", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Refresh reads the paces in force from the shared state. On failure the
// previous ones stay.
func (p *Pacer) Refresh(ctx context.Context) error {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	list, err := p.read(ctx)
	if err != nil {
		return err
	}
	p.install(list, &gen)
	return nil
}

// install makes list the paces in force, unless read from the shared
// state before this node wrote newer ones (readAt, the generation when the
// read began, is no longer current; nil: list is this node's own write),
// and sets the gauges under the same lock so that they follow the paces in
// the order they changed.
func (p *Pacer) install(list []Pace, readAt *uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if readAt != nil && p.gen != *readAt {
		return
	}
	p.gen++
	old := p.paces
	p.paces = map[paceID]Pace{}
	for _, pc := range list {
		p.paces[paceID{pc.IP, pc.Provider}] = pc
	}
	p.gauges(old, list)
}

func (p *Pacer) read(ctx context.Context) ([]Pace, error) {
	b, ok, err := p.cfg.State.Get(ctx, paceKey)
	if err != nil || !ok {
		return nil, err
	}
	var list []Pace
	if err := json.Unmarshal(b, &list); err != nil {
		p.log.Warn("IP paces unreadable: starting afresh", "err", err)
		return nil, nil
	}
	return list, nil
}

// update reads the shared paces, lets change alter the one of (ip,
// provider) (nil: none yet; nil result: ends it) and writes them back.
func (p *Pacer) update(ctx context.Context, ip, provider string, change func(*Pace) *Pace) (Pace, error) {
	list, err := p.read(ctx)
	if err != nil {
		return Pace{}, err
	}
	var cur *Pace
	var rest []Pace
	for i := range list {
		if list[i].IP == ip && list[i].Provider == provider {
			cur = &list[i]
			continue
		}
		rest = append(rest, list[i])
	}
	next := change(cur)
	if next != nil {
		rest = append(rest, *next)
	}
	b, _ := json.Marshal(rest) // a slice of plain structs
	// The document outlives its paces by a day at most: an idle cluster
	// forgets them.
	if err := p.cfg.State.Set(ctx, paceKey, b, 24*time.Hour); err != nil {
		return Pace{}, err
	}
	p.install(rest, nil)
	if next == nil {
		return Pace{}, nil
	}
	return *next, nil
}

// gauges sets the metrics that changed from old to now. Called with p.mu
// held.
func (p *Pacer) gauges(old map[paceID]Pace, now []Pace) {
	if p.cfg.Gauge == nil {
		return
	}
	seen := map[paceID]bool{}
	for _, pc := range now {
		id := paceID{pc.IP, pc.Provider}
		seen[id] = true
		if o, ok := old[id]; !ok || o.Rate != pc.Rate {
			p.cfg.Gauge.SetPace(pc.IP, pc.Provider, pc.Rate)
		}
	}
	for id := range old {
		if !seen[id] {
			p.cfg.Gauge.SetPace(id.ip, id.provider, 0)
		}
	}
}

// Limited is told that the provider refused ip's mail as too fast (a
// rate-limit reply): the rate halves, or, unpaced, starts at half of what
// this node sent there in the last window. One halving per window at
// most: complaints within a window of the last halving answer messages
// sent at the old rate, or come from the receiver's count of that window
// (Gmail counts the refused MAIL commands too), and halving again for them
// would throw the rate far below the receiver's limit (as TCP cuts its
// window once per round trip, RFC 5681 section 3.1). They restart the
// quiet time, written at most once per sixth of a window.
func (p *Pacer) Limited(ctx context.Context, ip netip.Addr, provider, reply string) {
	now := p.cfg.Now()
	id := paceID{ip.String(), provider}
	p.mu.Lock()
	recent := p.recent(id, now)
	cur, paced := p.paces[id]
	p.mu.Unlock()
	if paced && now.Sub(cur.Last) < p.cfg.Window/6 {
		return
	}
	pc, err := p.update(ctx, id.ip, provider, func(cur *Pace) *Pace {
		if cur == nil {
			rate := max(p.cfg.MinRate, recent/2)
			return &Pace{IP: id.ip, Provider: provider, Rate: rate, Conns: max(1, p.cfg.Conns/2),
				Ceiling: max(recent, rate), Limit: max(recent, rate), Since: now, Last: now, Raised: now, Cut: now,
				Reply: reply}
		}
		if now.Sub(cur.Last) < p.cfg.Window/6 {
			return cur
		}
		c := *cur
		c.Last, c.Raised, c.Reply = now, now, reply
		if now.Sub(c.Cut) >= p.cfg.Window {
			c.Limit, c.Cut = c.Rate, now
			c.Rate, c.Conns = max(p.cfg.MinRate, c.Rate/2), max(1, c.Conns/2)
		}
		return &c
	})
	if err != nil {
		p.log.Warn("pacing an IP", "source_ip", id.ip, "provider", provider, "err", err)
		return
	}
	if p.cfg.Gauge != nil {
		p.cfg.Gauge.Paced(id.ip, provider)
	}
	p.log.Warn("IP paced", "source_ip", id.ip, "provider", provider, "rate", pc.Rate, "window", p.cfg.Window,
		"conns", pc.Conns, "reply", reply)
}

// Delivered is told that ip's mail to provider was accepted: a pace whose
// last complaint or step is a Step old goes up a quarter (and a
// connection), but not to the rate the latest complaint came at until it
// has been quiet for Hold (as TCP's congestion avoidance stops short of
// where it last lost a packet: the receiver's limit is somewhere below
// that rate, and stepping onto it again costs refusals); one back at its
// ceiling and quiet for Hold ends.
func (p *Pacer) Delivered(ctx context.Context, ip netip.Addr, provider string) {
	now := p.cfg.Now()
	id := paceID{ip.String(), provider}
	p.mu.Lock()
	cur, paced := p.paces[id]
	binding := now.Sub(p.until[id]) < p.cfg.Step
	p.mu.Unlock()
	if !paced || p.relaxed(cur, now, binding) == relaxNone {
		return
	}
	changed := false
	pc, err := p.update(ctx, id.ip, provider, func(cur *Pace) *Pace {
		if cur == nil {
			return nil
		}
		switch r := p.relaxed(*cur, now, binding); r {
		case relaxNone:
			return cur
		case relaxEnd:
			changed = true
			return nil
		default:
			changed = true
			c := *cur
			c.Rate = r
			c.Conns = min(c.Conns+1, p.cfg.Conns)
			c.Raised = now
			return &c
		}
	})
	if err != nil {
		p.log.Warn("relaxing an IP's pace", "source_ip", id.ip, "provider", provider, "err", err)
		return
	}
	if !changed {
		return
	}
	if pc.IP == "" {
		p.log.Info("IP pace ended", "source_ip", id.ip, "provider", provider)
		return
	}
	p.log.Info("IP pace relaxed", "source_ip", id.ip, "provider", provider, "rate", pc.Rate, "conns", pc.Conns)
}

// relaxNone and relaxEnd are what relaxed says besides a new rate.
const (
	relaxNone = 0
	relaxEnd  = -1
)

// relaxed is what a clean delivery at now does to pc, binding telling
// whether the pace held a message back on this node in the last Step:
// nothing (relaxNone: the last step or complaint is under a Step old, or
// the rate is just under the latest complaint's and the Hold has not
// passed), end it (relaxEnd: back at the ceiling, quiet for the Hold, and
// holding nothing back, so that its end lets no queued burst out), or the
// new rate. Quiet for the Hold but still holding mail back at the ceiling,
// it keeps rising past it: the receiver takes that rate now.
func (p *Pacer) relaxed(pc Pace, now time.Time, binding bool) int {
	if now.Sub(pc.Raised) < p.cfg.Step {
		return relaxNone
	}
	quiet := now.Sub(pc.Last) >= p.cfg.Hold
	if pc.Rate >= pc.Ceiling && quiet && !binding {
		return relaxEnd
	}
	top := max(pc.Ceiling, pc.Rate)
	switch {
	case !quiet && pc.Limit > 0:
		top = min(top, max(pc.Limit-1, pc.Rate))
	case quiet && binding:
		top = max(top, pc.Rate+max(1, pc.Rate/4))
	}
	if pc.Rate >= top {
		return relaxNone
	}
	return min(pc.Rate+max(1, pc.Rate/4), top)
}

// recent counts the messages this node sent from id in the last window
// and forgets older ones. Called with p.mu held.
func (p *Pacer) recent(id paceID, now time.Time) int {
	ts := p.sent[id]
	cut := sort.Search(len(ts), func(i int) bool { return now.Sub(ts[i]) < p.cfg.Window })
	ts = ts[cut:]
	if len(ts) == 0 {
		delete(p.sent, id)
	} else {
		p.sent[id] = ts
	}
	return len(ts)
}

// maxRemembered bounds the send times kept per IP and provider: enough to
// start a pace from, whatever the volume.
const maxRemembered = 4096

// admit reports whether ip may send one message to provider now, counting
// it: unpaced, it is remembered on this node only (to start a pace from);
// paced, it is counted in the shared state against the pace's rate. A
// refusal keeps the IP from provider until the rate frees.
func (p *Pacer) admit(ctx context.Context, ip netip.Addr, provider string) bool {
	now := p.cfg.Now()
	id := paceID{ip.String(), provider}
	p.mu.Lock()
	pc, paced := p.paces[id]
	if !paced {
		p.recent(id, now)
		if ts := p.sent[id]; len(ts) >= maxRemembered {
			p.sent[id] = ts[1:]
		}
		p.sent[id] = append(p.sent[id], now)
		p.mu.Unlock()
		return true
	}
	if now.Before(p.until[id]) {
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	d, err := p.cfg.State.Take(ctx, "pace:"+id.ip+":"+provider, 1, now, paceWindows(p.cfg.Window, p.cfg.Tick, pc.Rate))
	if err == nil && d.Allowed {
		return true
	}
	until := now.Add(p.cfg.Window / 6)
	if err == nil && d.Frees.After(now) {
		until = d.Frees
	} else if err != nil {
		p.log.Warn("counting a paced IP's messages", "source_ip", id.ip, "provider", provider, "err", err)
	}
	p.mu.Lock()
	p.until[id] = until
	p.mu.Unlock()
	return false
}

// paceWindows are the limits of a pace of rate messages per window: at
// most rate in any window, spread evenly over it in slots no shorter than
// tick (one message per window/rate, or a share of rate per tick). A
// receiver counting over a sliding window (Gmail's "unusual rate" is per
// minute) sees the messages spread; rate sent as one burst each time the
// window frees would land next to the previous burst whenever the network
// delays one more than the other, and be refused again.
func paceWindows(window, tick time.Duration, rate int) []state.Window {
	w := []state.Window{{Size: window, Max: rate}}
	slots := rate
	if tick > 0 {
		slots = min(slots, int(window/tick))
	}
	if slots > 1 {
		w = append(w, state.Window{Size: window / time.Duration(slots), Max: (rate + slots - 1) / slots})
	}
	return w
}

// UsableAt implements untilHealth: when ip's pace for provider frees (zero:
// now).
func (p *Pacer) UsableAt(ip netip.Addr, provider string) time.Time {
	id := paceID{ip.String(), provider}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, paced := p.paces[id]; !paced {
		return time.Time{}
	}
	if u := p.until[id]; p.cfg.Now().Before(u) {
		return u
	}
	return time.Time{}
}

// Usable implements Health.
func (p *Pacer) Usable(ip netip.Addr, provider string) bool { return p.UsableAt(ip, provider).IsZero() }

// nextSlot is when ip may send to provider again at its pace: the end of
// a known wait, or one message's share of the window; zero when unpaced.
func (p *Pacer) nextSlot(ip netip.Addr, provider string) time.Time {
	id := paceID{ip.String(), provider}
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	pc, paced := p.paces[id]
	if !paced {
		return time.Time{}
	}
	if u := p.until[id]; now.Before(u) {
		return u
	}
	return now.Add(p.cfg.Window / time.Duration(max(pc.Rate, 1)))
}

// conns is how many connections ip may hold to provider: Conns unpaced.
func (p *Pacer) conns(ip netip.Addr, provider string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc, paced := p.paces[paceID{ip.String(), provider}]; paced {
		return pc.Conns
	}
	return p.cfg.Conns
}

// Paces returns the paces in force, by IP then provider.
func (p *Pacer) Paces() []Pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Pace, 0, len(p.paces))
	for _, pc := range p.paces {
		out = append(out, pc)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IP != out[j].IP {
			return out[i].IP < out[j].IP
		}
		return out[i].Provider < out[j].Provider
	})
	return out
}

// Window is the span a pace's rate counts over.
func (p *Pacer) Window() time.Duration { return p.cfg.Window }
