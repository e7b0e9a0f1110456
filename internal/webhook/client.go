package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"sendpool/internal/addrpolicy"
)

// An endpoint URL is a customer's say-so about where this node connects,
// so it is held to the rule of delivery destinations (addrpolicy): at
// registration every address its host resolves to must be allowed, and at
// each request the host is resolved again (DNS can change) and only an
// allowed address is dialled: the dialer connects to the address it
// checked, never to a name, so a DNS answer that changes between check and
// connect (rebinding) cannot lead it to a private service. TLS still
// verifies the URL's host name (SNI and certificate). No proxy from the
// environment, no redirects, a capped read of the answer.

// Resolver looks a host's addresses up; dns.Resolver satisfies it.
type Resolver interface {
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// maxURL bounds an endpoint URL's length.
const maxURL = 2048

// snippetSize is how much of a receiver's answer is read, to quote in the
// log: the answer is not used otherwise.
const snippetSize = 512

// Client posts events to endpoints.
type Client struct {
	resolver Resolver
	policy   addrpolicy.Policy
	http     *http.Client
}

// NewClient returns a client that resolves hosts with r and connects only
// where policy allows.
func NewClient(r Resolver, policy addrpolicy.Policy) *Client {
	c := &Client{resolver: r, policy: policy}
	d := &net.Dialer{Timeout: 10 * time.Second, Control: c.control}
	tr := &http.Transport{
		Proxy: nil, // never HTTP(S)_PROXY: the request must go where it was checked to go
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dial(ctx, d, network, addr)
		},
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c.http = &http.Client{
		Transport: tr,
		// A redirect is not followed: it could point anywhere, and the
		// 3xx counts as a failure the endpoint's owner sees in the reason.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// CheckURL parses an endpoint URL and resolves its host: an http or https
// URL with a host, no credentials, every address allowed. The error says
// what is wrong, for the API's 400.
func (c *Client) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	if len(raw) > maxURL {
		return nil, fmt.Errorf("url longer than %d bytes", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %v", err)
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return nil, errors.New("url: the scheme must be http or https")
	}
	if u.User != nil {
		return nil, errors.New("url: credentials in the URL are not allowed (the signature authenticates)")
	}
	if u.Hostname() == "" {
		return nil, errors.New("url: no host")
	}
	addrs, err := c.resolve(ctx, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("url: %v", err)
	}
	for _, a := range addrs {
		if !c.policy.Allows(a) {
			return nil, fmt.Errorf("url: %s resolves to %s, a private, loopback or link-local address outside delivery.allowed_networks", u.Hostname(), a)
		}
	}
	return u, nil
}

// resolve returns host's addresses: itself if it is one.
func (c *Client) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if c.resolver == nil {
		return nil, errors.New("no resolver")
	}
	addrs, err := c.resolver.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return addrs, nil
}

// dial resolves addr's host, keeps the allowed addresses and connects to
// the first that answers.
func (c *Client) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := c.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		if !c.policy.Allows(a) {
			errs = append(errs, fmt.Errorf("%s: address not allowed", a))
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// control checks, at the socket, the address actually connected to: the
// last word, whatever dial was handed.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %v", address, err)
	}
	if !c.policy.Allows(ap.Addr()) {
		return fmt.Errorf("webhook: dial %s: address not allowed", address)
	}
	return nil
}

// Response is what an endpoint answered.
type Response struct {
	Status  int
	Snippet string // the start of the body, for the log
}

// Post sends body to u with the given headers. An error means no answer
// (the connection, the timeout); any answer, 2xx or not, is a Response.
func (c *Client) Post(ctx context.Context, u string, header http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sendpool-webhook/1")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, snippetSize))
	return &Response{Status: resp.StatusCode, Snippet: strings.ToValidUTF8(string(b), "?")}, nil
}
