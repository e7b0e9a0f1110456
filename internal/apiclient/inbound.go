package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"sendpool/internal/api"
	"sendpool/internal/inbound"
)

// InboundDecisions calls GET /api/v1/inbound/decisions?limit=N (0: all
// kept): the MX's recent decisions, newest first.
func (c *Client) InboundDecisions(ctx context.Context, limit int) ([]inbound.Decision, error) {
	path := "/api/v1/inbound/decisions"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return many[[]inbound.Decision](ctx, c, http.MethodGet, path, nil)
}

// InboundBans calls GET /api/v1/inbound/bans: the bans in force.
func (c *Client) InboundBans(ctx context.Context) ([]inbound.Ban, error) {
	return many[[]inbound.Ban](ctx, c, http.MethodGet, "/api/v1/inbound/bans", nil)
}

// Unban calls DELETE /api/v1/inbound/bans/{ip}; a 404 (IsNotFound) when
// ip has no ban.
func (c *Client) Unban(ctx context.Context, ip string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/inbound/bans/"+url.PathEscape(ip), nil, nil)
}

// Recipients calls GET /api/v1/accounts/{name}/recipients.
func (c *Client) Recipients(ctx context.Context, account string) ([]api.RecipientEntry, error) {
	return many[[]api.RecipientEntry](ctx, c, http.MethodGet, recipientsPath(account), nil)
}

// AddRecipient calls POST /api/v1/accounts/{name}/recipients.
func (c *Client) AddRecipient(ctx context.Context, account, address string) error {
	return c.do(ctx, http.MethodPost, recipientsPath(account), api.RecipientEntry{Address: address}, nil)
}

// RemoveRecipient calls DELETE /api/v1/accounts/{name}/recipients/{address}.
func (c *Client) RemoveRecipient(ctx context.Context, account, address string) error {
	return c.do(ctx, http.MethodDelete, recipientsPath(account)+"/"+url.PathEscape(address), nil, nil)
}

func recipientsPath(account string) string {
	return "/api/v1/accounts/" + url.PathEscape(account) + "/recipients"
}
