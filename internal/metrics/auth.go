package metrics

// AuthLockout counts a password-guessing lockout that begins, for scope
// "ip" or "account" (internal/authguard's OnLockout).
func (m *Metrics) AuthLockout(scope string) {
	if m != nil {
		m.lockouts.WithLabelValues(scope).Inc()
	}
}
