package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"sendpool/internal/dane"
	"sendpool/internal/queue"
	"sendpool/internal/tlspolicy"
	"sendpool/internal/tlsrpt"
)

// TLSPolicies decides what TLS each MX host of a recipient domain needs;
// *tlspolicy.Policies implements it.
type TLSPolicies interface {
	Plan(ctx context.Context, domain string, mxs []string, exempt bool) *tlspolicy.Plan
}

// TLSReports is told how each TLS session went under the policy it was
// made under (TLS-RPT); *tlsrpt.Reports implements it. Record must not
// block: it is on the delivery path.
type TLSReports interface {
	Record(tlsrpt.Result)
}

// opportunistic is the TLS of a Courier without policies.
type opportunistic struct{}

func (opportunistic) Plan(_ context.Context, domain string, _ []string, _ bool) *tlspolicy.Plan {
	return &tlspolicy.Plan{Domain: domain}
}

// tlsReq is what one connection's TLS must achieve: the host's policy and
// the recipient domain it serves.
type tlsReq struct {
	tlspolicy.Host
	domain string
}

// sessionCacheSize bounds the TLS sessions kept for resumption.
const sessionCacheSize = 4096

// sessionCache keeps TLS sessions for resumption (RFC 8446 §2.2), per
// source IP and MX host: a full TLS 1.3 handshake is most of what a new
// connection costs us, and a ticket used from another source IP would
// tell the receiver that our IPs are one sender.
type sessionCache struct {
	inner  tls.ClientSessionCache
	prefix string // the source IP
}

// Get and Put key by source IP and server name (the MX host).
func (c sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	return c.inner.Get(c.prefix + " " + key)
}

func (c sessionCache) Put(key string, cs *tls.ClientSessionState) {
	c.inner.Put(c.prefix+" "+key, cs)
}

// checked is what the certificate check of one handshake found.
type checked struct {
	done    bool
	failure string // TLS-RPT result type; empty: it passed
	err     error
}

// startTLS runs the TLS handshake on conn for s, after the server's 220
// to STARTTLS (RFC 3207 §4), checking the certificate as req asks. On
// success s carries the TLS connection and what it was; on failure the
// outcome is the handshake's, to be retried in plaintext if req allows.
func (c *Courier) startTLS(ctx context.Context, s *session, conn net.Conn, t target, req tlsReq,
	fail func(stage, text string) *outcome) *outcome {
	var chk checked
	cfg := &tls.Config{
		ServerName: t.mx,
		// The check is ours (VerifyConnection), so that a failure can be
		// told apart (RFC 8460 §4.3), reported and, under a policy in
		// testing, let pass. Without a policy TLS authenticates nobody
		// (RFC 7435 §1.3): checking would only turn encrypted mail into
		// plaintext.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: sessionCache{inner: c.sessions, prefix: s.src.String()},
	}
	if req.Check != tlspolicy.CheckNone {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			chk.done = true
			chk.failure, chk.err = c.checkCert(cs, t.mx, req)
			if chk.err != nil && req.Enforce {
				return chk.err
			}
			return nil
		}
	}
	tc := tls.Client(conn, cfg)
	s.setDeadline(c.cfg.CommandTimeout)
	if err := tc.HandshakeContext(ctx); err != nil {
		failure := chk.failure
		if failure == "" {
			failure = tlsrpt.ResultValidationFailure
		}
		c.reportTLS(req, s, t, failure, err.Error())
		if req.RequireTLS {
			return c.tlsFailure(s, t, req, failure, fmt.Sprintf("TLS with %s failed: %v", t.mx, err))
		}
		o := fail(StageStartTLS, "TLS handshake: "+err.Error())
		o.tls.Failure = failure
		return o
	}
	st := tc.ConnectionState()
	s.client = newClient(ctx, tc)
	s.tlsInfo.Version = tls.VersionName(st.Version)
	s.tlsInfo.Verified = chk.done && chk.err == nil
	s.tlsInfo.Failure = chk.failure
	if chk.err != nil {
		// A policy in testing: delivered all the same, and reported.
		c.log.Info("tls: certificate check failed, not enforced", "mx", t.mx, "policy", req.Policy, "err", chk.err)
		c.reportTLS(req, s, t, chk.failure, chk.err.Error())
	} else {
		c.reportTLS(req, s, t, "", "")
	}
	return nil
}

