package web

import (
	"errors"
	"net/http"
	"net/url"

	"sendpool/internal/account"
	"sendpool/internal/api"
	"sendpool/internal/suppression"
)

// shownSuppressions bounds the entries one page lists; the API lists all.
const shownSuppressions = 500

type suppressionsData struct {
	Account string
	Entries []api.Suppression
	More    bool // the list was cut at shownSuppressions
	// Action is where the remove buttons post; "" for the admin's
	// /accounts/{name}/suppressions/remove.
	Action string
}

// suppressionsPage lists an account's suppressed recipients, newest first,
// each with a button that removes it.
func (s *server) suppressionsPage(w http.ResponseWriter, r *http.Request) {
	name, ok := s.suppressionAccount(w, r)
	if !ok {
		return
	}
	list, err := s.cfg.Suppressions.ListSuppressions(r.Context(), name, shownSuppressions+1)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not list the suppressions", err)
		return
	}
	data := suppressionsData{Account: name, Entries: []api.Suppression{}}
	if len(list) > shownSuppressions {
		list, data.More = list[:shownSuppressions], true
	}
	now := s.cfg.Now()
	for _, e := range list {
		if e.Active(now) {
			data.Entries = append(data.Entries, api.SuppressionFrom(e))
		}
	}
	s.render(w, r, http.StatusOK, "suppressions", "Suppressions of "+name, data)
}

// removeSuppression serves the remove button: the account's next message
// to the address is accepted.
func (s *server) removeSuppression(w http.ResponseWriter, r *http.Request) {
	name, ok := s.suppressionAccount(w, r)
	if !ok {
		return
	}
	addr := r.PostForm.Get("address")
	err := s.cfg.Suppressions.DeleteSuppression(r.Context(), name, addr)
	if errors.Is(err, suppression.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "no such suppression: "+addr, nil)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "the action failed", err)
		return
	}
	s.log.InfoContext(r.Context(), "web: suppression removed", "account", name, "rcpt", addr)
	http.Redirect(w, r, "/accounts/"+url.PathEscape(name)+"/suppressions", http.StatusSeeOther)
}

// suppressionAccount is the request's account, once it is known to exist
// and the lists are on; it answers the error otherwise.
func (s *server) suppressionAccount(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.cfg.Suppressions == nil {
		s.fail(w, r, http.StatusNotFound, "suppression lists are not available with this store", nil)
		return "", false
	}
	name := r.PathValue("name")
	_, err := s.cfg.Accounts.GetAccount(r.Context(), name)
	if errors.Is(err, account.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "no such account", nil)
		return "", false
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "could not read the account", err)
		return "", false
	}
	return name, true
}
