package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"sendpool/internal/api"
	"sendpool/internal/dnsrec"
)

// AddDomain calls POST /api/v1/domains: the domain gets its DKIM keys, and
// the answer lists the records to publish.
func (c *Client) AddDomain(ctx context.Context, domain, account string) (*api.DomainInfo, error) {
	return one[api.DomainInfo](ctx, c, http.MethodPost, "/api/v1/domains", api.DomainRequest{Domain: domain, Account: account})
}

// Domains calls GET /api/v1/domains, of one account if account is not "".
func (c *Client) Domains(ctx context.Context, account string) ([]api.DomainInfo, error) {
	path := "/api/v1/domains"
	if account != "" {
		path += "?account=" + url.QueryEscape(account)
	}
	return many[[]api.DomainInfo](ctx, c, http.MethodGet, path, nil)
}

// Domain calls GET /api/v1/domains/{domain}.
func (c *Client) Domain(ctx context.Context, domain string) (*api.DomainInfo, error) {
	return one[api.DomainInfo](ctx, c, http.MethodGet, "/api/v1/domains/"+url.PathEscape(domain), nil)
}

// DeleteDomain calls DELETE /api/v1/domains/{domain}.
func (c *Client) DeleteDomain(ctx context.Context, domain string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/domains/"+url.PathEscape(domain), nil, nil)
}

// RotateDKIM calls POST /api/v1/domains/{domain}/rotate-dkim.
func (c *Client) RotateDKIM(ctx context.Context, domain string) (*api.DomainInfo, error) {
	return one[api.DomainInfo](ctx, c, http.MethodPost, "/api/v1/domains/"+url.PathEscape(domain)+"/rotate-dkim", nil)
}

// CheckDomain calls GET /api/v1/domains/{domain}/check.
func (c *Client) CheckDomain(ctx context.Context, domain string) (*dnsrec.Report, error) {
	return one[dnsrec.Report](ctx, c, http.MethodGet, "/api/v1/domains/"+url.PathEscape(domain)+"/check", nil)
}
