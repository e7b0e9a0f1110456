// Package deliver is the delivery worker: it takes leased deliveries for
// one recipient domain, finds the domain's MX, connects to each MX host from
// a source IP the pool picks for that host's provider, says EHLO with that
// IP's name, starts TLS when offered, sends the messages over one connection
// and has each reply classified. A reply that blocks the source IP suspends
// it. It implements queue.Courier.
package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"sendpool/internal/dns"
	"sendpool/internal/history"
	"sendpool/internal/pool"
	"sendpool/internal/queue"
)

// BodySource gives a message's body, as queue.Store does.
type BodySource interface {
	Body(ctx context.Context, messageID string) ([]byte, error)
}

// BodyOpener is a BodySource that gives a large body as a reader of its
// chunks (both stores do), so that delivering it never holds it whole
// (issue 13). The courier uses it when its BodySource has it.
type BodyOpener interface {
	OpenBody(ctx context.Context, messageID string) (queue.StoredBody, error)
}

// openBody returns the body of a message to deliver.
func (c *Courier) openBody(ctx context.Context, id string) (queue.StoredBody, error) {
	if o, ok := c.cfg.Store.(BodyOpener); ok {
		return o.OpenBody(ctx, id)
	}
	b, err := c.cfg.Store.Body(ctx, id)
	return queue.StoredBody{Bytes: b, Size: int64(len(b))}, err
}

// Sources is the pool as the courier uses it: one choice of a source IP
// per message, one report per reply; *pool.Pool implements it. Which IPs
// are suspended, capped in warm-up or paced stays behind it.
type Sources interface {
	Choose(ctx context.Context, req pool.Request) pool.Choice
	// Report tells what a receiver replied to an attempt from an IP; for
	// a block or a rate limit it says when to try again (now: another IP
	// may), zero leaving it to the schedule.
	Report(ctx context.Context, r pool.Reply) (retry time.Time)
}

// Config is what a Courier needs. Zero durations and counts take the
// defaults noted.
type Config struct {
	Resolver   dns.Resolver
	Pool       Sources
	Store      BodySource
	Classifier Classifier // nil: by the reply code's class only
	Port       int        // receivers' SMTP port; 0: 25
	// Provider names the provider of an MX host (classify's
	// Classifier.Provider): the destination the pool picks a source IP for
	// and that provider-scoped suspensions match. nil: the host itself.
	Provider func(mx string) string
	// Routes, if set, gives the fixed host[:port] of a recipient domain
	// that takes it instead of its MX (a hosted domain's inbound_host,
	// SPEC §7); ok false: MX lookup as usual.
	Routes func(ctx context.Context, domain string) (hostport string, ok bool, err error)
	// Replies is told of every reply to an attempt from a source IP, once
	// per reply however many recipients share it; nil: nobody.
	Replies ReplyLog
	// MaxConnsPerMX caps concurrent connections to one MX host, and
	// MaxConnsPerIPProvider those from one source IP to one provider; 0: 10.
	MaxConnsPerMX         int
	MaxConnsPerIPProvider int
	// AllowedNetworks are destinations allowed although private, loopback
	// or link-local.
	AllowedNetworks []netip.Prefix
	ConnectTimeout  time.Duration // 0: 30s
	// CommandTimeout bounds each command's reply; DataTimeout the message
	// transfer and its final reply. Defaults follow RFC 5321 §4.5.3.2:
	// 5 and 10 minutes.
	CommandTimeout        time.Duration
	DataTimeout           time.Duration
	MessagesPerConnection int              // 0: 100
	Now                   func() time.Time // nil: time.Now
	Logger                *slog.Logger     // nil: discard
	// TLS decides what TLS each MX host needs (tls.go); nil: opportunistic
	// TLS everywhere. TLSReports is told how each session went; nil:
	// nobody. RootCAs check certificates where a policy asks (nil: the
	// system's roots).
	TLS        TLSPolicies
	TLSReports TLSReports
	RootCAs    *x509.CertPool
}

// ReplyLog keeps the recent replies per source IP; *history.Replies
// implements it. Add must not block: it is on the delivery path.
type ReplyLog interface {
	Add(history.Reply)
}

// Courier delivers groups of leases. It is safe for concurrent use.
type Courier struct {
	cfg    Config
	log    *slog.Logger
	limits limits
	idle   *idlePool // connections kept between groups (reuse.go)
	// sessions are TLS sessions kept for resumption (tls.go).
	sessions tls.ClientSessionCache
}

