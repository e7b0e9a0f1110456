package inbound

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"time"

	"sendpool/internal/history"
	"sendpool/internal/state"
)

// Decision is what the gate decided about a connection, a recipient or a
// message, and why. The API and the panel show the recent ones of every
// node; /metrics counts them by action and check.
type Decision struct {
	Time     time.Time `json:"time"`
	ClientIP string    `json:"client_ip"`
	HELO     string    `json:"helo,omitempty"`
	From     string    `json:"from,omitempty"`
	Rcpt     string    `json:"rcpt,omitempty"`
	Domain   string    `json:"domain,omitempty"` // the hosted domain concerned
	Account  string    `json:"account,omitempty"`
	Action   string    `json:"action"`          // one of the Action constants
	Check    string    `json:"check,omitempty"` // which check decided
	Code     int       `json:"code,omitempty"`  // the SMTP reply's
	Detail   string    `json:"detail,omitempty"`
	ID       string    `json:"id,omitempty"` // the queued message's id
	Score    float64   `json:"score,omitempty"`
}

// Actions of a Decision.
const (
	ActionAccepted = "accepted" // queued as it came
	ActionTagged   = "tagged"   // queued with X-Spam-Flag: YES
	ActionRejected = "rejected" // a 5xx
	ActionDeferred = "deferred" // a 4xx: greylisted, a check that could not answer
	ActionDropped  = "dropped"  // the connection closed: firewall, ban, pregreet, a cap
)

// Checks of a Decision.
const (
	CheckFirewall  = "firewall"
	CheckBan       = "ban"
	CheckPregreet  = "pregreet"
	CheckRate      = "rate"
	CheckDNSBL     = "dnsbl"
	CheckAuth      = "auth"
	CheckErrors    = "errors"
	CheckRelay     = "relay"
	CheckRecipient = "recipient"
	CheckSRS       = "srs"
	CheckGreylist  = "greylist"
	CheckDMARC     = "dmarc"
	CheckVirus     = "virus"
	CheckSpam      = "spam"
	CheckScan      = "scan"
	CheckLocal     = "local"
)

// DecisionsKey is the shared list of recent decisions.
const DecisionsKey = "inbound:decisions"

// decisionsTTL is how long the list lives after its last entry.
const decisionsTTL = 7 * 24 * time.Hour

// decide records d: the log, the observer (metrics), the shared list.
func (s *Server) decide(d Decision) {
	d.Time = s.cfg.Now()
	level := slog.LevelInfo
	if d.Action == ActionAccepted || d.Action == ActionTagged {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, "inbound", "action", d.Action, "check", d.Check, "code", d.Code,
		"client_ip", d.ClientIP, "helo", d.HELO, "from", d.From, "rcpt", d.Rcpt, "account", d.Account,
		"id", d.ID, "score", d.Score, "detail", d.Detail)
	if s.cfg.Observe != nil {
		s.cfg.Observe(d)
	}
	if s.cfg.Decisions != nil {
		if b, err := json.Marshal(d); err == nil {
			s.cfg.Decisions.Add(b, history.List{Key: DecisionsKey, Keep: s.cfg.DecisionsKept, TTL: decisionsTTL})
		}
	}
}

// Decisions returns up to n recent decisions of every node, newest first.
func Decisions(ctx context.Context, st state.State, n int) ([]Decision, error) {
	raw, err := st.Recent(ctx, DecisionsKey, n)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, 0, len(raw))
	for _, r := range raw {
		var d Decision
		if json.Unmarshal(r, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// DomainStats is one hosted domain's recent decisions, counted.
type DomainStats struct {
	Domain   string         `json:"domain"`
	Accepted int            `json:"accepted"`
	Tagged   int            `json:"tagged"`
	Rejected int            `json:"rejected"`
	Deferred int            `json:"deferred"`
	Why      map[string]int `json:"why"` // refusals by check
}

// ByDomain counts decisions per hosted domain (those naming one), in the
// order the domains first appear.
func ByDomain(ds []Decision) []DomainStats {
	var out []DomainStats
	pos := map[string]int{}
	for _, d := range ds {
		if d.Domain == "" {
			continue
		}
		i, ok := pos[d.Domain]
		if !ok {
			i = len(out)
			pos[d.Domain] = i
			out = append(out, DomainStats{Domain: d.Domain, Why: map[string]int{}})
		}
		st := &out[i]
		switch d.Action {
		case ActionAccepted:
			st.Accepted++
		case ActionTagged:
			st.Tagged++
		case ActionRejected:
			st.Rejected++
			st.Why[d.Check]++
		case ActionDeferred:
			st.Deferred++
			st.Why[d.Check]++
		}
	}
	return out
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
