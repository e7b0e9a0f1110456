package httpsend

import (
	"errors"
	"fmt"
	"net/http"

	"sendpool/internal/api"
	"sendpool/internal/intake"
	"sendpool/internal/received"
	"sendpool/internal/spool"
)

// request is a decoded /send body: the envelope, and the message as the
// spool writer took it (in memory when small, on file when large).
type request struct {
	envelope
	body *spool.Body
	size int64 // the message's size as given, before line endings are made CRLF
}

// readRequest reads r's body, at most maxBytes (JSON escaping makes a
// message larger: allow for it), the message streamed into sp as it is
// decoded, so that a large one is never held whole in memory (issue 13).
// Its errors are *api.StatusError, with the statuses and texts /send gave
// when it decoded the body whole: 413 past maxBytes, 400 for bad JSON, no
// recipients or no message. A message over maxSize is not kept (its bytes
// are counted, not written) and is refused after the recipients' count,
// as before. The caller closes the body.
func readRequest(r *http.Request, maxBytes int64, sp *spool.Dir, maxSize int64, maxRcpts int) (*request, error) {
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	defer body.Close()
	w := &boundedWriter{w: sp.NewWriter(received.Room), max: maxSize}
	env, err := decodeRequest(body, w)
	if err != nil {
		w.w.Discard()
		return nil, requestError(err, maxBytes)
	}
	switch {
	case len(env.To) == 0:
		w.w.Discard()
		return nil, api.Errorf(http.StatusBadRequest, "no recipients in to")
	case w.n == 0:
		w.w.Discard()
		return nil, api.Errorf(http.StatusBadRequest, "raw is empty")
	case len(env.To) > maxRcpts:
		w.w.Discard()
		return nil, toHTTP(intake.TooManyRecipients("recipients", fmt.Sprintf("%d recipients, at most %d", len(env.To), maxRcpts)))
	case w.n > maxSize:
		w.w.Discard()
		return nil, toHTTP(intake.TooBig(fmt.Sprintf("%d bytes, at most %d", w.n, maxSize)))
	}
	b, err := w.w.Finish()
	if err != nil {
		return nil, toHTTP(intake.LocalError("spool", err.Error()))
	}
	return &request{envelope: env, body: b, size: w.n}, nil
}

// requestError is the reply to a body decodeRequest refused.
func requestError(err error, maxBytes int64) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return api.Errorf(http.StatusRequestEntityTooLarge, "body over %d bytes", maxBytes)
	case errors.Is(err, errEmpty):
		return api.Errorf(http.StatusBadRequest, "empty body: a JSON object is expected")
	case errors.Is(err, errEnvelopeBig):
		return api.Errorf(http.StatusRequestEntityTooLarge, "members other than raw over %d bytes", maxEnvelope)
	case errors.Is(err, errSyntax):
		return api.Errorf(http.StatusBadRequest, "bad JSON: %v", err)
	}
	// The connection broke, or the spool could not be written.
	var spoolErr *spoolError
	if errors.As(err, &spoolErr) {
		return toHTTP(intake.LocalError("spool", err.Error()))
	}
	return api.Errorf(http.StatusBadRequest, "bad JSON: %v", err)
}

// spoolError is a spool write failure, told apart from a client's fault.
type spoolError struct{ err error }

func (e *spoolError) Error() string { return e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// boundedWriter writes a message to the spool writer until it passes max,
// then only counts it: a message over the size limit is refused anyway,
// and the body bound (maxBytes) alone would let it fill the disk with
// twice the limit.
type boundedWriter struct {
	w   *spool.Writer
	max int64
	n   int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	if b.n > b.max {
		return len(p), nil
	}
	if _, err := b.w.Write(p); err != nil {
		return 0, &spoolError{err}
	}
	return len(p), nil
}