var _ queue.Courier = (*Courier)(nil)

// New returns a Courier for cfg.
func New(cfg Config) *Courier {
	if cfg.Classifier == nil {
		cfg.Classifier = basicClassifier{}
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = 10 * time.Minute
	}
	if cfg.MessagesPerConnection <= 0 {
		cfg.MessagesPerConnection = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Provider == nil {
		cfg.Provider = func(mx string) string { return strings.ToLower(strings.TrimSuffix(mx, ".")) }
	}
	if cfg.MaxConnsPerMX <= 0 {
		cfg.MaxConnsPerMX = 10
	}
	if cfg.MaxConnsPerIPProvider <= 0 {
		cfg.MaxConnsPerIPProvider = 10
	}
	if cfg.TLS == nil {
		cfg.TLS = opportunistic{}
	}
	return &Courier{cfg: cfg, log: cfg.Logger, limits: limits{
		maxMX:         cfg.MaxConnsPerMX,
		perMX:         newSlots(),
		perIPProvider: newSlots(),
	}, idle: newIdlePool(), sessions: tls.NewLRUClientSessionCache(sessionCacheSize)}
}

// batch is one message's leases within a group (indexes into it) that go
// from the same source IP: nextIP is the IP a greylisting receiver expects
// back ("": any).
type batch struct {
	id     string
	nextIP string
	idx    []int
}

// run is one call of Deliver: the group and the results so far.
type run struct {
	c      *Courier
	ctx    context.Context // for logging
	group  []*queue.Lease
	res    []queue.Result
	done   []bool
	domain string
	// replies go to Config.Replies when the group is done.
	replies []history.Reply
	// reported is the last outcome told to the pool (one report a reply,
	// however many leases share it), retry its answer.
	reported *outcome
	retry    time.Time
}

// Deliver attempts every lease of group, which all go to one recipient
// domain, and returns one result each in the same order.
func (c *Courier) Deliver(ctx context.Context, group []*queue.Lease) []queue.Result {
	if exempt, rest := splitExempt(group); len(exempt) > 0 && len(rest) > 0 {
		// Mail exempt from TLS policies goes over connections of its own.
		res := make([]queue.Result, 0, len(group))
		res = append(res, c.Deliver(ctx, exempt)...)
		res = append(res, c.Deliver(ctx, rest)...)
		return unsplit(group, exempt, res)
	}
	r := &run{c: c, ctx: ctx, group: group, res: make([]queue.Result, len(group)), done: make([]bool, len(group))}
	if len(group) == 0 {
		return r.res
	}
	r.domain = group[0].Domain
	r.deliver(ctx)
	// Whatever ctx cut short was not attempted: it is due again.
	for i := range group {
		if !r.done[i] {
			r.apply(outcome{reply: "not attempted: " + errText(context.Cause(ctx)), class: queue.Classification{
				Verdict: queue.VerdictDeferred, Category: "timeout", Rule: "not-attempted"}}, i)
		}
	}
	for _, x := range r.replies {
		c.cfg.Replies.Add(x)
	}
	return r.res
}

func errText(err error) string {
	if err == nil {
		return "interrupted"
	}
	return err.Error()
}

func (r *run) deliver(ctx context.Context) {
	c := r.c
	start := c.cfg.Now()
	targets, o := c.route(ctx, r.domain)
	if o != nil {
		o.start = start
		r.apply(*o, r.undone()...)
		return
	}
	hosts := byHost(targets)
	mxs := make([]string, len(hosts))
	for i, h := range hosts {
		mxs[i] = h.mx
	}
	plan := c.cfg.TLS.Plan(ctx, r.domain, mxs, r.group[0].TLSOptional)
	pending := r.batches()
	for len(pending) > 0 && ctx.Err() == nil && queue.Held(ctx) {
		var chunk []batch
		chunk, pending = takeChunk(pending, c.cfg.MessagesPerConnection)
		head := r.group[chunk[0].idx[0]]
		s, f := c.connect(ctx, hosts, plan, head.TriedIPs, chunk[0].nextIP, len(chunk[0].idx))
		if f != nil {
			// Another connection now would meet the same fate.
			r.apply(*f, r.undone()...)
			return
		}
		// A kept connection has carried messages already: keep to
		// messages_per_connection over its whole life.
		if room := c.cfg.MessagesPerConnection - s.sent; len(chunk) > room {
			pending = append(chunk[room:len(chunk):len(chunk)], pending...)
			chunk = chunk[:room]
		}
		rest, stop := r.transfer(ctx, s, chunk)
		c.finish(s, len(chunk)-len(rest), rest == nil && !stop)
		if stop {
			return
		}
		pending = append(rest, pending...)
	}
}

// batches splits the group into one batch per message and source IP wish,
// in the group's order.
func (r *run) batches() []batch {
	var out []batch
	pos := map[[2]string]int{}
	for i, l := range r.group {
		key := [2]string{l.MessageID, l.NextIP}
		k, ok := pos[key]
		if !ok {
			k = len(out)
			pos[key] = k
			out = append(out, batch{id: l.MessageID, nextIP: l.NextIP})
		}
		out[k].idx = append(out[k].idx, i)
	}
	return out
}

// takeChunk takes up to n batches that wish for the same source IP as the
// first, for one connection, and returns them and the others in order.
func takeChunk(pending []batch, n int) (chunk, rest []batch) {
	want := pending[0].nextIP
	for _, b := range pending {
		if b.nextIP == want && len(chunk) < n {
			chunk = append(chunk, b)
		} else {
			rest = append(rest, b)
		}
	}
	return chunk, rest
}

// transfer sends the chunk's messages over s. It returns the batches not
// tried when the connection broke, and stop when the rest of the group
// must not be tried now.
func (r *run) transfer(ctx context.Context, s *session, chunk []batch) (rest []batch, stop bool) {
	for k, b := range chunk {
		idx := r.undoneOf(b.idx)
		if len(idx) == 0 {
			continue
		}
		if !queue.Held(ctx) {
			// The leases ended unrenewed (this node was paused, or cut off
			// from the store): another node may be delivering them now.
			r.c.log.Warn("leases no longer held: stopping before the next message", "mx", s.mx)
			return chunk[k:], true
		}
		// The first message was counted when the connection's IP was
		// chosen for it; each next one asks whether that IP may still
		// carry it (suspended meanwhile, at its warm-up cap, at its pace).
		if k > 0 && !r.c.cfg.Pool.Choose(ctx, pool.Request{Destination: s.dest, Only: s.src.String(), Rcpts: len(idx)}).OK {
			r.c.log.Info("source IP may not send more now, leaving its connection", "source_ip", s.src.String(), "mx", s.mx, "destination", s.dest)
			return chunk[k:], false
		}
		body, err := r.c.openBody(ctx, b.id)
		if err != nil {
			// Ours, not the receiver's: no attempt was made.
			r.apply(outcome{reply: "reading message: " + err.Error(), class: queue.Classification{
				Verdict: queue.VerdictDeferred, Category: "store", Rule: "body-unavailable"}}, idx...)
			continue
		}
		switch st, o := r.send(s, idx, body); st {
		case connBroken:
			return chunk[k+1:], false
		case connRejected:
			// RFC 5321 §3.3: a 5xx to MAIL refuses the sender here; the
			// connection's other messages share its source and session.
			for _, b := range chunk[k+1:] {
				r.apply(o, r.undoneOf(b.idx)...)
			}
			return nil, false
		case connBlocked:
			// The source IP is refused: the scheduler retries the rest of
			// the group from another one.
			r.apply(o, r.undone()...)
			return nil, true
		}
	}
	return nil, false
}

// outcome is what came of one attempt, for one or more leases: the
// receiver's reply or the error on the way to it, where (stage, MX,
// source IP) and how the classifier read it. It is made where the reply or
// the error is met (route, connect, a transaction), classified once there,
// and recorded by apply; the one-line reply is what storage keeps.
type outcome struct {
	start         time.Time // zero: no attempt was made
	src, mx, addr string
	stage, reply  string
	note          string // appended to the recorded response
	class         queue.Classification
	retryAt       time.Time // when an attempt may succeed, if known sooner than the schedule
	dest          string    // the MX host's provider (the pool's destination)
	tls           queue.TLS // how the connection was protected (tls.go)
}

// apply records o as the result of the leases idx that have none yet, and
// logs each one.
func (r *run) apply(o outcome, idx ...int) {
	now := r.c.cfg.Now()
	resp := o.reply
	if o.note != "" {
		resp += " [" + o.note + "]"
	}
	var dur time.Duration
	if !o.start.IsZero() {
		dur = now.Sub(o.start)
	}
	var recorded []int
	for _, i := range idx {
		if r.done[i] {
			continue
		}
		r.done[i] = true
		recorded = append(recorded, i)
		l := r.group[i]
		r.res[i] = queue.Result{
			Verdict: o.class.Verdict,
			Scope:   o.class.Scope,
			Attempt: queue.Attempt{
				Time: o.start, SourceIP: o.src, MX: o.mx, MXAddr: o.addr, Response: resp,
				Verdict: string(o.class.Verdict), Category: o.class.Category, Duration: dur, TLS: o.tls,
			},
			Greylisted: o.class.Category == "greylist",
			RetryAt:    o.retryAt,
		}
		level := slog.LevelInfo
		if o.class.Verdict != queue.VerdictDelivered {
			level = slog.LevelWarn
		}
		r.c.log.Log(r.ctx, level, "delivery attempt",
			"message_id", l.MessageID, "delivery", l.ID, "recipient_domain", r.domain,
			"source_ip", o.src, "mx", o.mx, "mx_addr", o.addr, "stage", o.stage, "reply", resp,
			"verdict", o.class.Verdict, "category", o.class.Category, "rule", o.class.Rule, "duration", dur,
			"tls", o.tls.Version, "tls_verified", o.tls.Verified, "tls_policy", o.tls.Policy)
	}
	if o.src != "" && !o.start.IsZero() && len(recorded) > 0 {
		r.report(o, recorded)
		r.reply(history.Reply{Time: o.start, SourceIP: o.src, MX: o.mx, MXAddr: o.addr, Domain: r.domain,
			Response: resp, Verdict: string(o.class.Verdict), Category: o.class.Category, Rcpts: len(recorded)})
	}
	if o.class.Verdict == queue.VerdictDelivered {
		// Recorded now, not when the whole group is done: a node killed
		// mid-group must not send these again (queue/early.go).
		for _, i := range recorded {
			queue.Delivered(r.ctx, r.group[i], r.res[i])
		}
	}
}

// report tells the pool what the receiver replied, once per reply (a
// block given to the rest of the group is the same reply), and takes its
// word on when the leases recorded may be tried again.
func (r *run) report(o outcome, recorded []int) {
	if o.class.Category == "tls" {
		// A host that cannot give the TLS a policy requires says nothing
		// of the source IP: its warm-up and pace are not the receiver's
		// TLS set-up's to judge.
		return
	}
	if r.reported == nil || !r.reported.start.Equal(o.start) || r.reported.src != o.src || r.reported.reply != o.reply {
		r.reported = &o
		var tried []string
		for _, i := range recorded {
			tried = append(tried, r.group[i].TriedIPs...)
		}
		r.retry = r.c.cfg.Pool.Report(r.ctx, pool.Reply{IP: o.src, Destination: o.dest, Tried: tried,
			Verdict: string(o.class.Verdict), Category: o.class.Category, Scope: o.class.Scope, Text: o.reply})
	}
	if r.retry.IsZero() {
		return
	}
	for _, i := range recorded {
		if r.res[i].RetryAt.IsZero() || r.retry.Before(r.res[i].RetryAt) {
			r.res[i].RetryAt = r.retry
		}
	}
}

// reply gathers x for Config.Replies: the same reply given to several
// leases of the group (a refused MAIL, a block that ends the connection)
// is one entry with their count.
func (r *run) reply(x history.Reply) {
	if r.c.cfg.Replies == nil {
		return
	}
	for i, y := range r.replies {
		if y.Time.Equal(x.Time) && y.SourceIP == x.SourceIP && y.MXAddr == x.MXAddr && y.Response == x.Response && y.Verdict == x.Verdict {
			r.replies[i].Rcpts += x.Rcpts
			return
		}
	}
	r.replies = append(r.replies, x)
}

func (r *run) undone() []int { return r.undoneOf(nil) }

// undoneOf returns the leases among idx (nil: all) without a result.
func (r *run) undoneOf(idx []int) []int {
	var out []int
	if idx == nil {
		for i := range r.group {
			if !r.done[i] {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range idx {
		if !r.done[i] {
			out = append(out, i)
		}
	}
	return out
}
