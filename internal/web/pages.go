package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/queue"
)

// pageSize is how many messages the queue page lists at once.
const pageSize = 100

type ipsData struct {
	IPs      []api.IPStatus
	CanAdmin bool
	// Replies are each IP's last replies (replies.go).
	Replies      []ipReplies
	RepliesError string
	// Charts are each IP × provider's attempts per hour, Queue the
	// queue's depth (svg.go); none without stats.
	Charts []chart
	Queue  *chart
}

func (s *server) ipsPage(w http.ResponseWriter, r *http.Request) {
	data := ipsData{IPs: []api.IPStatus{}}
	if s.cfg.IPs != nil {
		data.IPs = s.cfg.IPs.IPs(r.Context())
		_, data.CanAdmin = s.cfg.IPs.(api.IPAdmin)
	}
	addrs := make([]string, len(data.IPs))
	for i, ip := range data.IPs {
		addrs[i] = ip.Address
	}
	data.Replies, data.RepliesError = s.recentReplies(r, addrs, shownReplies)
	if s.cfg.Stats != nil {
		series, err := s.cfg.Stats.IPs(r.Context())
		if err != nil {
			s.log.ErrorContext(r.Context(), "web: IP stats", "err", err)
		}
		for _, sr := range series {
			data.Charts = append(data.Charts, ipChart(sr))
		}
		if depth, start, err := s.cfg.Stats.Queue(r.Context()); err == nil {
			q := queueChart(depth, start)
			data.Queue = &q
		}
	}
	s.render(w, r, http.StatusOK, "ips", "IP pool", data)
}

// ipAction serves the suspend and resume buttons.
func (s *server) ipAction(w http.ResponseWriter, r *http.Request) {
	admin, ok := s.cfg.IPs.(api.IPAdmin)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, "suspending IPs by hand is not available", nil)
		return
	}
	addr := r.PathValue("address")
	known := false
	for _, ip := range s.cfg.IPs.IPs(r.Context()) {
		known = known || ip.Address == addr
	}
	if !known {
		s.fail(w, r, http.StatusNotFound, "no such IP in the pool: "+addr, nil)
		return
	}
	var err error
	switch r.PathValue("action") {
	case "suspend":
		var d time.Duration
		if v := r.PostForm.Get("duration"); v != "" {
			if d, err = time.ParseDuration(v); err != nil || d <= 0 {
				s.fail(w, r, http.StatusBadRequest, `duration: want a positive Go duration such as "1h"`, nil)
				return
			}
		}
		reason := r.PostForm.Get("reason")
		if err = admin.Suspend(r.Context(), addr, d, reason); err == nil {
			s.log.InfoContext(r.Context(), "web: IP suspended", "ip", addr, "for", d, "reason", reason)
		}
	case "resume":
		if err = admin.Resume(r.Context(), addr); err == nil {
			s.log.InfoContext(r.Context(), "web: IP resumed", "ip", addr)
		}
	default:
		s.fail(w, r, http.StatusNotFound, "no such action", nil)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "the action failed", err)
		return
	}
	http.Redirect(w, r, "/ips", http.StatusSeeOther)
}

type queueData struct {
	Status   string
	Account  string
	Statuses []queue.Status
	Messages []queue.MessageSummary
	Counts   map[queue.Status]int
	Back     string // this page's URL, for the action forms
	Older    string // the next page's URL, "" on the last
}

// statuses are the queue's statuses, in the order the page shows them.
func statuses() []queue.Status {
	return []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld,
		queue.StatusDelivered, queue.StatusBounced}
}

func (s *server) queuePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := queue.Filter{Status: queue.Status(q.Get("status")), Account: q.Get("account"),
		Before: q.Get("before"), Limit: pageSize}
	if f.Status != "" && !f.Status.Valid() {
		s.fail(w, r, http.StatusBadRequest, "status: want queued, deferred, held, delivered or bounced", nil)
		return
	}
	list, err := s.cfg.Queue.ListMessages(r.Context(), f)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the queue", err)
		return
	}
	counts, err := s.cfg.Queue.Counts(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not count the queue", err)
		return
	}
	data := queueData{Status: string(f.Status), Account: f.Account, Statuses: statuses(),
		Messages: list, Counts: counts, Back: r.URL.RequestURI()}
	if len(list) == pageSize {
		v := url.Values{"before": {list[len(list)-1].ID}}
		if f.Status != "" {
			v.Set("status", string(f.Status))
		}
		if f.Account != "" {
			v.Set("account", f.Account)
		}
		data.Older = "/queue?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "queue", "Queue", data)
}

func (s *server) messagePage(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Queue.GetMessage(r.Context(), r.PathValue("id"))
	// Another account's message is not there, for a customer: 404, so
	// that ids tell nothing.
	if errors.Is(err, queue.ErrNotFound) || err == nil && !mine(r, m.Account) {
		s.fail(w, r, http.StatusNotFound, "no such message", nil)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the message", err)
		return
	}
	s.render(w, r, http.StatusOK, "message", "Message "+m.ID, struct {
		*queue.MessageDetail
		Back  string
		Admin bool
	}{m, r.URL.RequestURI(), customerOf(r) == ""})
}

// messageAction serves the retry, hold, release and delete buttons.
func (s *server) messageAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	acts := map[string]func(queue.Store, context.Context, string) error{
		"retry": queue.Store.Retry, "hold": queue.Store.Hold,
		"release": queue.Store.Release, "delete": queue.Store.Delete,
	}
	name := r.PathValue("action")
	act, ok := acts[name]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "no such action", nil)
		return
	}
	// Stores need not report acting on nothing: look first, for a clear 404.
	if _, err := s.cfg.Queue.GetMessage(r.Context(), id); errors.Is(err, queue.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "no such message", nil)
		return
	}
	if err := act(s.cfg.Queue, r.Context(), id); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "the action failed", err)
		return
	}
	s.log.InfoContext(r.Context(), "web: message "+name, "msgid", id)
	back := localPath(r.PostForm.Get("back"), "/queue")
	if name == "delete" && back == "/messages/"+url.PathEscape(id) {
		back = "/queue"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *server) accountsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Accounts.ListAccounts(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the accounts", err)
		return
	}
	if list == nil {
		list = []*account.Account{}
	}
	s.render(w, r, http.StatusOK, "accounts", "Accounts", list)
}
