package api

import (
	"context"
	"net/http"
	"strconv"

	"sendpool/internal/history"
)

// ReplySource gives the recent replies receivers made to one of the pool's
// IPs, every node's, newest first; *history.Replies implements it.
type ReplySource interface {
	Recent(ctx context.Context, ip string, n int) ([]history.Reply, error)
}

// ipReplies serves GET /api/v1/ips/{address}/replies?limit=N, an extension
// of SPEC §5: the IP's recent replies (SPEC §6), newest first, at most
// history.ReplyKeep (the default).
func (s *server) ipReplies(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	if _, ok := s.findIP(w, r, addr); !ok {
		return
	}
	n := history.ReplyKeep
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > history.ReplyKeep {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to "+strconv.Itoa(history.ReplyKeep))
			return
		}
	}
	list := []history.Reply{}
	if s.cfg.Replies != nil {
		got, err := s.cfg.Replies.Recent(r.Context(), addr, n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		list = append(list, got...)
	}
	writeJSON(w, http.StatusOK, list)
}
