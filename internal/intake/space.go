package intake

// Space says whether the disk that new mail goes to is under its reserve
// (internal/diskspace, store.min_free_space). Low must be cheap: it is
// asked at every MAIL and every Accept.
type Space interface {
	Low() bool
}

// RFC 3463 X.3.1: mail system full; RFC 5321 §4.2.3: 452 insufficient
// system storage. Temporary: the client keeps the message.
const enhancedFull = "4.3.1"

// StorageFull: the disk is under its reserve; what is queued still goes
// out, and new mail is taken again once space is freed (SPEC §3).
func StorageFull(detail string) *Error {
	return newError(CodeInsufficient, enhancedFull, "Insufficient system storage, try again later", "space", detail)
}

// CheckSpace refuses new mail while the disk is under its reserve (452
// 4.3.1). SMTP asks at MAIL, before the client sends the message; Accept
// asks again for every way in.
func (s *Service) CheckSpace() error {
	if s.cfg.Space != nil && s.cfg.Space.Low() {
		return StorageFull("free disk space under store.min_free_space")
	}
	return nil
}
