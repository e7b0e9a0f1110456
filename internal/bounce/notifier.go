package bounce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// MaxQueueTime is how long the DSN itself is retried
	// (delivery.max_queue_time); 0: it never expires.
	MaxQueueTime time.Duration
	// Gather is how long delay notices of one message's recipients are
	// collected into one DSN; 0: one second. Delayed waits for it, so the
	// deliveries are marked notified only once their DSN is stored: a crash
	// inside it loses nothing, the notices are gathered again on the next
	// round. Failures are not gathered (see Bounce).
	Gather   time.Duration
	OnQueued func() // wakes the scheduler; may be nil
	Now      func() time.Time
	Logger   *slog.Logger
}

// maxHeaders caps the original header section attached to a DSN.
const maxHeaders = 64 << 10

// Notifier turns bounces and delay notices of the scheduler into DSNs
// queued to the original envelope sender. Its Bounce and Delayed methods are
// queue.SchedulerConfig's OnBounce and OnDelay.
type Notifier struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingDSN // delay notices being gathered, by message id
	closed  bool
	wg      sync.WaitGroup // flushes in flight
}

// dsn is one DSN to queue: recipients of one message with one action.
type dsn struct {
	lease queue.Lease // the first recipient's: the message fields
	rcpts []Recipient
	// lastFromStore marks recipients whose final round made no attempt:
	// their last reply is looked up among the recorded attempts.
	lastFromStore []bool
}

func (d *dsn) add(rc Recipient, r queue.Result) {
	d.rcpts = append(d.rcpts, rc)
	d.lastFromStore = append(d.lastFromStore, r.Attempt.Time.IsZero())
}

// pendingDSN is a delay notice being gathered. Those waiting for it (the
// Delayed calls that joined it) wait for done, then read err.
type pendingDSN struct {
	dsn
	timer      *time.Timer
	deliveries map[string]bool // the delivery ids in it
	done       chan struct{}
	err        error
}

func newPending(l *queue.Lease) *pendingDSN {
	return &pendingDSN{dsn: dsn{lease: *l}, deliveries: map[string]bool{}, done: make(chan struct{})}
}

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.Gather <= 0 {
		cfg.Gather = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, log: cfg.Logger, pending: map[string]*pendingDSN{}}
}

