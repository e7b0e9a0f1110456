package api

import (
	"context"
	"net/http"
	"time"
)

// IPStatus is one sending IP as the API shows it.
type IPStatus struct {
	Address string `json:"address"`
	EHLO    string `json:"ehlo"`
	Weight  int    `json:"weight"`
	Status  string `json:"status"` // "active" or "suspended"
	// Scope of a suspension: "pool" or a provider's name.
	Scope          string     `json:"scope"`
	SuspendedUntil *time.Time `json:"suspended_until"`
	Reason         string     `json:"reason"`
	// Warmup is set while the IP is in warm-up (warmup.go).
	Warmup *IPWarmup `json:"warmup,omitempty"`
	// Paces are the providers that asked the IP to slow down, and how fast
	// it may send there now.
	Paces []IPPace `json:"paces,omitempty"`
}

// IP statuses.
const (
	IPActive    = "active"
	IPSuspended = "suspended"
)

// IPSource lists the pool's IPs and their health.
type IPSource interface {
	IPs(ctx context.Context) []IPStatus
}

// IPAdmin suspends and resumes IPs by hand. The API offers the two routes
// when the IPSource implements it.
type IPAdmin interface {
	// Suspend takes addr out of the pool for d (0: the pool's default,
	// pool.suspend_for).
	Suspend(ctx context.Context, addr string, d time.Duration, reason string) error
	Resume(ctx context.Context, addr string) error
}

// SuspendRequest is the body of POST /api/v1/ips/{address}/suspend; both
// fields are optional.
type SuspendRequest struct {
	Duration string `json:"duration"` // a Go duration; empty: the pool's default
	Reason   string `json:"reason"`
}

func (s *server) ips(ctx context.Context) []IPStatus {
	if s.cfg.IPs == nil {
		return []IPStatus{}
	}
	list := s.cfg.IPs.IPs(ctx)
	if list == nil {
		list = []IPStatus{}
	}
	return list
}

func (s *server) listIPs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.ips(r.Context()))
}

// findIP returns the IP at addr, answering 404 when the pool has none.
func (s *server) findIP(w http.ResponseWriter, r *http.Request, addr string) (IPStatus, bool) {
	for _, ip := range s.ips(r.Context()) {
		if ip.Address == addr {
			return ip, true
		}
	}
	writeError(w, http.StatusNotFound, "no such IP in the pool: "+addr)
	return IPStatus{}, false
}

// ipAdmin returns the IPAdmin, answering 501 when there is none.
func (s *server) ipAdmin(w http.ResponseWriter) (IPAdmin, bool) {
	a, ok := s.cfg.IPs.(IPAdmin)
	if !ok {
		writeError(w, http.StatusNotImplemented, "suspending IPs by hand is not available")
	}
	return a, ok
}

func (s *server) suspendIP(w http.ResponseWriter, r *http.Request) {
	admin, ok := s.ipAdmin(w)
	if !ok {
		return
	}
	var req SuspendRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
	}
	var d time.Duration
	if req.Duration != "" {
		var err error
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "duration: want a positive Go duration such as \"1h\"")
			return
		}
	}
	addr := r.PathValue("address")
	if _, ok := s.findIP(w, r, addr); !ok {
		return
	}
	if err := admin.Suspend(r.Context(), addr, d, req.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: IP suspended", "ip", addr, "for", d, "reason", req.Reason)
	s.answerIP(w, r, addr)
}

func (s *server) resumeIP(w http.ResponseWriter, r *http.Request) {
	admin, ok := s.ipAdmin(w)
	if !ok {
		return
	}
	addr := r.PathValue("address")
	if _, ok := s.findIP(w, r, addr); !ok {
		return
	}
	if err := admin.Resume(r.Context(), addr); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "api: IP resumed", "ip", addr)
	s.answerIP(w, r, addr)
}

// answerIP answers with addr's status after a change.
func (s *server) answerIP(w http.ResponseWriter, r *http.Request, addr string) {
	if ip, ok := s.findIP(w, r, addr); ok {
		writeJSON(w, http.StatusOK, ip)
	}
}
