package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"sendpool/internal/queue"
)

// maxListLimit caps one page of GET /api/v1/messages.
const maxListLimit = 1000

func (s *server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := queue.Filter{
		Status:  queue.Status(q.Get("status")),
		Account: q.Get("account"),
		Before:  q.Get("before"),
	}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, http.StatusBadRequest, "status: want queued, deferred, held, delivered or bounced")
		return
	}
	var ok bool
	if f.Limit, ok = queryLimit(w, q, 0, 0, maxListLimit); !ok {
		return
	}
	list, err := s.cfg.Queue.ListMessages(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request) {
	s.answerMessage(w, r, r.PathValue("id"))
}

// answerMessage answers with message id's detail.
func (s *server) answerMessage(w http.ResponseWriter, r *http.Request, id string) {
	m, err := s.cfg.Queue.GetMessage(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m.Recipients = nonNil(m.Recipients)
	for i := range m.Recipients {
		m.Recipients[i].Attempts = nonNil(m.Recipients[i].Attempts)
	}
	writeJSON(w, http.StatusOK, m)
}

// messageAction serves retry, hold and release: it acts, then answers with
// the message as it now is.
func (s *server) messageAction(name string, act func(queue.Store, context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := act(s.cfg.Queue, r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.InfoContext(r.Context(), "api: message "+name, "msgid", id)
		s.answerMessage(w, r, id)
	}
}

func (s *server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Stores need not report deleting nothing: look first, for a clear 404.
	if _, err := s.cfg.Queue.GetMessage(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Queue.Delete(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: message deleted", "msgid", id)
	w.WriteHeader(http.StatusNoContent)
}

// queueStats serves GET /api/v1/queue/stats, an extension of SPEC §5: the
// number of deliveries (recipients) in each status, every status present.
func (s *server) queueStats(w http.ResponseWriter, r *http.Request) {
	counts, err := s.cfg.Queue.Counts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[queue.Status]int{}
	for _, st := range []queue.Status{queue.StatusQueued, queue.StatusDeferred, queue.StatusHeld, queue.StatusDelivered, queue.StatusBounced} {
		out[st] = counts[st]
	}
	writeJSON(w, http.StatusOK, out)
}

// queryLimit reads the "limit" parameter: def when absent, else a number
// from lo to hi. Otherwise it answers 400 and returns false.
func queryLimit(w http.ResponseWriter, q url.Values, def, lo, hi int) (int, bool) {
	v := q.Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want a number from %d to %d", lo, hi))
		return 0, false
	}
	return n, true
}
