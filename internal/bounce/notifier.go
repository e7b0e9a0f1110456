package bounce

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"sendpool/internal/queue"
)

// Store is what a Notifier needs of the queue: the original's body (for its
// headers) and attempts (for the last reply), and Put for the DSN.
type Store interface {
	Put(ctx context.Context, m *queue.Message) error
	Body(ctx context.Context, messageID string) ([]byte, error)
	GetMessage(ctx context.Context, id string) (*queue.MessageDetail, error)
}

// Config configures a Notifier.
type Config struct {
	Store    Store
	Hostname string // server.hostname: Reporting-MTA and MAILER-DAEMON@
	// MaxQueueTime is how long the DSN itself is retried; 0: 72h.
	MaxQueueTime time.Duration
	// Gather is how long recipients of one message that fail together are
	// collected into one DSN; 0: one second. A crash inside it loses the
	// DSN (the recipients are already recorded as bounced).
	Gather   time.Duration
	OnQueued func() // wakes the scheduler; may be nil
	Now      func() time.Time
	Logger   *slog.Logger
}

// maxHeaders caps the original header section attached to a DSN.
const maxHeaders = 64 << 10

// Notifier turns final bounces and delay notices of the scheduler into DSNs
// queued to the original envelope sender. Its Failed and Delayed methods are
// queue.SchedulerConfig's OnFinal and OnDelay.
type Notifier struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending map[pendingKey]*pendingDSN
	closed  bool
	wg      sync.WaitGroup // flushes in flight
}

// pendingKey gathers the recipients of one message with one action.
type pendingKey struct {
	messageID string
	action    Action
}

type pendingDSN struct {
	lease queue.Lease // the first recipient's: the message fields
	rcpts []Recipient
	// lastFromStore marks recipients whose final round made no attempt:
	// their last reply is looked up among the recorded attempts.
	lastFromStore []bool
	timer         *time.Timer
}

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.MaxQueueTime <= 0 {
		cfg.MaxQueueTime = 72 * time.Hour
	}
	if cfg.Gather <= 0 {
		cfg.Gather = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, log: cfg.Logger, pending: map[pendingKey]*pendingDSN{}}
}

// Failed is called once a delivery is final (SchedulerConfig.OnFinal); a
// bounced one gets a DSN with Action: failed.
func (n *Notifier) Failed(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
	if o.Status != queue.StatusBounced {
		return
	}
	n.add(l, ActionFailed, o, r)
}

// Delayed is called when a delivery, still deferred, has waited long enough
// for a delay notice (SchedulerConfig.OnDelay).
func (n *Notifier) Delayed(ctx context.Context, l *queue.Lease, o queue.Outcome, r queue.Result) {
	if o.Status != queue.StatusDeferred {
		return
	}
	n.add(l, ActionDelayed, o, r)
}

func (n *Notifier) add(l *queue.Lease, action Action, o queue.Outcome, r queue.Result) {
	// RFC 3464 §2 / RFC 5321 §4.5.5: nothing goes to a null sender, and a
	// DSN of ours never causes another, whatever its sender says.
	if l.Bounce {
		n.log.Info("no DSN for a DSN", "message_id", l.MessageID, "delivery", l.ID, "action", action)
		return
	}
	if l.From == "" {
		n.log.Info("no DSN for a null sender", "message_id", l.MessageID, "delivery", l.ID, "action", action)
		return
	}
	rc := recipientFor(l, action, o, r)
	noAttempt := r.Attempt.Time.IsZero()
	key := pendingKey{l.MessageID, action}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		// Past Close (a straggling report): send at once.
		n.wg.Add(1)
		go n.send(key, &pendingDSN{lease: *l, rcpts: []Recipient{rc}, lastFromStore: []bool{noAttempt}})
		return
	}
	if p, ok := n.pending[key]; ok {
		p.rcpts = append(p.rcpts, rc)
		p.lastFromStore = append(p.lastFromStore, noAttempt)
		return
	}
	p := &pendingDSN{lease: *l, rcpts: []Recipient{rc}, lastFromStore: []bool{noAttempt}}
	n.pending[key] = p
	p.timer = time.AfterFunc(n.cfg.Gather, func() { n.flush(key) })
}

// recipientFor describes one recipient from its lease and outcome. For an
// expired delivery the diagnostic is the last real reply, not our note.
func recipientFor(l *queue.Lease, action Action, o queue.Outcome, r queue.Result) Recipient {
	rc := Recipient{
		Address:     l.Recipient,
		Action:      action,
		Category:    o.Attempt.Category,
		Reply:       r.Attempt.Response,
		RemoteMTA:   r.Attempt.MX,
		LastAttempt: r.Attempt.Time,
	}
	if r.Attempt.Time.IsZero() {
		// No attempt this time (every IP suspended, say): the last reply
		// recorded before is the one to show.
		rc.RemoteMTA, rc.LastAttempt = "", time.Time{}
		if l.Response != "" {
			rc.Reply = l.Response
		}
	}
	if rc.Category == "" {
		rc.Category = r.Attempt.Category
	}
	if action == ActionDelayed {
		rc.WillRetryUntil = l.Expires
	}
	return rc
}