// Bounce queues one DSN with Action: failed per original message for the
// bounced deliveries among items (SchedulerConfig.OnBounce), and returns
// once they are stored: the scheduler records the bounces only then, so
// that no crash leaves a recipient bounced and its sender untold. It fails
// only when a DSN could not be stored.
func (n *Notifier) Bounce(ctx context.Context, items []queue.BounceItem) error {
	byMessage := map[string]*dsn{}
	var order []*dsn
	for _, it := range items {
		l := it.Lease
		if it.Outcome.Status != queue.StatusBounced || !n.wanted(l, ActionFailed) {
			continue
		}
		d, ok := byMessage[l.MessageID]
		if !ok {
			d = &dsn{lease: *l}
			byMessage[l.MessageID] = d
			order = append(order, d)
		}
		d.add(recipientFor(l, ActionFailed, it.Outcome, it.Result), it.Result)
	}
	for _, d := range order {
		if err := n.send(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Delayed queues one DSN with Action: delayed per original message for the
// deferred deliveries among items (SchedulerConfig.OnDelay), gathering the
// notices of one message's recipients, from this and concurrent calls, for
// Config.Gather; ctx ending cuts the gathering short. It returns once the
// DSNs are stored: the scheduler marks the deliveries notified only then,
// so that no crash leaves a recipient marked and its sender untold. It
// fails only when a DSN could not be stored.
func (n *Notifier) Delayed(ctx context.Context, items []queue.DelayItem) error {
	var waits []*pendingDSN
	loose := map[string]*pendingDSN{} // past Close: sent at once, not gathered
	n.mu.Lock()
	for _, it := range items {
		l := it.Lease
		if it.Outcome.Status != queue.StatusDeferred || !n.wanted(l, ActionDelayed) {
			continue
		}
		p := n.join(l, loose)
		if !slices.Contains(waits, p) {
			waits = append(waits, p)
		}
		if !p.deliveries[l.ID] {
			p.deliveries[l.ID] = true
			p.add(recipientFor(l, ActionDelayed, it.Outcome, it.Result), it.Result)
		}
	}
	n.mu.Unlock()
	var errs []error
	for _, p := range waits {
		if p.timer == nil {
			// Past Close (a straggling round): its caller waits, not Close.
			p.err = n.send(context.WithoutCancel(ctx), &p.dsn)
		} else {
			select {
			case <-p.done:
			case <-ctx.Done():
				n.flush(p.lease.MessageID)
				<-p.done
			}
		}
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errors.Join(errs...)
}

// join returns the delay notice being gathered for l's message, started if
// there is none. Past Close it is one of loose, with no timer. Called with
// n.mu held.
func (n *Notifier) join(l *queue.Lease, loose map[string]*pendingDSN) *pendingDSN {
	id := l.MessageID
	if n.closed {
		if loose[id] == nil {
			loose[id] = newPending(l)
		}
		return loose[id]
	}
	if p, ok := n.pending[id]; ok {
		return p
	}
	p := newPending(l)
	n.pending[id] = p
	p.timer = time.AfterFunc(n.cfg.Gather, func() { n.flush(id) })
	n.log.Info("delay notice gathering", "message_id", id, "for", n.cfg.Gather)
	return p
}

// wanted reports whether l's sender is to get a DSN. RFC 3464 §2 / RFC 5321
// §4.5.5: nothing goes to a null sender, and a DSN of ours never causes
// another, whatever its sender says.
func (n *Notifier) wanted(l *queue.Lease, action Action) bool {
	if l.Bounce {
		n.log.Info("no DSN for a DSN", "message_id", l.MessageID, "delivery", l.ID, "action", action)
		return false
	}
	if l.From == "" {
		n.log.Info("no DSN for a null sender", "message_id", l.MessageID, "delivery", l.ID, "action", action)
		return false
	}
	return true
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

// flush sends the pending delay notice of a message, if still pending (not
// already being sent by another flush).
func (n *Notifier) flush(messageID string) {
	n.mu.Lock()
	p, ok := n.pending[messageID]
	if ok {
		delete(n.pending, messageID)
		p.timer.Stop()
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if ok {
		n.sendPending(p)
	}
}

// Flush sends every pending delay notice now.
func (n *Notifier) Flush() {
	n.mu.Lock()
	ids := make([]string, 0, len(n.pending))
	for id := range n.pending {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	for _, id := range ids {
		n.flush(id)
	}
}

// Close sends the delay notices pending and waits for those being queued.
// Call it after the scheduler stopped and before the store closes.
func (n *Notifier) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.Flush()
	n.wg.Wait()
	return nil
}

// sendPending queues a gathered delay notice and tells those waiting for it.
// It is not cancelled with the scheduler's context: shutdown cuts the
// gathering short, not the storing.
func (n *Notifier) sendPending(p *pendingDSN) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.err = n.send(ctx, &p.dsn)
	close(p.done)
}

// send builds and queues one DSN; it returns when the DSN is stored. Only a
// failed Put is an error: a DSN that cannot be built never will be, so it
// is logged and dropped rather than retried for ever.
func (n *Notifier) send(ctx context.Context, d *dsn) error {
	l := &d.lease
	action := d.rcpts[0].Action
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
	n.lastReplies(ctx, d)
	now := n.cfg.Now()
	b, err := Build(&Report{
		ReportingMTA: n.cfg.Hostname,
		Sender:       l.From,
		QueueID:      l.MessageID,
		Arrival:      l.Created,
		Headers:      headers,
		Recipients:   d.rcpts,
		Date:         now,
	})
	if err != nil {
		n.log.Error("DSN not built", "message_id", l.MessageID, "err", err)
		return nil
	}
	m := &queue.Message{
		Account:    l.Account,
		From:       "", // RFC 5321 §4.5.5: a DSN goes from the null sender
		Recipients: []string{l.From},
		Body:       b.Body,
		Created:    now,
		Expires:    queue.ExpiresAt(now, n.cfg.MaxQueueTime),
		Bounce:     true,
	}
	if err := n.cfg.Store.Put(ctx, m); err != nil {
		n.log.Error("DSN not queued", "message_id", l.MessageID, "action", action, "err", err)
		return fmt.Errorf("bounce: queueing the DSN for %s: %w", l.MessageID, err)
	}
	rcpts := make([]string, len(d.rcpts))
	for i, rc := range d.rcpts {
		rcpts[i] = rc.Address
	}
	n.log.Info("DSN queued", "message_id", l.MessageID, "dsn_id", m.ID, "action", action,
		"to", l.From, "recipients", rcpts)
	if n.cfg.OnQueued != nil {
		n.cfg.OnQueued()
	}
	return nil
}

// lastReplies fills in, for recipients whose final round made no attempt
// (every IP suspended, say), the last attempt recorded for them that reached
// out from a source IP: its reply, MX and time.
func (n *Notifier) lastReplies(ctx context.Context, p *dsn) {
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
