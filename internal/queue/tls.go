package queue

// TLS is how an attempt's connection was protected (SPEC §7, "Outbound
// TLS"): the zero value is an attempt that never reached a server.
type TLS struct {
	// Version is the TLS version negotiated, e.g. "TLS 1.3"; empty: the
	// session stayed in plaintext.
	Version string `json:"version"`
	// Verified says the server's certificate was authenticated: PKIX for
	// the MX host's name (MTA-STS, verify) or by TLSA records (DANE).
	Verified bool `json:"verified"`
	// Policy is what applied to the connection: "none", "may" (opportunistic),
	// "encrypt", "verify", "mta-sts", "mta-sts-testing" or "dane".
	Policy string `json:"policy"`
	// Failure is the TLS-RPT result type (RFC 8460 §4.3) of a check that
	// failed, e.g. "certificate-host-mismatch"; empty when none did.
	Failure string `json:"failure,omitempty"`
}

// Zero reports whether t records nothing.
func (t TLS) Zero() bool { return t == TLS{} }
