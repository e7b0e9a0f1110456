package intake

import (
	"context"
	"io"

	"sendpool/internal/account"
	"sendpool/internal/queue"
)

// maxSpooledHeader bounds the header section read from a spooled message
// for the header rules: SMTP refuses a longer one (max_header_size) before
// it gets here.
const maxSpooledHeader = 1 << 20

// checkContent normalises the line endings of a message in memory and
// applies the header rules (CheckHeader). A spooled message had its line
// endings made CRLF as it was written, and only its header section is read.
func (s *Service) checkContent(ctx context.Context, a *account.Account, sub *Submission) error {
	if sub.Spooled == nil {
		sub.Body = NormalizeLineEndings(sub.Body)
		return s.CheckHeader(ctx, a, sub.Body)
	}
	h, err := sub.Spooled.Header(maxSpooledHeader)
	if err != nil {
		return LocalError("spool", err.Error())
	}
	return s.checkHeader(ctx, a, h, func() ([]byte, error) { return io.ReadAll(sub.Spooled.NewReader()) })
}

// spooled is the queue's view of sub's spooled body; nil (an interface
// holding no *spool.Body) when it is in memory.
func spooled(sub *Submission) queue.Spooled {
	if sub.Spooled == nil {
		return nil
	}
	return sub.Spooled
}

// header is sub's message, or the header section of a spooled one.
func (sub *Submission) header() []byte {
	if sub.Spooled == nil {
		return sub.Body
	}
	h, _ := sub.Spooled.Header(maxSpooledHeader) // what was read; an error shows in checkContent
	return h
}
