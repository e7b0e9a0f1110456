package api

import (
	"errors"
	"net/http"
)

// send serves POST /api/v1/send through cfg.Send.
func (s *server) send(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Send == nil {
		writeError(w, http.StatusNotImplemented, "HTTP submission is not enabled")
		return
	}
	id, err := s.cfg.Send(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SendReply{ID: id})
}

// SendRequest is the body of POST /api/v1/send (SPEC §5).
type SendRequest struct {
	From string   `json:"from"`
	To   []string `json:"to"`
	Raw  string   `json:"raw"` // the RFC 5322 message
}

// SendReply is the answer to POST /api/v1/send.
type SendReply struct {
	ID string `json:"id"`
}

// ReadSendRequest decodes r's body as a SendRequest, strictly, reading at most
// maxBytes (a JSON-escaped message is larger than the message: allow for it).
// Its errors are *StatusError, ready to be returned by a SendFunc.
func ReadSendRequest(r *http.Request, maxBytes int64) (*SendRequest, error) {
	var req SendRequest
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	defer body.Close()
	if err := decodeStrict(body, &req, false); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "body over %d bytes", maxBytes)
		}
		return nil, err
	}
	if len(req.To) == 0 {
		return nil, Errorf(http.StatusBadRequest, "no recipients in to")
	}
	if req.Raw == "" {
		return nil, Errorf(http.StatusBadRequest, "raw is empty")
	}
	return &req, nil
}