// flush sends the pending DSN of key, if still pending.
func (n *Notifier) flush(key pendingKey) {
	n.mu.Lock()
	p, ok := n.pending[key]
	if ok {
		delete(n.pending, key)
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if ok {
		n.send(key, p)
	}
}

// Flush sends every pending DSN now.
func (n *Notifier) Flush() {
	n.mu.Lock()
	keys := make([]pendingKey, 0, len(n.pending))
	for k, p := range n.pending {
		p.timer.Stop()
		keys = append(keys, k)
	}
	n.mu.Unlock()
	for _, k := range keys {
		n.flush(k)
	}
}

// Close sends what is pending and waits for the DSNs being queued. Call it
// after the scheduler stopped and before the store closes.
func (n *Notifier) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.Flush()
	n.wg.Wait()
	return nil
}

// send builds and queues one DSN. It is not cancelled with the scheduler's
// context: the bounce is already recorded and the DSN must follow it.
func (n *Notifier) send(key pendingKey, p *pendingDSN) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := &p.lease
	var headers []byte
	body, err := n.cfg.Store.Body(ctx, l.MessageID)
	switch {
	case err == nil:
		headers = HeaderSection(body)
	case errors.Is(err, queue.ErrNotFound):
		// Deleted or dropped: the DSN goes without the headers part.
	default:
		n.log.Warn("DSN without headers: reading the original failed", "message_id", l.MessageID, "err", err)
	}
	n.lastReplies(ctx, p)
	now := n.cfg.Now()
	b, err := Build(&Report{
		ReportingMTA: n.cfg.Hostname,
		Sender:       l.From,
		QueueID:      l.MessageID,
		Arrival:      l.Created,
		Headers:      headers,
		Recipients:   p.rcpts,
		Date:         now,
	})
	if err != nil {
		n.log.Error("DSN not built", "message_id", l.MessageID, "err", err)
		return
	}
	m := &queue.Message{
		Account:    l.Account,
		From:       "", // RFC 5321 §4.5.5: a DSN goes from the null sender
		Recipients: []string{l.From},
		Body:       b.Body,
		Created:    now,
		Expires:    now.Add(n.cfg.MaxQueueTime),
		Bounce:     true,
	}
	if err := n.cfg.Store.Put(ctx, m); err != nil {
		n.log.Error("DSN not queued", "message_id", l.MessageID, "action", key.action, "err", err)
		return
	}
	rcpts := make([]string, len(p.rcpts))
	for i, rc := range p.rcpts {
		rcpts[i] = rc.Address
	}
	n.log.Info("DSN queued", "message_id", l.MessageID, "dsn_id", m.ID, "action", key.action,
		"to", l.From, "recipients", rcpts)
	if n.cfg.OnQueued != nil {
		n.cfg.OnQueued()
	}
}

// lastReplies fills in, for recipients whose final round made no attempt
// (every IP suspended, say), the last attempt recorded for them that reached
// out from a source IP: its reply, MX and time.
func (n *Notifier) lastReplies(ctx context.Context, p *pendingDSN) {
	if !slices.Contains(p.lastFromStore, true) {
		return
	}
	d, err := n.cfg.Store.GetMessage(ctx, p.lease.MessageID)
	if err != nil {
		if !errors.Is(err, queue.ErrNotFound) {
			n.log.Warn("DSN: reading the attempts failed", "message_id", p.lease.MessageID, "err", err)
		}
		return
	}
	for i := range p.rcpts {
		if !p.lastFromStore[i] {
			continue
		}
		rc := &p.rcpts[i]
		for _, rd := range d.Recipients {
			if rd.Address != rc.Address {
				continue
			}
			for k := len(rd.Attempts) - 1; k >= 0; k-- {
				if a := rd.Attempts[k]; a.SourceIP != "" {
					rc.Reply, rc.RemoteMTA, rc.LastAttempt = a.Response, a.MX, a.Time
					break
				}
			}
		}
	}
}

// HeaderSection returns the header section of a message, up to and
// including the CRLF that ends its last field, at most maxHeaders bytes
// (cut at a line end).
func HeaderSection(msg []byte) []byte {
	h := msg
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		h = msg[:i+2]
	} else if bytes.HasPrefix(msg, []byte("\r\n")) {
		return []byte{}
	}
	if len(h) > maxHeaders {
		h = h[:maxHeaders]
		if i := bytes.LastIndex(h, []byte("\r\n")); i >= 0 {
			h = h[:i+2]
		}
	}
	if len(h) > 0 && !bytes.HasSuffix(h, []byte("\r\n")) {
		h = append(h[:len(h):len(h)], '\r', '\n')
	}
	return h
}
