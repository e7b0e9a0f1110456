package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/limit"
	"sendpool/internal/queue"
	"sendpool/internal/stats"
	"sendpool/internal/suppression"
)

// The customer's own pages. A customer's session reaches only these, the
// deliverability page and its messages; each query is scoped by the
// session's account. The admin, who has no account, is sent to the
// provider's page of the same thing.

// logShown is how many messages one page of the delivery log shows;
// logScan how many recent messages a search looks through.
const (
	logShown = 50
	logScan  = 500
)

type logEntry struct {
	queue.MessageSummary
	HeaderID   string
	Recipients []queue.RecipientDetail
}

type logData struct {
	Q, Status string
	Statuses  []queue.Status
	Entries   []logEntry
	Older     string
	Scanned   int // a search's reach, when it was cut
}

// logPage is the customer's delivery log: its messages, newest first,
// each recipient with its status and the receiver's last reply (the
// message's page has every attempt). q finds a recipient address or the
// message's Message-ID: field among the last logScan messages.
func (s *server) logPage(w http.ResponseWriter, r *http.Request) {
	acct := customerOf(r)
	if acct == "" {
		http.Redirect(w, r, "/queue", http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	data := logData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Statuses: statuses(), Entries: []logEntry{}}
	f := queue.Filter{Account: acct, Status: queue.Status(data.Status), Before: q.Get("before"), Limit: logShown}
	if f.Status != "" && !f.Status.Valid() {
		s.fail(w, r, http.StatusBadRequest, "status: want queued, deferred, held, delivered or bounced", nil)
		return
	}
	needle := strings.ToLower(strings.Trim(data.Q, "<>"))
	if needle != "" {
		f.Limit = 100
	}
	for scanned := 0; ; {
		list, err := s.cfg.Queue.ListMessages(r.Context(), f)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, "could not list the messages", err)
			return
		}
		for _, m := range list {
			scanned++
			d, err := s.cfg.Queue.GetMessage(r.Context(), m.ID)
			if err != nil || d.Account != acct {
				continue // purged meanwhile
			}
			e := logEntry{MessageSummary: m, Recipients: d.Recipients}
			if d.Intake != nil {
				e.HeaderID = d.Intake.HeaderMessageID
			}
			if needle == "" || matches(e, needle) {
				data.Entries = append(data.Entries, e)
			}
			if len(data.Entries) == logShown {
				break
			}
		}
		if len(list) < f.Limit || len(data.Entries) == logShown || needle == "" {
			if needle == "" && len(list) == f.Limit {
				v := url.Values{"before": {list[len(list)-1].ID}}
				if data.Status != "" {
					v.Set("status", data.Status)
				}
				data.Older = "/log?" + v.Encode()
			}
			break
		}
		if scanned >= logScan {
			data.Scanned = scanned
			break
		}
		f.Before = list[len(list)-1].ID
	}
	s.render(w, r, http.StatusOK, "log", "Delivery log", data)
}

// matches reports whether a recipient or the Message-ID holds needle
// (lower case, without angle brackets).
func matches(e logEntry, needle string) bool {
	if strings.Contains(strings.ToLower(e.HeaderID), needle) {
		return true
	}
	for _, rc := range e.Recipients {
		if strings.Contains(strings.ToLower(rc.Address), needle) {
			return true
		}
	}
	return false
}

type usageData struct {
	Account *account.Account
	Uses    []limit.Use
	Error   string
	Days    []stats.Day
	Chart   any // the 30-day picture (svg.go)
}

// usagePage is the customer's account: its status (and, when held, why and
// what to do), its use of each volume limit now, and its volume and bounce
// rate over 30 days.
func (s *server) usagePage(w http.ResponseWriter, r *http.Request) {
	acct := customerOf(r)
	if acct == "" {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	a, err := s.cfg.Accounts.GetAccount(r.Context(), acct)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the account", err)
		return
	}
	data := usageData{Account: a}
	if s.cfg.Usage != nil {
		if data.Uses, err = s.cfg.Usage(r.Context(), a); err != nil {
			s.log.ErrorContext(r.Context(), "web: usage", "account", acct, "err", err)
			data.Error = "usage is unavailable: the shared state cannot be read"
		}
	}
	if s.cfg.Stats != nil {
		if data.Days, err = s.cfg.Stats.Account(r.Context(), acct); err != nil {
			s.log.ErrorContext(r.Context(), "web: account stats", "account", acct, "err", err)
		} else {
			data.Chart = volumeChart(data.Days)
		}
	}
	s.render(w, r, http.StatusOK, "usage", "Usage and limits", data)
}

// mySuppressionsPage is the customer's suppression list.
func (s *server) mySuppressionsPage(w http.ResponseWriter, r *http.Request) {
	acct := customerOf(r)
	if acct == "" {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	if s.cfg.Suppressions == nil {
		s.fail(w, r, http.StatusNotFound, "suppression lists are not available with this store", nil)
		return
	}
	list, err := s.cfg.Suppressions.ListSuppressions(r.Context(), acct, shownSuppressions+1)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the suppressions", err)
		return
	}
	data := suppressionsData{Account: acct, Entries: []api.Suppression{}, Action: "/suppressions/remove"}
	if len(list) > shownSuppressions {
		list, data.More = list[:shownSuppressions], true
	}
	now := s.cfg.Now()
	for _, e := range list {
		if e.Active(now) {
			data.Entries = append(data.Entries, api.SuppressionFrom(e))
		}
	}
	s.render(w, r, http.StatusOK, "suppressions", "Bounces and suppressions", data)
}

// removeMySuppression removes one of the customer's own suppressions: the
// next message to the address is accepted. An address not on its own list
// is 404, whoever else suppressed it.
func (s *server) removeMySuppression(w http.ResponseWriter, r *http.Request) {
	acct := customerOf(r)
	if acct == "" || s.cfg.Suppressions == nil {
		s.fail(w, r, http.StatusNotFound, "no such suppression", nil)
		return
	}
	addr := r.PostForm.Get("address")
	err := s.cfg.Suppressions.DeleteSuppression(r.Context(), acct, addr)
	if errors.Is(err, suppression.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "no such address on your suppression list", nil)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "the action failed", err)
		return
	}
	s.log.InfoContext(r.Context(), "web: suppression removed by the customer", "account", acct, "rcpt", addr)
	http.Redirect(w, r, "/suppressions", http.StatusSeeOther)
}
