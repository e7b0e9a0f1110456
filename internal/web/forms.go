package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"sendpool/internal/account"
	"sendpool/internal/api"
)

// The admin's forms for what the JSON API already does (accounts, their
// limits, suspension and release, domains). Each builds the API's request
// and runs it in this process through the API's own handler, with the
// admin token: one place checks and does each thing, and the panel cannot
// drift from the API. Errors are the API's, shown on the error page.

// callAPI runs one API request for r's admin and returns the status and
// body. The request keeps r's context, so the API's throttle and logs see
// the admin's client.
func (s *server) callAPI(r *http.Request, method, path string, body any) (int, []byte) {
	var buf bytes.Buffer
	if body != nil {
		json.NewEncoder(&buf).Encode(body) // our own types: never fails
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, &buf)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &recorder{header: http.Header{}, code: http.StatusOK}
	s.api.ServeHTTP(w, req)
	return w.code, w.body.Bytes()
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorder) WriteHeader(code int)        { w.code = code }

// apiDone answers the form: back to the page on success, else the API's
// error and status.
func (s *server) apiDone(w http.ResponseWriter, r *http.Request, code int, body []byte, back, what string) {
	if code/100 == 2 {
		s.log.InfoContext(r.Context(), "web: "+what, "path", r.URL.Path)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	var e api.ErrorBody
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = http.StatusText(code)
	}
	s.fail(w, r, code, what+": "+e.Error, nil)
}

// list splits a form field of comma- or space-separated values.
func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
}

// limitField reads a limit field: empty is 0 (no limit).
func limitField(f url.Values, name string) (int, bool) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// addAccountForm serves the accounts page's "add account" form.
func (s *server) addAccountForm(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	req := api.AccountRequest{Name: strings.TrimSpace(f.Get("name")), Password: f.Get("password"),
		Domains: list(f.Get("domains")), Networks: list(f.Get("networks"))}
	var ok [3]bool
	req.Limits.PerMinute, ok[0] = limitField(f, "per_minute")
	req.Limits.PerHour, ok[1] = limitField(f, "per_hour")
	req.Limits.PerDay, ok[2] = limitField(f, "per_day")
	if !ok[0] || !ok[1] || !ok[2] {
		s.fail(w, r, http.StatusBadRequest, "limits: want whole numbers, 0 or empty for none", nil)
		return
	}
	code, body := s.callAPI(r, http.MethodPost, "/api/v1/accounts", req)
	s.apiDone(w, r, code, body, "/accounts", "account added")
}

// accountForm serves an account's buttons and forms: limits, suspend,
// release (back to active), delete.
func (s *server) accountForm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	path := "/api/v1/accounts/" + url.PathEscape(name)
	var code int
	var body []byte
	switch act := r.PathValue("action"); act {
	case "limits":
		var lp api.LimitsPatch
		for field, dst := range map[string]**int{"per_minute": &lp.PerMinute, "per_hour": &lp.PerHour, "per_day": &lp.PerDay,
			"rcpt_per_minute": &lp.RcptPerMinute, "rcpt_per_hour": &lp.RcptPerHour, "rcpt_per_day": &lp.RcptPerDay} {
			if _, present := r.PostForm[field]; !present {
				continue
			}
			n, ok := limitField(r.PostForm, field)
			if !ok {
				s.fail(w, r, http.StatusBadRequest, field+": want a whole number, 0 or empty for none", nil)
				return
			}
			*dst = &n
		}
		code, body = s.callAPI(r, http.MethodPatch, path, api.AccountPatch{Limits: &lp})
	case "suspend":
		st, reason := account.StatusSuspended, strings.TrimSpace(r.PostForm.Get("reason"))
		code, body = s.callAPI(r, http.MethodPatch, path, api.AccountPatch{Status: &st, Reason: &reason})
	case "release":
		st := account.StatusActive
		code, body = s.callAPI(r, http.MethodPatch, path, api.AccountPatch{Status: &st})
	case "delete":
		code, body = s.callAPI(r, http.MethodDelete, path, nil)
	default:
		s.fail(w, r, http.StatusNotFound, "no such action", nil)
		return
	}
	s.apiDone(w, r, code, body, "/accounts", "account "+r.PathValue("action"))
}

// addDomainForm serves the deliverability page's "add domain" form: the
// domain gets its keys, and its records are published where sendpool
// publishes them.
func (s *server) addDomainForm(w http.ResponseWriter, r *http.Request) {
	code, body := s.callAPI(r, http.MethodPost, "/api/v1/domains",
		api.DomainRequest{Domain: strings.TrimSpace(r.PostForm.Get("domain")), Account: r.PostForm.Get("account")})
	s.apiDone(w, r, code, body, "/", "domain added")
}

// deleteDomainForm serves a domain's delete button.
func (s *server) deleteDomainForm(w http.ResponseWriter, r *http.Request) {
	code, body := s.callAPI(r, http.MethodDelete, "/api/v1/domains/"+url.PathEscape(r.PathValue("name")), nil)
	s.apiDone(w, r, code, body, "/", "domain deleted")
}
