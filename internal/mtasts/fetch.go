package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The TLS-RPT result types of a policy that could not be had (RFC 8460
// §4.3.2.2).
const (
	ResultFetchError    = "sts-policy-fetch-error"
	ResultWebPKIInvalid = "sts-webpki-invalid"
	ResultPolicyInvalid = "sts-policy-invalid"
)

// FetchError is a policy that could not be fetched or parsed.
type FetchError struct {
	// Result is the TLS-RPT result type it counts as.
	Result string
	Err    error
}

func (e *FetchError) Error() string { return "mtasts: " + e.Result + ": " + e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// Fetcher gets policies over HTTPS (RFC 8461 §3.3).
type Fetcher struct {
	// Client makes the requests. Its transport decides where a name goes
	// and which roots a certificate must chain to (PKIX, §3.3); Fetch
	// follows no redirect whatever its CheckRedirect says.
	Client *http.Client
	// Port of the policy host: 443 (config.OutboundTLS.MTASTSPort).
	Port int
	// MaxSize is the largest policy accepted (64 KB,
	// config.MTASTSMaxPolicySize).
	MaxSize int64
	// Timeout bounds one fetch (config.MTASTSFetchTimeout).
	Timeout time.Duration
}

// Fetch gets and parses domain's policy from
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt. Every failure is a
// *FetchError: the request failing or answered otherwise than 200 with
// text/plain (a redirect included: §3.3 forbids following it) is
// sts-policy-fetch-error, a certificate that does not verify
// sts-webpki-invalid, a body over MaxSize or that does not parse
// sts-policy-invalid.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	host := "mta-sts." + domain
	if f.Port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(f.Port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, &FetchError{ResultFetchError, err}
	}
	// One request per policy and max_age: no connection worth keeping.
	req.Close = true
	c := *f.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		if webPKI(err) {
			return nil, &FetchError{ResultWebPKIInvalid, err}
		}
		return nil, &FetchError{ResultFetchError, err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &FetchError{ResultFetchError, fmt.Errorf("redirected (%s to %s): RFC 8461 §3.3 forbids following it",
			resp.Status, resp.Header.Get("Location"))}
	case resp.StatusCode != http.StatusOK:
		return nil, &FetchError{ResultFetchError, fmt.Errorf("answered %s", resp.Status)}
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, &FetchError{ResultFetchError, fmt.Errorf("served as %q, not text/plain (§3.2)", resp.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.MaxSize+1))
	if err != nil {
		return nil, &FetchError{ResultFetchError, err}
	}
	if int64(len(body)) > f.MaxSize {
		return nil, &FetchError{ResultPolicyInvalid, fmt.Errorf("policy larger than %d bytes", f.MaxSize)}
	}
	p, err := ParsePolicy(string(body))
	if err != nil {
		return nil, &FetchError{ResultPolicyInvalid, err}
	}
	return p, nil
}

// webPKI reports whether err is the policy host's certificate failing
// PKIX validation (§3.3).
func webPKI(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify)
}
