package tlsrpt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"sendpool/internal/queue"
	"sendpool/internal/state"
)

// State is the shared state the counts, the leases and the marks of
// reports sent live in; state.State implements it.
type State interface {
	Take(ctx context.Context, key string, n int, now time.Time, windows []state.Window) (state.Decision, error)
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Record(ctx context.Context, key string, keep int, ttl time.Duration, values ...[]byte) error
	Recent(ctx context.Context, key string, n int) ([][]byte, error)
}

// Putter queues a message; queue.Store implements it.
type Putter interface {
	Put(ctx context.Context, m *queue.Message) error
}

// Config configures Reports.
type Config struct {
	State    State
	Resolver Resolver
	// Period is the span of one report, periods starting at UTC midnight
	// (delivery.tls_rpt_period): a day.
	Period time.Duration
	// Organization is the report's organization-name (server.hostname).
	Organization string
	// From sends the reports by mail and is their contact-info
	// (delivery.tls_rpt_from); its domain is the submitter (§5.3).
	From string
	// Queue takes the reports by mail, exempt from TLS policies
	// (queue.Message.TLSOptional); they expire after MaxQueueTime.
	Queue        Putter
	MaxQueueTime time.Duration
	OnQueued     func() // wakes the scheduler; may be nil
	// Sign DKIM-signs a report by mail; nil: unsigned.
	Sign func(ctx context.Context, msg []byte) ([]byte, error)
	// HTTP posts the reports to https: URIs (httpout).
	HTTP   *http.Client
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// maxEntries bounds one period's list in the state: a flush a minute from
// each of many nodes for a day.
const maxEntries = 200000

// Reports counts sessions and sends reports. Safe for concurrent use.
type Reports struct {
	cfg   Config
	log   *slog.Logger
	flush time.Duration // how often counts go to the state

	mu      sync.Mutex
	pending counts
	leases  map[time.Time]time.Time // periods this node holds the lease of, until when
}

// New returns Reports for cfg.
func New(cfg Config) *Reports {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reports{cfg: cfg, log: cfg.Logger, flush: min(cfg.Period/4, time.Minute),
		pending: counts{}, leases: map[time.Time]time.Time{}}
}

// grace is how long after a period ends its report waits: every node's
// last counts of it must have reached the state.
func (r *Reports) grace() time.Duration { return 3 * r.flush }

// retention is how long a period's counts and marks are kept: past the
// lookback (a report not sent by then is given up).
func (r *Reports) retention() time.Duration {
	return r.cfg.Period + r.lookback()*r.cfg.Period + time.Hour
}

// lookback is how many past periods are looked at for a report to send.
func (r *Reports) lookback() time.Duration {
	return time.Duration(max(1, min(20, int(48*time.Hour/r.cfg.Period))))
}

// leaseFor is how long one node holds the sending of a period's reports.
func (r *Reports) leaseFor() time.Duration { return max(10*r.flush, 2*time.Second) }

// Run flushes the counts and sends the reports due until ctx ends, then
// flushes once more.
func (r *Reports) Run(ctx context.Context) {
	t := time.NewTicker(r.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("tlsrpt: last flush", "err", err)
			}
			return
		case <-t.C:
		}
		if err := r.Flush(ctx); err != nil {
			r.log.Warn("tlsrpt: flush", "err", err)
		}
		r.SendDue(ctx)
	}
}

// SendDue sends the reports of the periods that ended (and settled) whose
// lease this node holds or can take. Another node holding it sends them.
func (r *Reports) SendDue(ctx context.Context) {
	now := r.cfg.Now()
	cur := now.UTC().Truncate(r.cfg.Period)
	for k := time.Duration(1); k <= r.lookback(); k++ {
		start := cur.Add(-k * r.cfg.Period)
		if now.Before(start.Add(r.cfg.Period + r.grace())) {
			continue
		}
		if r.marked(ctx, doneKey(start)) || !r.lease(ctx, start, now) {
			continue
		}
		if r.sendPeriod(ctx, start) {
			r.mark(ctx, doneKey(start))
		}
	}
}

