package web

import (
	"net/http"

	"sendpool/internal/history"
)

// shownReplies is how many replies per IP the IP pool page shows; the
// IP's own page shows all that are kept (history.ReplyKeep).
const shownReplies = 5

// ipReplies is one IP's recent replies on the IP pool page.
type ipReplies struct {
	Address string
	Replies []history.Reply
	More    bool // more are kept than shown
}

// recentReplies returns the last n replies of each address, every node's.
// It returns an error text to show instead when the state cannot be read.
func (s *server) recentReplies(r *http.Request, addrs []string, n int) ([]ipReplies, string) {
	if s.cfg.Replies == nil {
		return nil, ""
	}
	var out []ipReplies
	for _, a := range addrs {
		// One more than shown tells whether there are more.
		list, err := s.cfg.Replies.Recent(r.Context(), a, n+1)
		if err != nil {
			s.log.ErrorContext(r.Context(), "web: recent replies", "ip", a, "err", err)
			return nil, "recent replies are unavailable: the shared state cannot be read"
		}
		out = append(out, ipReplies{Address: a, Replies: list[:min(n, len(list))], More: len(list) > n})
	}
	return out, ""
}

type ipRepliesData struct {
	ipReplies
	Error string
}

// ipRepliesPage serves /ips/{address}/replies: the last history.ReplyKeep
// replies to one IP.
func (s *server) ipRepliesPage(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	known := false
	if s.cfg.IPs != nil {
		for _, ip := range s.cfg.IPs.IPs(r.Context()) {
			known = known || ip.Address == addr
		}
	}
	if !known {
		s.fail(w, r, http.StatusNotFound, "no such IP in the pool: "+addr, nil)
		return
	}
	data := ipRepliesData{ipReplies: ipReplies{Address: addr}}
	if list, msg := s.recentReplies(r, []string{addr}, history.ReplyKeep); msg != "" {
		data.Error = msg
	} else if len(list) == 1 {
		data.ipReplies = list[0]
		data.More = false
	}
	s.render(w, r, http.StatusOK, "ipreplies", "Recent replies to "+addr, data)
}
