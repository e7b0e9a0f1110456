package web

import (
	"context"
	"net/http"

	"sendpool/internal/inbound"
)

// InboundSource is what the MX page shows (SPEC §7): the recent decisions
// of every node and the bans in force.
type InboundSource interface {
	Decisions(ctx context.Context, n int) ([]inbound.Decision, error)
	Bans(ctx context.Context) ([]inbound.Ban, error)
}

// shownDecisions is how many recent decisions the page lists.
const shownDecisions = 100

type inboundData struct {
	Domains   []inbound.DomainStats
	Decisions []inbound.Decision
	Bans      []inbound.Ban
}

// inboundPage shows, per hosted domain, what the MX accepted, tagged,
// refused and deferred and why (over the decisions kept), then the
// newest decisions and the bans.
func (s *server) inboundPage(w http.ResponseWriter, r *http.Request) {
	all, err := s.cfg.Inbound.Decisions(r.Context(), 0)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the MX's decisions", err)
		return
	}
	bans, err := s.cfg.Inbound.Bans(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the MX's bans", err)
		return
	}
	data := inboundData{Domains: inbound.ByDomain(all), Decisions: all, Bans: bans}
	if len(data.Decisions) > shownDecisions {
		data.Decisions = data.Decisions[:shownDecisions]
	}
	s.render(w, r, http.StatusOK, "inbound", "Inbound (MX)", data)
}