// lease takes or keeps the right to send start's reports, so that one
// node sends them: a Take of one event in a window of leaseFor, which no
// other node gets until it ages out.
func (r *Reports) lease(ctx context.Context, start, now time.Time) bool {
	r.mu.Lock()
	until, held := r.leases[start]
	r.mu.Unlock()
	if held && now.Before(until) {
		return true
	}
	d, err := r.cfg.State.Take(ctx, "tlsrpt-lease:"+strconv.FormatInt(start.Unix(), 10), 1, now,
		[]state.Window{{Size: r.leaseFor(), Max: 1}})
	if err != nil || !d.Allowed {
		return false
	}
	r.mu.Lock()
	r.leases[start] = now.Add(r.leaseFor())
	for s, u := range r.leases {
		if now.After(u) {
			delete(r.leases, s)
		}
	}
	r.mu.Unlock()
	return true
}

// sendPeriod sends every domain's report of the period starting at
// start; true when none is left to send.
func (r *Reports) sendPeriod(ctx context.Context, start time.Time) bool {
	values, err := r.cfg.State.Recent(ctx, listKey(start), maxEntries)
	if err != nil {
		r.log.Warn("tlsrpt: reading counts", "period", dateTime(start), "err", err)
		return false
	}
	byDomain := map[string]map[string]*PolicyResult{}
	for _, v := range values {
		var entry []PolicyResult
		if err := jsonUnmarshal(v, &entry); err != nil {
			continue
		}
		merge(byDomain, entry)
	}
	domains := make([]string, 0, len(byDomain))
	for d := range byDomain {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	all := true
	for _, d := range domains {
		if r.marked(ctx, sentKey(start, d, "")) {
			continue
		}
		var ps []PolicyResult
		for _, p := range byDomain[d] {
			ps = append(ps, *p)
		}
		if r.sendDomain(ctx, start, d, ps) {
			r.mark(ctx, sentKey(start, d, ""))
		} else {
			all = false
		}
	}
	return all
}

// sendDomain sends domain's report to each of its URIs not yet sent to;
// true when every one has it (or the domain no longer asks for it).
func (r *Reports) sendDomain(ctx context.Context, start time.Time, domain string, ps []PolicyResult) bool {
	rec, err := LookupRecord(ctx, r.cfg.Resolver, domain)
	if errors.Is(err, ErrNoRecord) || errors.Is(err, ErrSyntax) {
		return true
	}
	if err != nil {
		r.log.Warn("tlsrpt: looking up where reports go", "domain", domain, "err", err)
		return false
	}
	sortPolicies(ps)
	rep := &Report{
		OrganizationName: r.cfg.Organization,
		DateRange:        NewDateRange(start, r.cfg.Period),
		ContactInfo:      r.cfg.From,
		ReportID:         start.UTC().Format("20060102T150405Z") + "." + randomHex(8) + "@" + r.submitter(),
		Policies:         ps,
	}
	gz, err := rep.Gzip()
	if err != nil {
		r.log.Error("tlsrpt: encoding a report", "domain", domain, "err", err)
		return true
	}
	ok := true
	for _, uri := range rec.RUA {
		if r.marked(ctx, sentKey(start, domain, uri)) {
			continue
		}
		if strings.HasPrefix(strings.ToLower(uri), "mailto:") {
			err = r.mail(ctx, rep, domain, uri, start, gz)
		} else {
			err = r.post(ctx, uri, gz)
		}
		if err != nil {
			r.log.Warn("tlsrpt: report not sent", "domain", domain, "rua", uri, "err", err)
			ok = false
			continue
		}
		r.mark(ctx, sentKey(start, domain, uri))
		r.log.Info("tlsrpt: report sent", "domain", domain, "rua", uri, "period", rep.DateRange.Start,
			"report_id", rep.ReportID, "policies", len(ps))
	}
	return ok
}

// submitter is the reporting domain (§5.3): From's.
func (r *Reports) submitter() string {
	_, d, _ := strings.Cut(r.cfg.From, "@")
	return d
}

func (r *Reports) marked(ctx context.Context, key string) bool {
	_, ok, err := r.cfg.State.Get(ctx, key)
	return err == nil && ok
}

func (r *Reports) mark(ctx context.Context, key string) {
	if err := r.cfg.State.Set(ctx, key, []byte{1}, r.retention()); err != nil {
		r.log.Warn("tlsrpt: marking a report sent", "key", key, "err", err)
	}
}

func doneKey(start time.Time) string { return "tlsrpt-done:" + strconv.FormatInt(start.Unix(), 10) }

func sentKey(start time.Time, domain, uri string) string {
	k := "tlsrpt-sent:" + strconv.FormatInt(start.Unix(), 10) + ":" + domain
	if uri != "" {
		k += ":" + uri
	}
	return k
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