// checkCert checks the server's certificate as req asks: PKIX for the MX
// host's name against the roots (RFC 8461 §4.2), or the TLSA records
// (RFC 7672 §3).
func (c *Courier) checkCert(cs tls.ConnectionState, mx string, req tlsReq) (string, error) {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return tlsrpt.ResultValidationFailure, errors.New("no certificate presented")
	}
	if req.Check == tlspolicy.CheckDANE {
		if _, err := dane.Verify(req.TLSA, certs, []string{mx, req.domain}, c.cfg.Now()); err != nil {
			return dane.ResultTLSAInvalid, err
		}
		return "", nil
	}
	inter := x509.NewCertPool()
	for _, x := range certs[1:] {
		inter.AddCert(x)
	}
	// Judged by the real clock (CurrentTime zero), as the server's
	// certificate is.
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: mx, Roots: c.cfg.RootCAs, Intermediates: inter})
	var (
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
	)
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &host):
		return tlsrpt.ResultCertHostMismatch, err
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return tlsrpt.ResultCertExpired, err
	case errors.As(err, &unknown):
		return tlsrpt.ResultCertNotTrusted, err
	}
	return tlsrpt.ResultValidationFailure, err
}

// noTLS handles a server that does not offer STARTTLS, or refuses it:
// under a policy that requires TLS the host is not used (never plaintext);
// otherwise the session goes on in plaintext, as RFC 3207 §4 allows.
func (c *Courier) noTLS(s *session, t target, req tlsReq, what string) *outcome {
	c.reportTLS(req, s, t, tlsrpt.ResultSTARTTLSNotSupported, what)
	if req.RequireTLS {
		s.quit(c.cfg.CommandTimeout)
		s.close()
		return c.tlsFailure(s, t, req, tlsrpt.ResultSTARTTLSNotSupported, t.mx+" "+what)
	}
	return nil
}

// tlsFailure is the outcome of a host that could not give the TLS req
// requires: deferred, category tls, the reply saying which policy wanted
// what.
func (c *Courier) tlsFailure(s *session, t target, req tlsReq, failure, what string) *outcome {
	o := &outcome{stage: StageStartTLS, mx: t.mx, addr: s.addr, start: s.start,
		reply: what + "; " + policyText(req) + " requires TLS, so it was not sent in plaintext",
		class: tlsClass(failure)}
	o.tls = queue.TLS{Policy: req.Policy, Failure: failure}
	return o
}

// refused is the outcome of an MX host the policy does not let us use.
func (c *Courier) refused(h mxHost, req tlsReq) *outcome {
	c.reportTLS(req, nil, target{mx: h.mx}, req.Failure, req.Refused)
	o := &outcome{stage: StageConnect, mx: h.mx, start: c.cfg.Now(), reply: req.Refused + "; not sent",
		class: tlsClass(req.Failure)}
	o.tls = queue.TLS{Policy: req.Policy, Failure: req.Failure}
	return o
}

func tlsClass(failure string) queue.Classification {
	return queue.Classification{Verdict: queue.VerdictDeferred, Category: "tls", Rule: failure}
}

// policyText names the policy of req for a reply.
func policyText(req tlsReq) string {
	switch req.Policy {
	case tlspolicy.MTASTS:
		return "the MTA-STS policy of " + req.domain + " (mode enforce, RFC 8461)"
	case tlspolicy.DANE:
		return "the DANE TLSA records of the MX host (RFC 7672)"
	case tlspolicy.Encrypt:
		if req.Report != nil && req.Report.Type == tlsrpt.PolicyTLSA {
			return "the DANE TLSA records of the MX host (RFC 7672, none usable)"
		}
	}
	return "the tls_policy of " + req.domain + " (mode " + req.Policy + ")"
}

// reportTLS tells TLS-RPT how a session went (failure empty: it
// succeeded), under the policy req reports to. A failure of the policy
// itself (one that could not be fetched) is what every session under it
// reports.
func (c *Courier) reportTLS(req tlsReq, s *session, t target, failure, reason string) {
	if c.cfg.TLSReports == nil || req.Report == nil {
		return
	}
	if req.PolicyFailure != "" {
		failure, reason = req.PolicyFailure, "policy unavailable"
	}
	r := tlsrpt.Result{Policy: *req.Report, Failure: failure, MXHost: strings.ToLower(t.mx), Reason: reason}
	if t.addr.IsValid() {
		r.ReceivingIP = t.addr.String()
	}
	if s != nil && s.src.Addr.IsValid() {
		r.SendingIP = s.src.Addr.String()
	}
	c.cfg.TLSReports.Record(r)
}

// splitExempt parts a group into the leases exempt from TLS policies
// (queue.Lease.TLSOptional) and the others, each in the group's order.
func splitExempt(group []*queue.Lease) (exempt, rest []*queue.Lease) {
	for _, l := range group {
		if l.TLSOptional {
			exempt = append(exempt, l)
		} else {
			rest = append(rest, l)
		}
	}
	return exempt, rest
}

// unsplit puts the results of exempt's leases, then the others', back in
// group's order.
func unsplit(group, exempt []*queue.Lease, res []queue.Result) []queue.Result {
	out := make([]queue.Result, len(group))
	e, r := 0, len(exempt)
	for i, l := range group {
		if l.TLSOptional {
			out[i], e = res[e], e+1
		} else {
			out[i], r = res[r], r+1
		}
	}
	return out
}
