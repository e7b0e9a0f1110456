package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"sendpool/internal/api"
)

// Suppressions calls GET /api/v1/accounts/{name}/suppressions: the
// account's active entries, newest first.
func (c *Client) Suppressions(ctx context.Context, account string) ([]api.Suppression, error) {
	return many[[]api.Suppression](ctx, c, http.MethodGet, suppressionsPath(account), nil)
}

// Suppress calls POST /api/v1/accounts/{name}/suppressions.
func (c *Client) Suppress(ctx context.Context, account string, req api.SuppressionRequest) (*api.Suppression, error) {
	return one[api.Suppression](ctx, c, http.MethodPost, suppressionsPath(account), req)
}

// Unsuppress calls DELETE /api/v1/accounts/{name}/suppressions/{address};
// a 404 (IsNotFound) when the account has no entry for address.
func (c *Client) Unsuppress(ctx context.Context, account, address string) error {
	return c.do(ctx, http.MethodDelete, suppressionsPath(account)+"/"+url.PathEscape(address), nil, nil)
}

func suppressionsPath(account string) string {
	return "/api/v1/accounts/" + url.PathEscape(account) + "/suppressions"
}
